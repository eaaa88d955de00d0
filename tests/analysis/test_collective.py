import numpy as np
import pytest

from lpsens.analysis.collective import (
    CollectiveConductivity,
    CollectiveMSD,
    haven_ratio,
    pooled_blocks,
    summed_displacement_A,
)
from lpsens.analysis.msd import MSD, Diffusion
from lpsens.analysis.reader import TrajectoryReader
from lpsens.analysis.synthetic import (
    correlated_pairs_positions,
    random_walk_positions,
    write_trajectory,
)
from lpsens.errors import AnalysisError, InsufficientDataError

CELL = np.diag([15.0, 16.0, 17.0])
FIT = {"fit_start_ps": 0.2, "fit_end_fraction": 0.1, "min_fit_points": 5}


def _haven(path, n_blocks=20):
    with TrajectoryReader(path) as rd:
        dt = Diffusion(**FIT).compute(MSD(n_blocks).compute(rd))
        cc = CollectiveConductivity(rd.volume_A3, 600.0, **FIT).compute(CollectiveMSD(n_blocks).compute(rd))
    return haven_ratio(dt.D_blocks_A2_ps, cc.D_sigma_blocks_cm2_s * 1e4), cc


def test_correlated_pairs_give_haven_ratio_one_half(tmp_path):
    pos, num = correlated_pairs_positions(16, 20000, D_A2_ps=0.5, dt_ps=0.1, cell=CELL, n_framework=8, seed=1)
    path = write_trajectory(tmp_path / "t.h5", pos, CELL, num, sampling_interval_fs=100.0)
    (H, H_err), cc = _haven(path)
    assert H == pytest.approx(0.5, rel=0.15)
    assert 0 < H_err < 0.1
    assert cc.sigma_S_cm > 0 and cc.sigma_err_S_cm > 0


def test_independent_walkers_give_haven_ratio_one(tmp_path):
    pos, num = random_walk_positions(32, 20000, D_A2_ps=0.5, dt_ps=0.1, cell=CELL, n_framework=8, seed=2)
    path = write_trajectory(tmp_path / "t.h5", pos, CELL, num, sampling_interval_fs=100.0)
    (H, H_err), _ = _haven(path)
    assert H == pytest.approx(1.0, rel=0.15)
    assert abs(H - 1.0) < 4 * H_err


def test_collective_msd_matches_direct_sum_and_removes_drift(tmp_path):
    pos, num = random_walk_positions(5, 400, D_A2_ps=0.3, dt_ps=0.1, cell=CELL, n_framework=6,
                                     drift_A_ps=(0.5, 0.0, -0.2), seed=3)
    path = write_trajectory(tmp_path / "t.h5", pos, CELL, num, sampling_interval_fs=100.0)
    with TrajectoryReader(path) as rd:
        X = summed_displacement_A(rd, memory_limit_MB=0.001)  # many frame chunks
        c = CollectiveMSD(n_blocks=2).compute(rd)
    from ase.data import atomic_masses
    fw = num != 3
    com = (pos[:, fw] * atomic_masses[num[fw]][None, :, None]).sum(1) / atomic_masses[num[fw]].sum()
    direct_X = (pos[:, ~fw] - com[:, None]).sum(1)
    np.testing.assert_allclose(X, direct_X, atol=1e-8)
    blk = direct_X[:200]
    direct = [np.mean(np.sum((blk[m:] - blk[:200 - m]) ** 2, axis=1)) / 5 for m in range(200)]
    np.testing.assert_allclose(c.block_msd_A2[0], direct, rtol=1e-8, atol=1e-8)


def test_haven_ratio_error_and_validation():
    rng = np.random.default_rng(0)
    a = 1.0 + 0.1 * rng.standard_normal(40)
    b = 2.0 + 0.5 * rng.standard_normal(40)
    H, err = haven_ratio(a, b)
    assert H == pytest.approx(a.mean() / b.mean())
    assert 0 < err < 0.1
    assert np.isnan(haven_ratio(a[:4], -np.ones(4))[0])
    with pytest.raises(AnalysisError):
        haven_ratio(a, b[:5])
    with pytest.raises(InsufficientDataError):
        pooled_blocks([1.0, 2.0, 3.0])
    with pytest.raises(AnalysisError):
        CollectiveMSD(n_blocks=0)
    with pytest.raises(AnalysisError):
        CollectiveConductivity(-1.0, 300.0)
    assert "CollectiveMSD(n_blocks=8" in repr(CollectiveMSD())
