"""All-origin mean-squared displacement by FFT, block-averaged in time, and the diffusion fit.

The MSD of each time block is computed from the positions of that block only (all time origins
inside the block), in float64, with the mass-weighted centre of mass of the framework (P+S)
subtracted frame by frame. Positions are read from HDF5 in (time block x atom slab) pieces, so
memory is bounded by ``memory_limit_MB`` whatever the length of the run.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
from ase.data import atomic_masses

from lpsens.errors import AnalysisError, InsufficientDataError

__all__ = ["fft_msd_sum", "MSD", "Diffusion", "LI", "FRAMEWORK"]

LI = 3
FRAMEWORK = (15, 16)  # P, S: the framework whose centre-of-mass drift is removed


def fft_msd_sum(x: np.ndarray) -> np.ndarray:
    """Sum over atoms of the all-origin MSD, by FFT (Kneller et al. 1995 / Calandrini et al. 2011).

    Parameters
    ----------
    x
        Unwrapped positions, Angstrom, shape (n_frames, n_atoms, 3).

    Returns
    -------
    ndarray, shape (n_frames,)
        ``sum_atoms <|x(t0 + m) - x(t0)|^2>_{t0}`` for lag ``m`` frames, Angstrom^2.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n == 0:
        return np.zeros(0)
    x = x - x.mean(axis=0)  # the MSD is shift-invariant; centring keeps the cancellation small
    nfft = scipy.fft.next_fast_len(2 * n, real=True)
    f = scipy.fft.rfft(x, n=nfft, axis=0, workers=1)
    power = (f.real**2 + f.imag**2).sum(axis=(1, 2))
    del f
    s2 = scipy.fft.irfft(power, n=nfft, workers=1)[:n]  # sum_k x(k).x(k+m)
    d = (x * x).sum(axis=(1, 2))
    cs = np.concatenate([[0.0], np.cumsum(d)])
    m = np.arange(n)
    counts = n - m
    s1 = cs[n - m] + (cs[n] - cs[m])  # sum_k |x(k)|^2 + |x(k+m)|^2
    return (s1 - 2.0 * s2) / counts


class MSD:
    """Block-averaged all-origin MSD of the Li atoms of a trajectory.

    Parameters
    ----------
    n_blocks
        Number of equal, consecutive time blocks (a trailing remainder of < n_blocks frames is dropped).
    memory_limit_MB
        Budget for one positions slab read from HDF5 plus its FFT buffers.
    species
        Atomic number of the diffusing species (default Li).
    framework
        Atomic numbers whose mass-weighted centre of mass is subtracted frame by frame
        (default P and S). ``()`` disables the drift correction.
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

    def compute(self, reader) -> MSD:
        """Compute the block MSDs from a :class:`~lpsens.analysis.reader.TrajectoryReader`; returns self.

        Raises
        ------
        InsufficientDataError
            If there are no atoms of ``species`` or fewer than 2 frames per block.
        """
        numbers = reader.numbers
        sel = np.flatnonzero(numbers == self.species)
        if sel.size == 0:
            raise InsufficientDataError(f"no atoms with atomic number {self.species} in the trajectory",
                                        file=reader.path, key="/numbers")
        fw = np.flatnonzero(np.isin(numbers, self.framework)) if self.framework else np.zeros(0, int)
        masses = atomic_masses[numbers]
        L = reader.n_frames // self.n_blocks
        if L < 2:
            raise InsufficientDataError(
                f"{reader.n_frames} frames cannot be split into {self.n_blocks} blocks of >= 2 frames; "
                "run longer or use fewer blocks", file=reader.path, key="n_frames")
        budget = self.memory_limit_MB * 2**20 / 6.0  # the FFT needs ~5x the slab in buffers
        all_atoms = np.union1d(sel, fw)
        slabs = reader.atom_slabs(L, budget, all_atoms)
        block_msd = np.zeros((self.n_blocks, L))
        for b in range(self.n_blocks):
            frames = slice(b * L, (b + 1) * L)
            if len(slabs) == 1:  # the whole block fits: read once
                x = reader.read_positions(frames, slabs[0], check_unwrapped=True)
                com = _com(x, np.arange(slabs[0].start, slabs[0].stop), fw, masses)
                msd_sum = fft_msd_sum(_take(x, slabs[0], sel) - com[:, None, :])
            else:
                com = np.zeros((L, 3))
                if fw.size:
                    num = np.zeros((L, 3))
                    for s in reader.atom_slabs(L, budget, fw):
                        idx = fw[(fw >= s.start) & (fw < s.stop)]
                        x = reader.read_positions(frames, s, check_unwrapped=True)
                        w = masses[idx]
                        num += np.einsum("tai,a->ti", x[:, idx - s.start, :], w)
                    com = num / masses[fw].sum()
                msd_sum = np.zeros(L)
                for s in reader.atom_slabs(L, budget, sel):
                    x = reader.read_positions(frames, s, check_unwrapped=True)
                    msd_sum += fft_msd_sum(_take(x, s, sel) - com[:, None, :])
            block_msd[b] = msd_sum / sel.size
        self._block_msd = block_msd
        self._dt_ps = reader.frame_interval_ps
        self._n_atoms = int(sel.size)
        return self

    # ------------------------------------------------------------------ results
    def _check(self):
        if self._block_msd is None:
            raise AnalysisError("MSD.compute() has not been called")

    @property
    def block_msd_A2(self) -> np.ndarray:
        """MSD of each block, Angstrom^2, shape (n_blocks, block_frames)."""
        self._check()
        return self._block_msd.copy()

    @property
    def msd_A2(self) -> np.ndarray:
        """MSD averaged over blocks, Angstrom^2, shape (block_frames,)."""
        self._check()
        return self._block_msd.mean(axis=0)

    @property
    def lag_time_ps(self) -> np.ndarray:
        """Lag times, ps, shape (block_frames,)."""
        self._check()
        return np.arange(self._block_msd.shape[1]) * self._dt_ps

    @property
    def block_length_ps(self) -> float:
        self._check()
        return self._block_msd.shape[1] * self._dt_ps

    @property
    def n_atoms(self) -> int:
        """Number of diffusing atoms averaged over."""
        self._check()
        return self._n_atoms


def _take(x, slab, sel):
    idx = sel[(sel >= slab.start) & (sel < slab.stop)] - slab.start
    return x[:, idx, :]


def _com(x, slab_atoms, fw, masses):
    if fw.size == 0:
        return np.zeros((x.shape[0], 3))
    idx = np.searchsorted(slab_atoms, fw)
    w = masses[fw]
    return np.einsum("tai,a->ti", x[:, idx, :], w) / w.sum()


class Diffusion:
    """Tracer diffusion coefficient from block MSDs: an ordinary least-squares line with a free
    intercept, ``MSD = 6 D t + c``, fitted in each block over ``[fit_start_ps, fit_end_fraction * block]``.

    ``D`` is the mean of the block values. Its uncertainty is the standard error of that mean
    scaled by ``sqrt((n-1)/(n-3))``: with only n blocks the error estimate is itself uncertain
    (Student t, n-1 degrees of freedom, variance (n-1)/(n-3)), and the scaling makes z-scores
    ``(D - D_true)/D_err`` have unit variance. The least-squares error of one fit is never used
    (the MSD points are strongly correlated).

    Parameters
    ----------
    fit_start_ps
        Start of the fit window (lag time, ps): skips the ballistic and caging regime.
    fit_end_fraction
        End of the window as a fraction of the block length.
    min_fit_points
        Minimum number of lags in the window.
    """

    def __init__(self, fit_start_ps: float = 2.0, fit_end_fraction: float = 0.5, min_fit_points: int = 10):
        if not fit_start_ps > 0:
            raise AnalysisError(f"fit_start_ps must be > 0, got {fit_start_ps!r}", key="fit_start_ps")
        if not 0 < fit_end_fraction <= 0.5:
            raise AnalysisError(f"fit_end_fraction must be in (0, 0.5], got {fit_end_fraction!r}",
                                key="fit_end_fraction")
        self.fit_start_ps = float(fit_start_ps)
        self.fit_end_fraction = float(fit_end_fraction)
        self.min_fit_points = int(min_fit_points)
        self._D_blocks = None

    def compute(self, msd: MSD) -> Diffusion:
        """Fit the block MSDs of a computed :class:`MSD`; returns self.

        Raises
        ------
        InsufficientDataError
            If the blocks are too short for a window from ``fit_start_ps`` to at least twice that
            with ``min_fit_points`` lags, or there are fewer than 4 blocks.
        """
        t = msd.lag_time_ps
        blocks = msd.block_msd_A2
        n = blocks.shape[0]
        if n < 4:
            raise InsufficientDataError(f"{n} blocks give no error estimate; use n_blocks >= 4", key="n_blocks")
        t_end = self.fit_end_fraction * msd.block_length_ps
        window = (t >= self.fit_start_ps - 1e-9) & (t <= t_end + 1e-9)
        if t_end < 2.0 * self.fit_start_ps or window.sum() < self.min_fit_points:
            need_ps = 2.0 * self.fit_start_ps / self.fit_end_fraction * n
            raise InsufficientDataError(
                f"run too short for a diffusive regime: {n} blocks of {msd.block_length_ps:g} ps give a fit window "
                f"[{self.fit_start_ps:g}, {t_end:g}] ps with {int(window.sum())} lags; needed: end >= 2 x start and "
                f">= {self.min_fit_points} lags, i.e. >= {need_ps:g} ps of production (or fewer blocks / an earlier "
                "fit start)", key="fit_window")
        tw = t[window]
        slopes = np.array([np.polyfit(tw, blk[window], 1)[0] for blk in blocks])
        self._D_blocks = slopes / 6.0
        self._window = (float(tw[0]), float(tw[-1]))
        # log-log slope of the block-mean MSD in the window: 1 in a diffusive regime
        mean = blocks.mean(axis=0)[window]
        self._alpha = float(np.polyfit(np.log(tw), np.log(mean), 1)[0]) if np.all(mean > 0) else math.nan
        return self

    def _check(self):
        if self._D_blocks is None:
            raise AnalysisError("Diffusion.compute() has not been called")

    @property
    def D_blocks_A2_ps(self) -> np.ndarray:
        """D of each block, Angstrom^2/ps, shape (n_blocks,)."""
        self._check()
        return self._D_blocks.copy()

    @property
    def D_A2_ps(self) -> float:
        self._check()
        return float(self._D_blocks.mean())

    @property
    def D_err_A2_ps(self) -> float:
        self._check()
        n = self._D_blocks.size
        return float(self._D_blocks.std(ddof=1) / math.sqrt(n) * math.sqrt((n - 1) / (n - 3)))

    @property
    def D_cm2_s(self) -> float:
        return self.D_A2_ps * 1e-4  # 1 A^2/ps = 1e-16 cm^2 / 1e-12 s

    @property
    def D_err_cm2_s(self) -> float:
        return self.D_err_A2_ps * 1e-4

    @property
    def window_ps(self) -> tuple[float, float]:
        """First and last lag time of the fit window, ps."""
        self._check()
        return self._window

    @property
    def loglog_slope(self) -> float:
        """d ln MSD / d ln t in the window (1 = diffusive, < 1 sub-diffusive/caged)."""
        self._check()
        return self._alpha
