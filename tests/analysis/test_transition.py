import numpy as np
import pytest

from lpsens.analysis.arrhenius import K_B_EV
from lpsens.analysis.transition import BrokenArrhenius, RDFPeakTransition, peak_prominence
from lpsens.errors import InsufficientDataError

T = np.arange(400.0, 1001.0, 50.0)


def _series(seed, kink=True, rel=0.05):
    rng = np.random.default_rng(seed)
    x, xb = 1 / T, 1 / 700.0
    y = 5 - 0.2 / K_B_EV * (x - xb) - (0.2 if kink else 0.0) / K_B_EV * np.maximum(x - xb, 0)
    sigma = np.exp(y) / T * np.exp(rel * rng.standard_normal(T.size))
    return sigma, rel * sigma


def test_kink_found_at_known_temperature():
    r = BrokenArrhenius(n_null=100).compute(T, *_series(1)).result
    assert r["break_found"] and r["p_value"] < 0.05
    assert r["break_T_K"] == pytest.approx(700.0, abs=25.0)
    assert r["break_T_low_K"] <= 700.0 <= r["break_T_high_K"]
    assert r["Ea_low_T_eV"] == pytest.approx(0.4, abs=0.06)
    assert r["Ea_high_T_eV"] == pytest.approx(0.2, abs=0.06)


def test_no_break_in_straight_series():
    r = BrokenArrhenius(n_null=100).compute(T, *_series(2, kink=False)).result
    assert not r["break_found"]
    assert r["Ea_single_eV"] == pytest.approx(0.2, abs=0.03)


def test_too_few_temperatures():
    with pytest.raises(InsufficientDataError):
        BrokenArrhenius().compute(T[:5], *[a[:5] for a in _series(0)])


def test_rdf_peak_vanishes_at_known_temperature():
    rng = np.random.default_rng(3)
    r_A = np.linspace(2.0, 7.0, 200)
    heights = []
    for t in T:
        amp = 0.8 * max(650.0 - t, 0.0) / 250.0
        g = 1 + 0.3 * np.sin(r_A) * 0 + amp * np.exp(-((r_A - 4.3) ** 2) / (2 * 0.15**2))
        heights.append(peak_prominence(r_A, g + 0.01 * rng.standard_normal(r_A.size)))
    res = RDFPeakTransition().compute(T, heights, np.full(T.size, 0.02)).result
    assert res["decreasing"]
    assert res["vanish_T_K"] == pytest.approx(650.0, abs=25.0)
    assert res["vanish_T_low_K"] <= 650.0 <= res["vanish_T_high_K"]
