"""Arrhenius fit of conductivities: ln(sigma T) = ln A - E_a / (k_B T), weighted by the errors."""

from __future__ import annotations

import math

import numpy as np
from scipy.constants import Boltzmann, electron_volt
from scipy.optimize import curve_fit
from scipy.stats import norm

from lpsens.analysis._params import parameter_repr
from lpsens.errors import AnalysisError, InsufficientDataError

__all__ = ["ArrheniusFit", "K_B_EV"]

K_B_EV = Boltzmann / electron_volt  # eV/K


def _line(x, a, b):
    return a + b * x


class ArrheniusFit:
    """Weighted straight-line fit of ``y = ln(sigma T / (S K/cm))`` against ``x = 1/T``.

    Weights are ``1 / s_y^2`` with ``s_y = sigma_err / sigma`` (error propagation of the log).
    The parameter covariance comes from those errors (``absolute_sigma=True``) and is inflated by
    the reduced chi^2 when that exceeds 1 (scatter larger than the stated errors) and there are
    degrees of freedom left. Points with ``sigma <= 0`` have no logarithm: they are excluded and
    listed in :attr:`excluded_temperatures_K`.

    Parameters
    ----------
    confidence
        Two-sided confidence level of :meth:`sigma_at` (normal quantile).

    Raises
    ------
    AnalysisError
        For invalid parameters (the key names the parameter).
    """

    def __init__(self, confidence: float = 0.95):
        if not 0 < confidence < 1:
            raise AnalysisError(f"confidence must be in (0, 1), got {confidence!r}", key="confidence")
        self.confidence = float(confidence)
        self._p = None

    def __repr__(self) -> str:
        return parameter_repr(self, computed=self._p is not None)

    def compute(self, temperature_K, sigma_S_cm, sigma_err_S_cm) -> ArrheniusFit:
        """Fit; returns self.

        Raises
        ------
        InsufficientDataError
            Fewer than two distinct temperatures with sigma > 0.
        AnalysisError
            Non-positive or non-finite errors, or non-positive temperatures.
        """
        T = np.asarray(temperature_K, float)
        s = np.asarray(sigma_S_cm, float)
        e = np.asarray(sigma_err_S_cm, float)
        if not (T.shape == s.shape == e.shape) or T.ndim != 1:
            raise AnalysisError("temperature_K, sigma_S_cm and sigma_err_S_cm must be 1-D and equally long")
        if np.any(~np.isfinite(T)) or np.any(T <= 0):
            raise AnalysisError(f"temperatures must be finite and > 0, got {T.tolist()}", key="temperature_K")
        ok = np.isfinite(s) & (s > 0)
        self._excluded = sorted(float(t) for t in T[~ok])
        T, s, e = T[ok], s[ok], e[ok]
        if np.unique(T).size < 2:
            raise InsufficientDataError(
                f"an Arrhenius fit needs >= 2 temperatures with sigma > 0, got {np.unique(T).tolist()}"
                + (f" (excluded sigma <= 0 at {self._excluded} K)" if self._excluded else ""), key="temperature_K")
        if np.any(~np.isfinite(e)) or np.any(e <= 0):
            raise AnalysisError(f"sigma errors must be finite and > 0, got {e.tolist()}", key="sigma_err_S_cm")
        x = 1.0 / T
        y = np.log(s * T)
        sy = e / s
        p, cov = curve_fit(_line, x, y, p0=(float(y.mean()), -5000.0), sigma=sy, absolute_sigma=True)
        dof = x.size - 2
        chi2 = float(np.sum(((y - _line(x, *p)) / sy) ** 2))
        self._chi2_red = chi2 / dof if dof > 0 else math.nan
        if dof > 0 and self._chi2_red > 1:
            cov = cov * self._chi2_red
        self._p, self._cov, self._n = p, cov, x.size
        return self

    def _check(self):
        if self._p is None:
            raise AnalysisError("ArrheniusFit.compute() has not been called")

    @property
    def activation_energy_eV(self) -> float:
        self._check()
        return float(-self._p[1] * K_B_EV)

    @property
    def activation_energy_err_eV(self) -> float:
        self._check()
        return float(math.sqrt(self._cov[1, 1]) * K_B_EV)

    @property
    def ln_prefactor(self) -> float:
        """ln(A / (S K/cm)), the intercept."""
        self._check()
        return float(self._p[0])

    @property
    def covariance(self) -> np.ndarray:
        """Covariance of (intercept, slope in K), shape (2, 2)."""
        self._check()
        return self._cov.copy()

    @property
    def reduced_chi2(self) -> float:
        """chi^2 per degree of freedom (NaN with 2 points)."""
        self._check()
        return self._chi2_red

    @property
    def n_points(self) -> int:
        self._check()
        return self._n

    @property
    def excluded_temperatures_K(self) -> list[float]:
        self._check()
        return list(self._excluded)

    def sigma_at(self, temperature_K: float) -> tuple[float, float, float]:
        """Extrapolated conductivity (S/cm) with its confidence interval, propagated through the covariance.

        Returns
        -------
        (sigma, low, high)
            ``exp(y +- z s_y) / T`` where ``s_y^2 = J C J^T`` and ``J = (1, 1/T)``.
        """
        self._check()
        jac = np.array([1.0, 1.0 / temperature_K])
        y = float(jac @ self._p)
        sd = float(math.sqrt(jac @ self._cov @ jac))
        z = float(norm.ppf(0.5 + self.confidence / 2))
        return (math.exp(y) / temperature_K, math.exp(y - z * sd) / temperature_K, math.exp(y + z * sd) / temperature_K)
