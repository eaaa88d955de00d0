"""Collective (charge) conductivity from the mean-squared displacement of the summed Li displacement.

The Einstein relation for the ionic conductivity (e.g. Kubo 1957; Marcolongo & Marzari 2017) is

    sigma = z^2 e^2 / (6 V k_B T) * d/dt < |sum_i [r_i(t0 + t) - r_i(t0)]|^2 >_{t0}

where the sum runs over all mobile ions. Written per ion, ``D_sigma = slope / (6 N)`` enters the
Nernst-Einstein formula in place of the tracer D, and the Haven ratio is ``H = D_tracer / D_sigma
= sigma_tracer / sigma_collective`` (H = 1 for uncorrelated ions, H < 1 when ions move together).

The summed displacement ``X(t) = sum_i (r_i(t) - R_fw(t))`` (framework centre-of-mass drift removed
frame by frame, as for D) is only (n_frames, 3) numbers, so it is accumulated in bounded-memory
frame chunks and the blocks are cut from it afterwards. The all-origin MSD of X in each time block
uses the same FFT as the tracer MSD, and the same :class:`~lpsens.analysis.msd.Diffusion` fit window
rules give ``D_sigma`` per block.
"""

from __future__ import annotations

import math

import numpy as np
from ase.data import atomic_masses

from lpsens.analysis.conductivity import NernstEinstein
from lpsens.analysis.msd import (
    A2_PS_TO_CM2_S,
    FRAMEWORK,
    LI,
    BlockMSDResults,
    Diffusion,
    fft_msd_sum,
)
from lpsens.errors import AnalysisError, InsufficientDataError

__all__ = ["CollectiveMSD", "CollectiveConductivity", "haven_ratio", "pooled_blocks", "summed_displacement_A"]


def summed_displacement_A(reader, species: int = LI, framework: tuple[int, ...] = FRAMEWORK,
                          memory_limit_MB: float = 256.0) -> np.ndarray:
    """Sum over the ``species`` atoms of their positions relative to the framework centre of mass.

    Parameters
    ----------
    reader
        An open :class:`~lpsens.analysis.reader.TrajectoryReader`.
    species
        Atomic number of the mobile ion.
    framework
        Atomic numbers whose mass-weighted centre of mass is subtracted per frame (``()``: none).
    memory_limit_MB
        Budget for one frame chunk of positions.

    Returns
    -------
    ndarray, shape (n_frames, 3)
        ``X(t) = sum_i (r_i(t) - R_fw(t))``, Angstrom (unwrapped positions).

    Raises
    ------
    InsufficientDataError
        If there are no atoms of ``species``.
    """
    numbers = reader.numbers
    sel = np.flatnonzero(numbers == species)
    if sel.size == 0:
        raise InsufficientDataError(f"no atoms with atomic number {species} in the trajectory", file=reader.path,
                                    key="/numbers")
    fw = np.flatnonzero(np.isin(numbers, framework)) if framework else np.zeros(0, int)
    w = atomic_masses[numbers[fw]]
    atoms = np.union1d(sel, fw)
    span = slice(int(atoms.min()), int(atoms.max()) + 1)
    width = span.stop - span.start
    chunk = max(1, int(memory_limit_MB * 2**20 / (width * 3 * 8 * 2)))
    out = np.zeros((reader.n_frames, 3))
    for start in range(0, reader.n_frames, chunk):
        stop = min(start + chunk, reader.n_frames)
        x = reader.read_positions(slice(start, stop), span)
        out[start:stop] = x[:, sel - span.start, :].sum(axis=1)
        if fw.size:
            com = np.einsum("tai,a->ti", x[:, fw - span.start, :], w) / w.sum()
            out[start:stop] -= sel.size * com
    return out


class CollectiveMSD(BlockMSDResults):
    """Block-averaged all-origin MSD of the summed Li displacement, per ion.

    ``block_msd_A2[b, m] = <|X(t0 + m) - X(t0)|^2>_{t0 in block b} / N``; for uncorrelated ions
    this equals the tracer MSD on average. It has the interface :class:`~lpsens.analysis.msd.Diffusion`
    fits (``block_msd_A2``, ``lag_time_ps``, ``block_length_ps``), so ``Diffusion().compute(cmsd)``
    gives ``D_sigma`` per block.

    Parameters
    ----------
    n_blocks
        Number of equal consecutive time blocks (as for the tracer MSD).
    memory_limit_MB
        Budget for one frame chunk of positions read from HDF5.
    species, framework
        Mobile ion and the atoms whose centre-of-mass drift is removed.

    Raises
    ------
    AnalysisError
        For invalid parameters (the key names the parameter).
    """

    def __init__(self, n_blocks: int = 8, memory_limit_MB: float = 256.0, species: int = LI,
                 framework: tuple[int, ...] = FRAMEWORK):
        if int(n_blocks) != n_blocks or n_blocks < 1:
            raise AnalysisError(f"n_blocks must be a positive integer, got {n_blocks!r}", key="n_blocks")
        if not memory_limit_MB > 0:
            raise AnalysisError(f"memory_limit_MB must be > 0, got {memory_limit_MB!r}", key="memory_limit_MB")
        self.n_blocks = int(n_blocks)
        self.memory_limit_MB = float(memory_limit_MB)
        self.species = int(species)
        self.framework = tuple(int(z) for z in framework)
        self._block_msd = None

    def __repr__(self):
        return (f"CollectiveMSD(n_blocks={self.n_blocks}, memory_limit_MB={self.memory_limit_MB:g}, "
                f"species={self.species}, framework={self.framework})")

    def compute(self, reader) -> CollectiveMSD:
        """Compute from a :class:`~lpsens.analysis.reader.TrajectoryReader`; returns self.

        Raises
        ------
        InsufficientDataError
            No atoms of ``species`` or fewer than 2 frames per block.
        """
        L = reader.n_frames // self.n_blocks
        if L < 2:
            raise InsufficientDataError(
                f"{reader.n_frames} frames cannot be split into {self.n_blocks} blocks of >= 2 frames; "
                "run longer or use fewer blocks", file=reader.path, key="n_frames")
        X = summed_displacement_A(reader, self.species, self.framework, self.memory_limit_MB)
        self._n_atoms = int(np.sum(reader.numbers == self.species))
        self.compute_from_summed(X, reader.frame_interval_ps, self._n_atoms)
        return self

    def compute_from_summed(self, X_A, dt_ps: float, n_ions: int) -> CollectiveMSD:
        """Compute from a summed displacement ``X_A`` (shape (n_frames, 3), Angstrom); returns self.

        Raises
        ------
        InsufficientDataError
            If the frames cannot be split into ``n_blocks`` blocks.
        """
        X = np.asarray(X_A, float)
        L = X.shape[0] // self.n_blocks
        if L < 2:
            raise InsufficientDataError(f"{X.shape[0]} frames cannot be split into {self.n_blocks} blocks",
                                        key="n_frames")
        self._block_msd = np.stack([fft_msd_sum(X[b * L:(b + 1) * L, None, :]) / n_ions
                                    for b in range(self.n_blocks)])
        self._dt_ps = float(dt_ps)
        self._n_atoms = int(n_ions)
        return self


def pooled_blocks(values) -> tuple[float, float]:
    """Mean of block values pooled over runs and its standard error ``std/sqrt(n) * sqrt((n-1)/(n-3))``.

    Parameters
    ----------
    values
        Block values of all replicas together, shape (n,), n >= 4 (independent blocks).

    Raises
    ------
    InsufficientDataError
        Fewer than 4 values.
    """
    v = np.asarray(values, float).ravel()
    n = v.size
    if n < 4:
        raise InsufficientDataError(f"{n} block values give no error estimate; need >= 4", key="n_blocks")
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(n) * math.sqrt((n - 1) / (n - 3)))


def haven_ratio(D_tracer_blocks, D_sigma_blocks) -> tuple[float, float]:
    """Haven ratio ``H = <D_tracer> / <D_sigma>`` of paired block values and its standard error.

    The error is the delta method on the block means with their covariance (the self part is in
    both estimates, so they are positively correlated), scaled like :func:`pooled_blocks`.

    Parameters
    ----------
    D_tracer_blocks, D_sigma_blocks
        Block values from the same time blocks (of one or several runs), shape (n,), any unit.

    Returns
    -------
    (H, H_err)
        NaN for both if the mean ``D_sigma`` is not positive (no collective transport resolved).

    Raises
    ------
    AnalysisError
        The inputs differ in length.
    InsufficientDataError
        Fewer than 4 blocks.
    """
    a = np.asarray(D_tracer_blocks, float).ravel()
    b = np.asarray(D_sigma_blocks, float).ravel()
    if a.shape != b.shape:
        raise AnalysisError(f"{a.size} tracer and {b.size} collective block values; they must be paired")
    n = a.size
    if n < 4:
        raise InsufficientDataError(f"{n} block values give no error estimate; need >= 4", key="n_blocks")
    ma, mb = a.mean(), b.mean()
    if not mb > 0:
        return math.nan, math.nan
    H = ma / mb
    cov = np.cov(a, b, ddof=1) / n * (n - 1) / (n - 3)
    var = H**2 * (cov[0, 0] / ma**2 + cov[1, 1] / mb**2 - 2 * cov[0, 1] / (ma * mb)) if ma != 0 else cov[0, 0] / mb**2
    return float(H), float(math.sqrt(max(var, 0.0)))


class CollectiveConductivity:
    """sigma_collective (S/cm) from a computed :class:`CollectiveMSD` and the Haven ratio against a tracer D.

    Per block ``D_sigma`` is fitted with :class:`~lpsens.analysis.msd.Diffusion` (same window rules
    as the tracer D); sigma is the Nernst-Einstein factor times the block mean of ``D_sigma``, its
    error the factor times the error of :func:`pooled_blocks`. The collective MSD of one run is a
    single random walk of the centre of charge, hence much noisier than the tracer MSD (which
    averages over N ions): pool the blocks of the replicas of a state point for a usable number.

    Parameters
    ----------
    volume_A3, temperature_K, charge_number
        Cell volume (Angstrom^3), temperature (K), charge number z.
    fit_start_ps, fit_end_fraction, min_fit_points
        As for :class:`~lpsens.analysis.msd.Diffusion`.

    Raises
    ------
    AnalysisError
        Non-positive volume or temperature.
    """

    def __init__(self, volume_A3: float, temperature_K: float, *, charge_number: int = 1, fit_start_ps: float = 2.0,
                 fit_end_fraction: float = 0.5, min_fit_points: int = 10):
        self.volume_A3 = float(volume_A3)
        self.temperature_K = float(temperature_K)
        self.charge_number = int(charge_number)
        self._fit = Diffusion(fit_start_ps, fit_end_fraction, min_fit_points)
        NernstEinstein(1, self.volume_A3, self.temperature_K)  # validates volume and temperature
        self._D = None

    def __repr__(self):
        return (f"CollectiveConductivity(volume_A3={self.volume_A3:g}, temperature_K={self.temperature_K:g}, "
                f"charge_number={self.charge_number})")

    def compute(self, cmsd: CollectiveMSD) -> CollectiveConductivity:
        """Fit the collective block MSDs; returns self.

        Raises
        ------
        InsufficientDataError
            Blocks too short for the fit window or fewer than 4 blocks (as for D).
        """
        self._fit.compute(cmsd)
        self._D = self._fit.D_blocks_A2_ps
        self._n_ions = cmsd.n_atoms
        self._ne = NernstEinstein(self._n_ions, self.volume_A3, self.temperature_K, charge_number=self.charge_number)
        return self

    def _check(self):
        if self._D is None:
            raise AnalysisError("CollectiveConductivity.compute() has not been called")

    @property
    def D_sigma_blocks_cm2_s(self) -> np.ndarray:
        """``D_sigma`` of each block, cm^2/s, shape (n_blocks,)."""
        self._check()
        return self._D * A2_PS_TO_CM2_S

    @property
    def D_sigma_cm2_s(self) -> float:
        return pooled_blocks(self.D_sigma_blocks_cm2_s)[0]

    @property
    def D_sigma_err_cm2_s(self) -> float:
        return pooled_blocks(self.D_sigma_blocks_cm2_s)[1]

    @property
    def sigma_S_cm(self) -> float:
        self._check()
        return self._ne.compute(self.D_sigma_cm2_s, self.D_sigma_err_cm2_s).sigma_S_cm

    @property
    def sigma_err_S_cm(self) -> float:
        self._check()
        return self._ne.compute(self.D_sigma_cm2_s, self.D_sigma_err_cm2_s).sigma_err_S_cm

    @property
    def window_ps(self) -> tuple[float, float]:
        self._check()
        return self._fit.window_ps
