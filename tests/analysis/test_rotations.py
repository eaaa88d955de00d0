import numpy as np
import pytest

from lpsens.analysis.reader import TrajectoryReader
from lpsens.analysis.rotations import AnionRotations, orientational_c1, tau_from_c1
from lpsens.analysis.synthetic import tetrahedra_positions, write_trajectory
from lpsens.errors import AnalysisError, InsufficientDataError

CELL = np.diag([20.0, 20.0, 20.0])


def _rot(tmp_path, **kw):
    pos, num, flips = tetrahedra_positions(cell=CELL, dt_ps=0.1, **kw)
    path = write_trajectory(tmp_path / "t.h5", pos, CELL, num, sampling_interval_fs=100.0)
    with TrajectoryReader(path) as rd:
        return AnionRotations().compute(rd), flips


def test_c1_fft_equals_direct_average():
    u = np.random.default_rng(0).standard_normal((50, 3, 3))
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    direct = [np.mean(np.sum(u[m:] * u[:50 - m], axis=-1)) for m in range(50)]
    np.testing.assert_allclose(orientational_c1(u), direct, atol=1e-12)


def test_tau_of_exact_exponential():
    t = np.arange(400) * 0.05
    tau, ok = tau_from_c1(np.exp(-t / 2.0), 0.05)
    assert ok and tau == pytest.approx(2.0, rel=0.01)
    tau, ok = tau_from_c1(np.exp(-t / 50.0), 0.05)  # does not fall below 0.1: extrapolated tail
    assert not ok and tau == pytest.approx(50.0, rel=0.02)


def test_rotational_diffusion_tau1(tmp_path):
    """C1 = exp(-2 D_r t): tau1 = 1 / (2 D_r) = 2 ps."""
    r, _ = _rot(tmp_path, n_tetrahedra=16, n_frames=3200, rotational_D_per_ps=0.25, noise_A=0.03, seed=4)
    assert r.kinds == ["PS4"]
    assert r.tau1_ps() == pytest.approx(2.0, rel=0.10)
    assert 0 < r.tau1_err_ps() < 0.2
    assert r.tau1_converged()


def test_poisson_flips_rate(tmp_path):
    """180-degree flips at 0.1/ps: the large-reorientation rate per PS4 and tau1 = 3/(4k)."""
    r, flips = _rot(tmp_path, n_tetrahedra=32, n_frames=4000, flip_rate_per_ps=0.1, noise_A=0.05, seed=5)
    assert r.reorientations_per_ps() == pytest.approx(0.1, rel=0.10)
    assert r.reorientations_per_ps() == pytest.approx(flips / (32 * 400.0), rel=0.06)
    assert r.tau1_ps() == pytest.approx(7.5, rel=0.15)


def test_rigid_vibrating_tetrahedra_have_no_jumps(tmp_path):
    r, _ = _rot(tmp_path, n_tetrahedra=8, n_frames=800, noise_A=0.08, seed=6)
    assert r.reorientations_per_ps() == 0.0
    assert np.isnan(r.tau1_ps("P2S7"))


def test_validation(tmp_path):
    with pytest.raises(AnalysisError):
        AnionRotations(n_blocks=3)
    with pytest.raises(AnalysisError):
        AnionRotations(jump_angle_deg=200)
    with pytest.raises(InsufficientDataError):
        _rot(tmp_path, n_tetrahedra=2, n_frames=40)
