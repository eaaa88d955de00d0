import numpy as np
import pytest

from lpsens.analysis import ArrheniusFit
from lpsens.analysis.arrhenius import K_B_EV
from lpsens.errors import InsufficientDataError


def _series(Ea=0.25, T=(400, 500, 600, 700, 800), rel_err=0.05, seed=0):
    rng = np.random.default_rng(seed)
    T = np.array(T, float)
    sigma = 2e3 / T * np.exp(-Ea / (K_B_EV * T))
    noisy = sigma * np.exp(rel_err * rng.standard_normal(T.size))
    return T, noisy, rel_err * noisy


def test_activation_energy_recovered():
    T, s, e = _series()
    fit = ArrheniusFit().compute(T, s, e)
    assert fit.activation_energy_eV == pytest.approx(0.25, abs=0.01)
    assert 0 < fit.activation_energy_err_eV < 0.02


def test_exact_series_and_extrapolation():
    T, s, _ = _series(rel_err=0.0)
    fit = ArrheniusFit().compute(T, s, 0.01 * s)
    assert fit.activation_energy_eV == pytest.approx(0.25, abs=1e-9)
    s300, lo, hi = fit.sigma_at(300.0)
    assert s300 == pytest.approx(2e3 / 300 * np.exp(-0.25 / (K_B_EV * 300)), rel=1e-9)
    assert lo < s300 < hi


def test_ci_is_calibrated():
    """The 95 % interval of sigma(300 K) covers the truth in roughly 95 % of noisy series."""
    truth = 2e3 / 300 * np.exp(-0.3 / (K_B_EV * 300))
    hits = 0
    for seed in range(200):
        T, s, e = _series(Ea=0.3, seed=seed, rel_err=0.1)
        _, lo, hi = ArrheniusFit().compute(T, s, np.full_like(s, 0.1) * 2e3 / T * np.exp(-0.3 / (K_B_EV * T))).sigma_at(
            300.0)
        hits += lo <= truth <= hi
    assert 0.88 <= hits / 200 <= 0.995


def test_nonpositive_points_excluded_and_reported():
    T, s, e = _series()
    s[0] = -1e-6
    fit = ArrheniusFit().compute(T, s, e)
    assert fit.excluded_temperatures_K == [400.0]
    assert fit.n_points == 4


def test_one_temperature_raises():
    with pytest.raises(InsufficientDataError):
        ArrheniusFit().compute([600, 600], [1e-2, 1.1e-2], [1e-3, 1e-3])
