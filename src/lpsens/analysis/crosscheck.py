"""Independent diffusion estimate with kinisi (optional extra ``crosscheck``), for validation only.

kinisi (McCluskey et al., JCTC 2024) computes the MSD itself from wrapped fractional coordinates
and fits D by Bayesian regression with the MSD covariance, so it shares no code with
:mod:`lpsens.analysis.msd`.
"""

from __future__ import annotations

import numpy as np

from lpsens.analysis.msd import FRAMEWORK, LI
from lpsens.errors import AnalysisError

__all__ = ["kinisi_diffusion", "kinisi_conductivity"]


def kinisi_diffusion(reader, start_dt_ps: float, *, max_dt_fraction: float = 0.5, n_dt: int = 60,
                     n_samples: int = 500, seed: int = 0) -> tuple[float, float]:
    """D (cm^2/s) and its standard deviation from kinisi for the Li atoms of a trajectory.

    Parameters
    ----------
    reader
        An open :class:`~lpsens.analysis.reader.TrajectoryReader` (the whole run is loaded: test sizes only).
    start_dt_ps
        Start of the diffusive regime passed to kinisi.
    max_dt_fraction
        Largest lag as a fraction of the run.
    n_dt
        Number of (linearly spaced) lags kinisi evaluates.

    Raises
    ------
    AnalysisError
        If kinisi is not installed.
    """
    try:
        from kinisi.diffusion_analyzer import DiffusionAnalyzer
        from kinisi.displacement import calculate_msd
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise AnalysisError(f"kinisi is not installed ({exc}); pip install 'lpsens[crosscheck]'") from None
    sc, parser = _kinisi_parser(reader, max_dt_fraction, n_dt)
    da = DiffusionAnalyzer(parser)
    da._dg = calculate_msd(parser, progress=False)  # what DiffusionAnalyzer.from_ase does after parsing
    da.diffusion(sc.scalar(start_dt_ps, unit="ps"), progress=False, n_samples=n_samples,
                 random_state=np.random.RandomState(seed))
    D = sc.to_unit(da.D, "cm^2/s").values
    return float(np.mean(D)), float(np.std(D))


def kinisi_conductivity(reader, start_dt_ps: float, temperature_K: float, *, max_dt_fraction: float = 0.5,
                        n_dt: int = 60, n_samples: int = 500, seed: int = 0) -> tuple[float, float]:
    """Collective sigma (S/cm) and its standard deviation from kinisi's ``ConductivityAnalyzer``
    (mean-squared total displacement of the Li with Bayesian regression), for validating
    :mod:`lpsens.analysis.collective`; the whole run is loaded (test and benchmark sizes only).

    Parameters
    ----------
    reader
        An open :class:`~lpsens.analysis.reader.TrajectoryReader`.
    start_dt_ps
        Start of the diffusive regime passed to kinisi.
    temperature_K
        Temperature, K.
    max_dt_fraction, n_dt, n_samples, seed
        As for :func:`kinisi_diffusion`.

    Raises
    ------
    AnalysisError
        kinisi is not installed.
    """
    try:
        from kinisi.conductivity_analyzer import ConductivityAnalyzer
        from kinisi.displacement import calculate_mstd
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise AnalysisError(f"kinisi is not installed ({exc}); pip install 'lpsens[crosscheck]'") from None
    sc, parser = _kinisi_parser(reader, max_dt_fraction, n_dt)
    ca = ConductivityAnalyzer(parser)
    ca._dg = calculate_mstd(parser, 1, sc.scalar(1, unit="e"), progress=False)  # what from_ase does after parsing
    ca.conductivity(sc.scalar(start_dt_ps, unit="ps"), sc.scalar(float(temperature_K), unit="K"), progress=False,
                    n_samples=n_samples, random_state=np.random.RandomState(seed))
    s = sc.to_unit(ca.sigma, "S/cm").values
    return float(np.mean(s)), float(np.std(s))


def _kinisi_parser(reader, max_dt_fraction: float, n_dt: int):
    """scipp and a kinisi ``Parser`` of the whole run: the Li as the species, the P/S framework's
    drift removed (:data:`~lpsens.analysis.msd.LI`, :data:`~lpsens.analysis.msd.FRAMEWORK`),
    ``n_dt`` linearly spaced lags up to ``max_dt_fraction`` of the run."""
    import scipp as sc
    from kinisi.parser import Parser

    cell = reader.cell
    frac = (reader.read_positions() @ np.linalg.inv(cell)) % 1.0
    n = frac.shape[0]
    dt_ps = reader.frame_interval_ps
    numbers = reader.numbers
    li = np.flatnonzero(numbers == LI)
    drift = np.flatnonzero(np.isin(numbers, FRAMEWORK))
    step = max(1, int(max_dt_fraction * (n - 1)) // n_dt)
    lags = np.arange(step, int(max_dt_fraction * (n - 1)) + 1, step)
    coords = sc.array(dims=["time", "particle", "dimension"], values=frac, unit=sc.units.dimensionless)
    latt = sc.array(dims=["time", "dimension1", "dimension2"], values=np.broadcast_to(cell, (n, 3, 3)).copy(),
                    unit=sc.units.angstrom)
    parser = Parser(coords, latt, sc.scalar(dt_ps, unit="ps"), sc.scalar(1, unit=sc.units.dimensionless),
                    dt=sc.array(dims=["time interval"], values=lags * dt_ps, unit="ps"),
                    specie_indices=sc.array(dims=["particle"], values=li),
                    drift_indices=sc.array(dims=["particle"], values=drift))
    return sc, parser
