import numpy as np
import pytest
from lpsens.analysis.synthetic import write_random_walk as walker_file

from lpsens.analysis import MSD, AnalysisSettings, Diffusion, TrajectoryReader, analyze_trajectory, fft_msd_sum
from lpsens.errors import AnalysisError, InsufficientDataError


def test_fft_msd_equals_direct_sum():
    x = np.random.default_rng(3).standard_normal((64, 5, 3)).cumsum(axis=0) + 100.0
    direct = [np.sum((x[m:] - x[: len(x) - m]) ** 2, axis=-1).mean(axis=0).sum() for m in range(64)]
    np.testing.assert_allclose(fft_msd_sum(x), direct, rtol=1e-10, atol=1e-9)


def test_random_walk_D_recovered(walkers):
    r = analyze_trajectory(walkers)
    assert r["D_cm2_s"] == pytest.approx(0.5e-4, rel=0.05)
    assert 0 < r["D_err_cm2_s"] < 0.05 * r["D_cm2_s"]
    assert r["msd_loglog_slope"] == pytest.approx(1.0, abs=0.1)


def test_uniform_drift_is_removed(tmp_path):
    path = walker_file(tmp_path / "t.h5", drift_A_ps=(0.4, -0.3, 0.2))
    r = analyze_trajectory(path)
    # without correction a drift of 0.54 A/ps adds v^2 t^2 to the MSD: D would be far off
    assert r["D_cm2_s"] == pytest.approx(0.5e-4, rel=0.05)


def test_drift_correction_matters(tmp_path):
    path = walker_file(tmp_path / "t.h5", drift_A_ps=(0.4, -0.3, 0.2))
    with TrajectoryReader(path) as rd:
        raw = Diffusion().compute(MSD(framework=()).compute(rd))
    assert raw.D_A2_ps > 1.5 * 0.5


def test_small_memory_limit_gives_same_msd(tmp_path):
    path = walker_file(tmp_path / "t.h5", n_frames=2000, chunk_frames=128)
    with TrajectoryReader(path) as rd:
        a = MSD(n_blocks=4, memory_limit_MB=256).compute(rd)
        b = MSD(n_blocks=4, memory_limit_MB=1.0).compute(rd)  # forces many atom slabs
        assert len(rd.atom_slabs(500, 1.0 * 2**20 / 6)) > 1
    np.testing.assert_allclose(a.block_msd_A2, b.block_msd_A2, rtol=1e-10, atol=1e-10)


def test_uncertainty_is_calibrated(tmp_path):
    """Over many synthetic replicas the z-scores (D - D_true) / D_err have an rms near 1."""
    D_true = 0.3
    settings = AnalysisSettings(fit_start_ps=1.0, n_blocks=8, min_fit_points=5)
    z = []
    for seed in range(60):
        path = walker_file(tmp_path / f"r{seed}.h5", D_A2_ps=D_true, n_walkers=6, n_frames=1600, dt_ps=0.1,
                           n_framework=4, seed=seed)
        with TrajectoryReader(path) as rd:
            d = Diffusion(settings.fit_start_ps, settings.fit_end_fraction, settings.min_fit_points).compute(
                MSD(settings.n_blocks).compute(rd))
        z.append((d.D_A2_ps - D_true) / d.D_err_A2_ps)
        path.unlink()
    rms = float(np.sqrt(np.mean(np.square(z))))
    assert 0.75 < rms < 1.3, rms
    assert abs(np.mean(z)) < 0.5


def test_too_short_run_raises(tmp_path):
    path = walker_file(tmp_path / "t.h5", n_frames=200)  # 20 ps in 8 blocks of 2.5 ps
    with pytest.raises(InsufficientDataError, match="too short"):
        analyze_trajectory(path)


def test_no_li_raises(tmp_path):
    path = walker_file(tmp_path / "t.h5", n_walkers=0, n_frames=50)
    with TrajectoryReader(path) as rd, pytest.raises(InsufficientDataError, match="atomic number 3"):
        MSD().compute(rd)


def test_results_before_compute_raise():
    with pytest.raises(AnalysisError):
        MSD().msd_A2
    with pytest.raises(AnalysisError):
        Diffusion().D_cm2_s
