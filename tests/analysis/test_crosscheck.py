"""Cross-check of D against kinisi (an independent implementation; extra ``crosscheck``)."""

import pytest

from lpsens.analysis import MSD, Diffusion, TrajectoryReader
from lpsens.analysis.synthetic import write_random_walk

pytest.importorskip("kinisi")


def test_D_agrees_with_kinisi(tmp_path):
    from lpsens.analysis.crosscheck import kinisi_diffusion

    path = write_random_walk(tmp_path / "t.h5", D_A2_ps=0.3, n_walkers=32, n_frames=2000, dt_ps=0.1,
                             drift_A_ps=(0.2, 0.1, -0.1), n_framework=16)
    with TrajectoryReader(path) as rd:
        ours = Diffusion(fit_start_ps=2.0).compute(MSD(n_blocks=4).compute(rd))
        D_k, D_k_err = kinisi_diffusion(rd, start_dt_ps=2.0)
    assert ours.D_cm2_s == pytest.approx(D_k, rel=0.05)
