import pytest
from scipy.constants import Boltzmann, elementary_charge

from lpsens.analysis import NernstEinstein, nernst_einstein_S_cm
from lpsens.errors import AnalysisError


def test_nernst_einstein_by_hand():
    # n = 100 / 1000 A^3 = 1e29 m^-3, D = 1e-5 cm^2/s = 1e-9 m^2/s, T = 500 K
    expected_S_m = 1e29 * elementary_charge**2 * 1e-9 / (Boltzmann * 500.0)
    assert nernst_einstein_S_cm(1e-5, 100, 1000.0, 500.0) == pytest.approx(expected_S_m / 100, rel=1e-12)


def test_haven_ratio_and_charge_scale():
    base = nernst_einstein_S_cm(1e-5, 10, 1000.0, 500.0)
    assert nernst_einstein_S_cm(1e-5, 10, 1000.0, 500.0, haven_ratio=0.5) == pytest.approx(2 * base)
    assert nernst_einstein_S_cm(1e-5, 10, 1000.0, 500.0, charge_number=2) == pytest.approx(4 * base)


def test_error_propagates_linearly():
    ne = NernstEinstein(10, 1000.0, 500.0).compute(2e-5, 1e-6)
    assert ne.sigma_err_S_cm / ne.sigma_S_cm == pytest.approx(0.05)


@pytest.mark.parametrize("kw", [{"temperature_K": 0.0}, {"volume_A3": -1.0}])
def test_bad_input(kw):
    args = {"D_cm2_s": 1e-5, "n_ions": 1, "volume_A3": 100.0, "temperature_K": 300.0, **kw}
    with pytest.raises(AnalysisError):
        nernst_einstein_S_cm(**args)
