"""Tracer Nernst-Einstein conductivity: sigma = n z^2 e^2 D / (k_B T H_R)."""

from __future__ import annotations

import math

from scipy.constants import Boltzmann, elementary_charge

from lpsens.analysis._params import parameter_repr
from lpsens.errors import AnalysisError

__all__ = ["nernst_einstein_S_cm", "NernstEinstein"]


def nernst_einstein_S_cm(D_cm2_s: float, n_ions: int, volume_A3: float, temperature_K: float, *,
                         charge_number: int = 1, haven_ratio: float = 1.0) -> float:
    """Ionic conductivity in S/cm from a tracer diffusion coefficient.

    Parameters
    ----------
    D_cm2_s
        Tracer diffusion coefficient, cm^2/s.
    n_ions
        Number of mobile ions in the cell.
    volume_A3
        Cell volume, Angstrom^3 (n = n_ions / volume).
    temperature_K
        Temperature, K.
    charge_number
        z (Li+: 1).
    haven_ratio
        H_R = D_tracer / D_sigma (1: uncorrelated ions, as in Staacke et al. 2022).

    Raises
    ------
    AnalysisError
        For a temperature, volume or Haven ratio that is not > 0.
    """
    if not temperature_K > 0:
        raise AnalysisError(f"temperature_K must be > 0, got {temperature_K!r}", key="temperature_K")
    if not volume_A3 > 0:
        raise AnalysisError(f"volume_A3 must be > 0, got {volume_A3!r}", key="volume_A3")
    if not haven_ratio > 0:
        raise AnalysisError(f"haven_ratio must be > 0, got {haven_ratio!r}", key="haven_ratio")
    n_per_m3 = n_ions / (volume_A3 * 1e-30)
    D_m2_s = D_cm2_s * 1e-4
    sigma_S_m = n_per_m3 * charge_number**2 * elementary_charge**2 * D_m2_s / (Boltzmann * temperature_K * haven_ratio)
    return sigma_S_m / 100.0


class NernstEinstein:
    """Conductivity and its uncertainty from D and D_err (the error scales linearly with D).

    Parameters
    ----------
    n_ions, volume_A3, temperature_K, charge_number, haven_ratio
        See :func:`nernst_einstein_S_cm`.
    """

    def __init__(self, n_ions: int, volume_A3: float, temperature_K: float, *, charge_number: int = 1,
                 haven_ratio: float = 1.0):
        self.n_ions = int(n_ions)
        self.volume_A3 = float(volume_A3)
        self.temperature_K = float(temperature_K)
        self.charge_number = int(charge_number)
        self.haven_ratio = float(haven_ratio)
        self._factor = nernst_einstein_S_cm(1.0, self.n_ions, self.volume_A3, self.temperature_K,
                                            charge_number=self.charge_number, haven_ratio=self.haven_ratio)
        self._sigma = None

    def __repr__(self) -> str:
        return parameter_repr(self, computed=self._sigma is not None)

    def compute(self, D_cm2_s: float, D_err_cm2_s: float) -> NernstEinstein:
        """sigma and its error from D and its error (cm^2/s); returns ``self``.

        Raises
        ------
        AnalysisError
            For a D or its error that is not finite.
        """
        if not (math.isfinite(D_cm2_s) and math.isfinite(D_err_cm2_s)):
            raise AnalysisError(f"D = {D_cm2_s!r} +- {D_err_cm2_s!r} is not finite", key="D_cm2_s")
        self._sigma = (self._factor * D_cm2_s, self._factor * D_err_cm2_s)
        return self

    @property
    def number_density_per_cm3(self) -> float:
        return self.n_ions / (self.volume_A3 * 1e-24)

    def _computed(self) -> tuple[float, float]:
        if self._sigma is None:
            raise AnalysisError("NernstEinstein.compute() has not been called")
        return self._sigma

    @property
    def sigma_S_cm(self) -> float:
        """Conductivity, S/cm.

        Raises
        ------
        AnalysisError
            Before :meth:`compute`.
        """
        return self._computed()[0]

    @property
    def sigma_err_S_cm(self) -> float:
        """Standard error of :attr:`sigma_S_cm`, S/cm.

        Raises
        ------
        AnalysisError
            Before :meth:`compute`.
        """
        return self._computed()[1]
