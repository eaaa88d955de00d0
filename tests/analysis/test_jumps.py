import numpy as np
import pytest

from lpsens.analysis.jumps import AnchoredJumps, LiJumps, Paddlewheel
from lpsens.analysis.reader import TrajectoryReader
from lpsens.analysis.rotations import AnionRotations
from lpsens.analysis.synthetic import lattice_gas_positions, tetrahedra_positions, write_trajectory
from lpsens.errors import AnalysisError

CELL = np.diag([20.0, 20.0, 20.0])


def test_lattice_gas_hop_rate(tmp_path):
    pos, num, hops = lattice_gas_positions(32, 4000, hop_rate_per_ps=0.2, dt_ps=0.1, cell=CELL, noise_A=0.15, seed=7)
    path = write_trajectory(tmp_path / "t.h5", pos, CELL, num, sampling_interval_fs=100.0)
    with TrajectoryReader(path) as rd:
        j = LiJumps().compute(rd)
    assert j.jumps_per_ps_per_ion == pytest.approx(0.2, rel=0.10)
    assert j.jumps_per_ps_per_ion == pytest.approx(hops / (32 * 400.0), rel=0.08)
    assert j.residence_time_ps == pytest.approx(5.0, rel=0.2)
    assert 0 < j.jumps_per_ps_per_ion_err < 0.05 * j.jumps_per_ps_per_ion


def test_detector_streaming_equals_one_chunk_and_ignores_rattling():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.random((3000, 6, 1)) < 0.01, axis=0) * np.array([2.0, 0, 0]) + 0.2 * rng.standard_normal(
        (3000, 6, 3))
    a = AnchoredJumps(1.0, smooth_frames=5)
    a.feed(x)
    b = AnchoredJumps(1.0, smooth_frames=5)
    for s in range(0, 3000, 77):
        b.feed(x[s:s + 77])
    for u, v in zip(a.events(), b.events(), strict=True):
        np.testing.assert_allclose(u, v)
    quiet = AnchoredJumps(1.0, smooth_frames=5)
    quiet.feed(0.2 * rng.standard_normal((3000, 6, 3)))
    assert quiet.events()[0].size == 0
    with pytest.raises(AnalysisError):
        AnchoredJumps(100.0, metric="angle", smooth_frames=0)


def _paddle(tmp_path, extra):
    pos, num, _ = tetrahedra_positions(27, 4000, dt_ps=0.1, cell=CELL, flip_rate_per_ps=0.05, noise_A=0.05, n_li=32,
                                       li_hop_rate_per_ps=0.2, extra_flips=extra, seed=8)
    path = write_trajectory(tmp_path / "t.h5", pos, CELL, num, sampling_interval_fs=100.0)
    with TrajectoryReader(path) as rd:
        j = LiJumps().compute(rd)
        r = AnionRotations().compute(rd)
    return Paddlewheel().compute(j, r), j, r


def test_paddlewheel_uncoupled_is_one(tmp_path):
    p, _, _ = _paddle(tmp_path, ())
    assert p.enrichment == pytest.approx(1.0, abs=max(3 * p.enrichment_err, 0.05))
    assert p.observed > 50


def test_paddlewheel_coupled_is_enriched(tmp_path):
    # flip the tetrahedron nearest to each jumping Li at the jump: a perfect paddle-wheel
    _, j, r = _paddle(tmp_path, ())
    centres = r.centre_at([0.0])[0]
    from lpsens.analysis.jumps import minimum_image_A
    d = np.linalg.norm(minimum_image_A(centres[None] - j.event_position_A[:, None], CELL), axis=-1)
    extra = [(int(round(t / 0.1)), int(k)) for t, k in zip(j.event_time_ps[::3], d.argmin(axis=1)[::3], strict=True)]
    p, _, _ = _paddle(tmp_path, extra)
    assert p.enrichment > 1.5
    assert p.enrichment - 1 > 5 * p.enrichment_err
