"""Transition temperature of a crystal phase from a temperature series (Staacke et al. 2022, section 3.2).

Two independent signatures of the beta/gamma -> alpha-like transition of Li3PS4:

* :class:`BrokenArrhenius` - a change of slope of ``ln(sigma T)`` against ``1/T``: a continuous
  two-segment line (one break point) against the single line, compared by the Bayesian information
  criterion with the noise level estimated from the data (``BIC = n ln(chi2_w / n) + p ln n``, p = 2
  for the line, 4 for the broken line: two slopes, the level and the break), so that it also works
  when the stated errors are too small. Because the break position is searched for, the usual
  chi2/F distributions do not hold (Davies 1987; fixed BIC thresholds gave ~20 % false breaks on
  13 straight points): the break is reported when the likelihood-ratio statistic ``n ln(chi2_line /
  chi2_broken)`` (equivalently Delta BIC) exceeds its null distribution at level ``alpha``, simulated
  from the single-line fit with the estimated noise (parametric bootstrap, fixed seed). The confidence interval of the break comes from the
  profile of chi2 over the break position: the break values with
  ``chi2(x_b) <= chi2_min (1 + F_{1, n-4}(conf) / (n - 4))`` (likelihood-ratio interval with estimated
  variance).
* :class:`RDFPeakTransition` - the S-S RDF peak near 4.3 A that marks the ordered anion sublattice:
  its prominence against T is fitted with ``h = c + s max(T* - T, 0)`` (a linear decrease that stops at
  T*, a flat remainder above), scanned over T*, with the same profile interval.

Both scan the break on a fine grid between the ``min_points``-th lowest and highest temperature.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import f as f_dist

from lpsens.analysis.arrhenius import K_B_EV
from lpsens.analysis.paper import SS_PEAK_A
from lpsens.errors import AnalysisError, InsufficientDataError

__all__ = ["BrokenArrhenius", "RDFPeakTransition", "peak_prominence"]


def _wlsq(A, y, w):
    sw = np.sqrt(w)
    p, *_ = np.linalg.lstsq(A * sw[:, None], y * sw, rcond=None)
    r = (y - A @ p) * sw
    return p, float(r @ r)


def _profile(x, y, w, grid, design):
    """Weighted least squares for every trial break at once.

    ``y`` has shape (n,) or (n_series, n); returns chi2 of shape (n_grid,) or (n_grid, n_series) and
    the parameters, shape (n_grid, n_par) or (n_grid, n_series, n_par).
    """
    Y = np.atleast_2d(y)
    A = np.stack([design(x, b) for b in grid])  # (G, n, p)
    M = np.einsum("gni,n,gnj->gij", A, w, A)
    rhs = np.einsum("gni,n,sn->gsi", A, w, Y)
    P = np.linalg.solve(M[:, None], rhs[..., None])[..., 0]  # (G, S, p)
    res = Y[None] - np.einsum("gni,gsi->gsn", A, P)
    chi = np.einsum("gsn,n->gs", res**2, w)
    if np.ndim(y) == 1:
        return chi[:, 0], P[:, 0]
    return chi, P


def _interval(grid, chi, n, n_par, confidence):
    """Break values inside the profile-likelihood interval: (low, high, closed on both sides)."""
    k = int(np.argmin(chi))
    dof = n - n_par
    limit = chi[k] * (1.0 + f_dist.ppf(confidence, 1, dof) / dof) if dof > 0 else math.inf
    inside = chi <= limit
    lo = k
    while lo > 0 and inside[lo - 1]:
        lo -= 1
    hi = k
    while hi < grid.size - 1 and inside[hi + 1]:
        hi += 1
    return grid[lo], grid[hi], lo > 0 and hi < grid.size - 1


def _validate(T, y, e, name):
    T = np.asarray(T, float)
    y = np.asarray(y, float)
    e = np.asarray(e, float) if e is not None else np.ones_like(y)
    if not (T.shape == y.shape == e.shape) or T.ndim != 1:
        raise AnalysisError(f"temperature_K, {name} and its errors must be 1-D and equally long", key=name)
    ok = np.isfinite(T) & np.isfinite(y) & np.isfinite(e) & (e > 0) & (T > 0)
    order = np.argsort(T[ok])
    return T[ok][order], y[ok][order], e[ok][order]


class BrokenArrhenius:
    """One-break-point Arrhenius fit against the single line (see the module text).

    Parameters
    ----------
    min_points
        Minimum number of temperatures on each side of the break (>= 2).
    confidence
        Level of the break-temperature interval.
    alpha
        False-break rate of the test (parametric bootstrap p-value below which a break is reported).
    n_null
        Number of simulated straight series for the p-value.
    grid
        Number of trial break positions.
    seed
        Seed of the simulated null series.

    Raises
    ------
    AnalysisError
        Bad parameters.
    """

    def __init__(self, min_points: int = 3, confidence: float = 0.95, alpha: float = 0.05, n_null: int = 200,
                 grid: int = 400, seed: int = 0):
        if int(min_points) < 2 or not 0 < confidence < 1 or int(grid) < 10 or not 0 < alpha < 1 or int(n_null) < 20:
            raise AnalysisError(f"need min_points >= 2, confidence and alpha in (0, 1), grid >= 10, n_null >= 20; "
                                f"got {min_points!r}, {confidence!r}, {alpha!r}, {grid!r}, {n_null!r}", key="transition")
        self.min_points = int(min_points)
        self.confidence = float(confidence)
        self.alpha = float(alpha)
        self.n_null = int(n_null)
        self.grid = int(grid)
        self.seed = int(seed)
        self._res = None

    def __repr__(self):
        return (f"BrokenArrhenius(min_points={self.min_points}, confidence={self.confidence:g}, "
                f"alpha={self.alpha:g}, n_null={self.n_null})")

    def compute(self, temperature_K, sigma_S_cm, sigma_err_S_cm) -> BrokenArrhenius:
        """Fit; returns self.

        Parameters
        ----------
        temperature_K, sigma_S_cm, sigma_err_S_cm
            Shape (n,) each; points with sigma <= 0 or non-finite values are left out.

        Raises
        ------
        InsufficientDataError
            Fewer than ``2 min_points + 1`` usable temperatures (and at least 6).
        """
        T, s, e = _validate(temperature_K, sigma_S_cm, sigma_err_S_cm, "sigma_S_cm")
        keep = s > 0
        T, s, e = T[keep], s[keep], e[keep]
        n = T.size
        need = max(2 * self.min_points + 1, 6)
        if n < need or np.unique(T).size < need:
            raise InsufficientDataError(f"a break-point fit needs >= {need} temperatures with sigma > 0, got {n}",
                                        key="temperature_K")
        x, y, w = 1.0 / T, np.log(s * T), (s / e) ** 2
        xs = np.sort(x)
        grid = np.linspace(xs[self.min_points - 1], xs[n - self.min_points], self.grid)
        p1, chi1 = _wlsq(np.column_stack([np.ones(n), x]), y, w)

        def design(x, b):
            return np.column_stack([np.ones_like(x), x - b, np.maximum(x - b, 0.0)])

        chi, params = _profile(x, y, w, grid, design)
        k = int(np.argmin(chi))
        chi2 = chi[k]
        tiny = 1e-300
        bic1 = n * math.log(max(chi1, tiny) / n) + 2 * math.log(n)
        bic2 = n * math.log(max(chi2, tiny) / n) + 4 * math.log(n)
        lo, hi, closed = _interval(grid, chi, n, 4, self.confidence)
        p = params[k]
        # null: the single line plus Gaussian noise of the estimated scale; the statistic on the same
        # (coarser) break grid for the data and the simulations
        coarse = grid[:: max(1, self.grid // 80)]
        stat = n * math.log(max(chi1, tiny) / max(chi[:: max(1, self.grid // 80)].min(), tiny))
        rng = np.random.default_rng(self.seed)
        line = np.column_stack([np.ones(n), x]) @ p1
        scale = math.sqrt(chi1 / (n - 2)) / np.sqrt(w)
        ys = line + scale * rng.standard_normal((self.n_null, n))
        c1 = _profile(x, ys, w, np.zeros(1), lambda x, b: np.column_stack([np.ones_like(x), x]))[0][0]
        c2 = _profile(x, ys, w, coarse, design)[0].min(axis=0)
        null = n * np.log(np.maximum(c1, tiny) / np.maximum(c2, tiny))
        p_value = float((1 + np.sum(null >= stat)) / (self.n_null + 1))
        self._res = {
            "break_found": bool(p_value < self.alpha),
            "p_value": p_value,
            "delta_bic": float(bic1 - bic2),
            "break_T_K": float(1.0 / grid[k]),
            "break_T_low_K": float(1.0 / hi), "break_T_high_K": float(1.0 / lo), "interval_closed": bool(closed),
            # slope in x = 1/T is -Ea/k_B; x > x_b is the low-temperature side
            "Ea_high_T_eV": float(-p[1] * K_B_EV), "Ea_low_T_eV": float(-(p[1] + p[2]) * K_B_EV),
            "Ea_single_eV": float(-p1[1] * K_B_EV), "n_points": n,
        }
        return self

    def _check(self):
        if self._res is None:
            raise AnalysisError("BrokenArrhenius.compute() has not been called")

    @property
    def result(self) -> dict:
        """``break_found``, ``p_value``, ``delta_bic``, ``break_T_K`` with ``break_T_low_K``/``break_T_high_K`` (the
        interval; ``interval_closed`` False if it reaches the end of the scanned range), ``Ea_low_T_eV``,
        ``Ea_high_T_eV``, ``Ea_single_eV``, ``n_points``."""
        self._check()
        return dict(self._res)

    @property
    def break_found(self) -> bool:
        self._check()
        return self._res["break_found"]

    @property
    def break_T_K(self) -> float:
        self._check()
        return self._res["break_T_K"]


def peak_prominence(r_A, g, r_peak_A: float = SS_PEAK_A, half_width_A: float = 0.4) -> float:
    """Prominence of the RDF peak near ``r_peak_A``: the maximum of g in ``r_peak +- half_width`` minus
    the mean of the minima of g in the flanks ``[r_peak - 2.5 hw, r_peak - hw]`` and ``[r_peak + hw,
    r_peak + 2.5 hw]`` (dimensionless; ~0 when the peak has merged into a smooth liquid-like g).

    Raises
    ------
    AnalysisError
        The RDF does not cover the flanks.
    """
    r = np.asarray(r_A, float)
    g = np.asarray(g, float)
    hw = half_width_A
    centre = np.abs(r - r_peak_A) <= hw
    left = (r >= r_peak_A - 2.5 * hw) & (r < r_peak_A - hw)
    right = (r > r_peak_A + hw) & (r <= r_peak_A + 2.5 * hw)
    if not (centre.any() and left.any() and right.any()):
        raise AnalysisError(f"the RDF (r up to {r.max() if r.size else 0:.2f} A) does not cover "
                            f"{r_peak_A - 2.5 * hw:.2f}-{r_peak_A + 2.5 * hw:.2f} A", key="rdf_r_max_A")
    return float(g[centre].max() - 0.5 * (g[left].min() + g[right].min()))


class RDFPeakTransition:
    """Temperature at which the S-S RDF peak near 4.3 A vanishes (see the module text).

    Parameters
    ----------
    min_points
        Minimum temperatures on the decreasing side and on the flat side of T* (>= 1 each;
        the scan runs from the ``min_points``-th lowest to the ``min_points``-th highest temperature).
    confidence
        Level of the interval of T*.
    grid
        Number of trial T*.

    Raises
    ------
    AnalysisError
        Bad parameters.
    """

    def __init__(self, min_points: int = 2, confidence: float = 0.95, grid: int = 400):
        if int(min_points) < 1 or not 0 < confidence < 1 or int(grid) < 10:
            raise AnalysisError("need min_points >= 1, confidence in (0, 1), grid >= 10", key="transition")
        self.min_points = int(min_points)
        self.confidence = float(confidence)
        self.grid = int(grid)
        self._res = None

    def __repr__(self):
        return f"RDFPeakTransition(min_points={self.min_points}, confidence={self.confidence:g})"

    def compute(self, temperature_K, prominence, prominence_err=None) -> RDFPeakTransition:
        """Fit the prominence (shape (n,)) against T (K); errors weight the points (None: equal weights).

        Raises
        ------
        InsufficientDataError
            Fewer than ``2 min_points + 1`` temperatures (and at least 4).
        """
        T, h, e = _validate(temperature_K, prominence, prominence_err, "prominence")
        n = T.size
        need = max(2 * self.min_points + 1, 4)
        if n < need:
            raise InsufficientDataError(f"the RDF-peak transition needs >= {need} temperatures, got {n}",
                                        key="temperature_K")
        w = 1.0 / e**2
        grid = np.linspace(T[self.min_points - 1], T[n - self.min_points], self.grid)

        def design(T, b):
            return np.column_stack([np.ones_like(T), np.maximum(b - T, 0.0)])

        chi, params = _profile(T, h, w, grid, design)
        k = int(np.argmin(chi))
        lo, hi, closed = _interval(grid, chi, n, 3, self.confidence)
        c, s = params[k]
        self._res = {"vanish_T_K": float(grid[k]), "vanish_T_low_K": float(lo), "vanish_T_high_K": float(hi),
                     "interval_closed": bool(closed), "slope_per_K": float(-s), "plateau": float(c),
                     "decreasing": bool(s > 0), "n_points": n}
        return self

    def _check(self):
        if self._res is None:
            raise AnalysisError("RDFPeakTransition.compute() has not been called")

    @property
    def result(self) -> dict:
        """``vanish_T_K`` with ``vanish_T_low_K``/``vanish_T_high_K`` (``interval_closed`` False if the
        interval reaches the end of the scanned range), ``slope_per_K`` of the decrease, ``plateau`` and
        ``decreasing`` (False: the peak does not weaken with T, so T* means nothing)."""
        self._check()
        return dict(self._res)

    @property
    def vanish_T_K(self) -> float:
        self._check()
        return self._res["vanish_T_K"]
