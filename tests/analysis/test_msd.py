import numpy as np
import pytest

from lpsens.analysis import (
    MSD,
    AnalysisSettings,
    Diffusion,
    TrajectoryReader,
    analyze_trajectory,
    fft_msd_sum,
)
from lpsens.analysis.msd import count_hops
from lpsens.analysis.pipeline import uncertainty_flags
from lpsens.analysis.synthetic import few_hoppers_positions, write_trajectory
from lpsens.analysis.synthetic import write_random_walk as walker_file
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
    np.testing.assert_array_equal(a.hops_per_atom, b.hops_per_atom)  # hop state carried across slabs and blocks


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
        _ = MSD().msd_A2
    with pytest.raises(AnalysisError):
        _ = Diffusion().D_cm2_s


# ---------------------------------------------------------------- few hopping ions (issue 12 item 2)
def test_count_hops_counts_moves_from_the_last_site():
    x = np.zeros((10, 2, 3))
    x[3:, 0, 0] = 2.6   # hop 1 of atom 0
    x[6:, 0, 0] = 5.2   # hop 2 (2.6 A from where it settled, 5.2 A from the start)
    x[:, 1, 0] = 0.3 * np.sin(np.arange(10))  # atom 1 only vibrates
    hops, ref = count_hops(x[:5], x[0], 2.5)
    more, _ = count_hops(x[5:], ref, 2.5)  # state carried into the next block
    assert (hops + more).tolist() == [2, 0]


def test_count_hops_matches_a_frame_by_frame_loop():
    x = np.cumsum(np.random.default_rng(3).standard_normal((700, 9, 3)) * 0.6, axis=0)

    def reference(x, r):  # the definition, one frame at a time
        ref, n = x[0].copy(), np.zeros(x.shape[1], int)
        for frame in x:
            for i in range(x.shape[1]):
                if np.sum((frame[i] - ref[i]) ** 2) > r * r:
                    n[i] += 1
                    ref[i] = frame[i]
        return n, ref

    hops, ref = count_hops(x, x[0], 2.5)
    want, want_ref = reference(x, 2.5)
    assert hops.sum() > 100
    np.testing.assert_array_equal(hops, want)
    np.testing.assert_array_equal(ref, want_ref)


def _few_hopper_z(tmp_path, seeds, **kw):
    z = []
    for seed in seeds:
        pos, num, D_true = few_hoppers_positions(seed=seed, **kw)
        path = write_trajectory(tmp_path / "lg.h5", pos, np.eye(3) * 24.0, num)
        with TrajectoryReader(path) as rd:
            d = Diffusion(fit_start_ps=2.0).compute(MSD(n_blocks=8, framework=()).compute(rd))
        z.append(((d.D_A2_ps - D_true) / d.D_err_A2_ps, (d.D_A2_ps - D_true) / d.D_err_blocks_A2_ps, d))
    return z


def test_error_bars_calibrated_with_few_hopping_ions(tmp_path):
    """2 of 16 Li hop, ~8 hops per run: the block error alone is overconfident; the combined error is not."""
    z = _few_hopper_z(tmp_path, range(30), n_li=16, n_mobile=2, n_frames=4000, dt_ps=0.1, hop_rate_per_ps=0.01)
    rms = float(np.sqrt(np.mean([v[0] ** 2 for v in z])))
    assert 0.6 < rms < 1.4, rms
    assert all(v[2].hop_statistics == "poor" for v in z if 0 < v[2].n_hops < 20)
    assert rms < float(np.sqrt(np.mean([v[1] ** 2 for v in z])))  # the counting error is what helps


def test_never_hopping_run_is_an_upper_limit_not_zero(tmp_path):
    pos, num, _ = few_hoppers_positions(16, 0, 2000, dt_ps=0.1, hop_rate_per_ps=0.0)
    path = write_trajectory(tmp_path / "frozen.h5", pos, np.eye(3) * 24.0, num)
    with TrajectoryReader(path) as rd:
        d = Diffusion(fit_start_ps=2.0).compute(MSD(n_blocks=8, framework=()).compute(rd))
    assert d.hop_statistics == "none" and d.n_hops == 0
    one_hop = 2.5**2 / (6 * 16 * 200.0)  # D of a single 2.5 A hop of one of 16 Li in 200 ps
    assert d.D_err_A2_ps >= 2.9 * one_hop > 10 * abs(d.D_A2_ps)
    assert uncertainty_flags(d.D_cm2_s, d.D_err_cm2_s, d.hop_statistics) == "error>value;no-hops"


@pytest.mark.slow
@pytest.mark.parametrize("n_mobile, rate", [(1, 0.02), (3, 0.005), (2, 0.01), (4, 0.2), (16, 0.5)])
def test_error_bars_calibrated_many_seeds(tmp_path, n_mobile, rate):
    z = _few_hopper_z(tmp_path, range(100), n_li=16, n_mobile=n_mobile, n_frames=4000, dt_ps=0.1,
                      hop_rate_per_ps=rate)
    rms = float(np.sqrt(np.mean([v[0] ** 2 for v in z])))
    assert 0.7 < rms < 1.25, rms
