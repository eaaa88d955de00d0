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

from lpsens.analysis._params import parameter_repr
from lpsens.errors import AnalysisError, InsufficientDataError

__all__ = ["fft_msd_sum", "count_hops", "MSD", "Diffusion", "LI", "FRAMEWORK", "A2_PS_TO_CM2_S", "HOP_LENGTH_A", "MIN_HOPS",
           "POISSON_UPPER_95"]

#: 1 Angstrom^2/ps = 1e-16 cm^2 / 1e-12 s.
A2_PS_TO_CM2_S = 1e-4
LI = 3
FRAMEWORK = (15, 16)  # P, S: the framework whose centre-of-mass drift is removed
#: A Li "hops" when it moves this far from where it last settled (Li-Li site distances in the
#: thiophosphates are 2.5-3.5 A; vibrations are < 0.5 A). Also the hop length of the counting error.
HOP_LENGTH_A = 2.5
#: Fewer hops than this in the whole run: the hop statistics are poor and D is flagged.
MIN_HOPS = 20
#: Hops are counted on frames at least this far apart (a Li hop takes longer; keeps the count cheap
#: for finely sampled runs).
HOP_SAMPLING_PS = 0.1
#: Upper 95 % limit of a Poisson mean when 0 events were seen (-ln 0.05).
POISSON_UPPER_95 = -math.log(0.05)


def count_hops(x: np.ndarray, ref: np.ndarray, hop_length_A: float) -> tuple[np.ndarray, np.ndarray]:
    """Count hops of each atom: moves of more than ``hop_length_A`` from its last settled position.

    Parameters
    ----------
    x
        Unwrapped positions, Angstrom, shape (n_frames, n_atoms, 3).
    ref
        Position where each atom last settled, shape (n_atoms, 3) (``x[0]`` at the start of a run).
    hop_length_A
        Hop threshold, Angstrom.

    Returns
    -------
    (hops, ref)
        Hops per atom, shape (n_atoms,), and the updated reference positions (to carry into the
        next block of frames).
    """
    ref = np.array(ref, dtype=np.float64)
    hops = np.zeros(x.shape[1], dtype=np.int64)
    r2 = hop_length_A**2
    chunk = 64  # frames per vectorised step; a Li rarely hops more than once in 64 frames
    for a in range(0, x.shape[0], chunk):
        xs = x[a:a + chunk]
        start = np.zeros(x.shape[1], dtype=np.int64)  # first frame of xs still to examine, per atom
        todo = np.arange(x.shape[1])
        while todo.size:
            d = xs[:, todo, :] - ref[todo]
            far = np.einsum("tai,tai->ta", d, d) > r2
            far &= np.arange(xs.shape[0])[:, None] >= start[todo]
            hit = far.any(axis=0)
            todo = todo[hit]
            if not todo.size:
                break
            first = far[:, hit].argmax(axis=0)  # the frame of the hop: the atom settles there
            hops[todo] += 1
            ref[todo] = xs[first, todo]
            start[todo] = first + 1
    return hops, ref


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


class BlockMSDResults:
    """Results shared by the block-averaged MSDs (:class:`MSD`, the collective MSD): Diffusion fits these.

    Subclasses set ``_block_msd`` (shape (n_blocks, block_frames), Angstrom^2), ``_dt_ps`` and
    ``_n_atoms`` in ``compute``.
    """

    _block_msd = None

    def _check(self):
        if self._block_msd is None:
            raise AnalysisError(f"{type(self).__name__}.compute() has not been called")

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
        """Number of diffusing atoms averaged over (ions per block MSD)."""
        self._check()
        return self._n_atoms


class MSD(BlockMSDResults):
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
    hop_length_A
        Threshold of :func:`count_hops`; the hop counts feed the uncertainty of :class:`Diffusion`.

    Raises
    ------
    AnalysisError
        For invalid parameters (the key names the parameter).
    """

    def __init__(self, n_blocks: int = 8, memory_limit_MB: float = 256.0, species: int = LI,
                 framework: tuple[int, ...] = FRAMEWORK, hop_length_A: float = HOP_LENGTH_A):
        if not hop_length_A > 0:
            raise AnalysisError(f"hop_length_A must be > 0, got {hop_length_A!r}", key="hop_length_A")
        self.hop_length_A = float(hop_length_A)
        if int(n_blocks) != n_blocks or n_blocks < 1:
            raise AnalysisError(f"n_blocks must be a positive integer, got {n_blocks!r}", key="n_blocks")
        if not memory_limit_MB > 0:
            raise AnalysisError(f"memory_limit_MB must be > 0, got {memory_limit_MB!r}", key="memory_limit_MB")
        self.n_blocks = int(n_blocks)
        self.memory_limit_MB = float(memory_limit_MB)
        self.species = int(species)
        self.framework = tuple(int(z) for z in framework)
        self._block_msd = None

    def __repr__(self) -> str:
        return parameter_repr(self, computed=self._block_msd is not None)

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
        hops = np.zeros(sel.size, dtype=np.int64)
        dt = reader.frame_interval_ps
        hs = max(1, int(HOP_SAMPLING_PS / dt + 1e-9)) if dt > 0 else 1  # hop-count stride (frames)
        ref = None  # settled Li positions (drift-corrected), carried from block to block
        for b in range(self.n_blocks):
            frames = slice(b * L, (b + 1) * L)
            if len(slabs) == 1:  # the whole block fits: read once
                x = reader.read_positions(frames, slabs[0], check_unwrapped=True)
                com = _com(x, np.arange(slabs[0].start, slabs[0].stop), fw, masses)
                li = _take(x, slabs[0], sel) - com[:, None, :]
                del x
                msd_sum = fft_msd_sum(li)
                h, ref = count_hops(li[::hs], li[0] if ref is None else ref, self.hop_length_A)
                hops += h
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
                if ref is None:
                    ref = np.full((sel.size, 3), np.nan)
                for s in reader.atom_slabs(L, budget, sel):
                    x = reader.read_positions(frames, s, check_unwrapped=True)
                    li = _take(x, s, sel) - com[:, None, :]
                    msd_sum += fft_msd_sum(li)
                    k = (sel >= s.start) & (sel < s.stop)
                    start = np.where(np.isnan(ref[k]), li[0], ref[k])
                    h, ref[k] = count_hops(li[::hs], start, self.hop_length_A)
                    hops[k] += h
            block_msd[b] = msd_sum / sel.size
        self._block_msd = block_msd
        self._dt_ps = reader.frame_interval_ps
        self._n_atoms = int(sel.size)
        self._hops = hops
        return self

    # ------------------------------------------------------------------ results
    @property
    def hops_per_atom(self) -> np.ndarray:
        """Hops of each diffusing atom over the blocks (:func:`count_hops`), shape (n_atoms,)."""
        self._check()
        return self._hops.copy()

    @property
    def duration_ps(self) -> float:
        """Time covered by the blocks, ps."""
        self._check()
        return self._block_msd.size * self._dt_ps


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

    ``D`` is the mean of the block values. Its uncertainty combines two parts in quadrature:

    * the block error: the standard error of the block mean scaled by ``sqrt((n-1)/(n-3))`` (with
      only n blocks the error estimate is itself uncertain: Student t, n-1 degrees of freedom,
      variance (n-1)/(n-3)). The least-squares error of one fit is never used (the MSD points are
      strongly correlated);
    * the counting error of the hops (:func:`count_hops`): D is carried by ``N`` Li hops, a Poisson
      count, so it is uncertain by ``max(D / N, D_hop) sqrt(N + 1)`` with ``D_hop = a^2 / (6 N_Li t)``
      the D of one hop of length ``a`` (``hop_length_A``) in the run. With few hopping ions the
      block error alone is overconfident (blocks without a hop look alike); with no hop at all it
      would give D ~ 0 +- ~0. Then D_err is the 95 % Poisson upper limit ``3 D_hop`` instead.

    :attr:`hop_statistics` flags the regime: ``"ok"`` (>= ``min_hops`` hops), ``"poor"`` (fewer),
    ``"none"`` (no hop: D is an upper limit, not a measurement). On synthetic lattice gases with
    1-16 hopping ions out of 16 and 6-3000 hops, z = (D - D_true)/D_err has rms 0.8-1.0
    (tests/analysis/test_msd.py; the block error alone gives 1.2-1.4, and >> 1 when a run sees no hop).

    Parameters
    ----------
    fit_start_ps
        Start of the fit window (lag time, ps): skips the ballistic and caging regime.
    fit_end_fraction
        End of the window as a fraction of the block length.
    min_fit_points
        Minimum number of lags in the window.
    min_hops
        Fewer hops than this flag the result ``"poor"``.

    Raises
    ------
    AnalysisError
        For invalid parameters (the key names the parameter).
    """

    def __init__(self, fit_start_ps: float = 2.0, fit_end_fraction: float = 0.5, min_fit_points: int = 10,
                 min_hops: int = MIN_HOPS):
        if not fit_start_ps > 0:
            raise AnalysisError(f"fit_start_ps must be > 0, got {fit_start_ps!r}", key="fit_start_ps")
        if not 0 < fit_end_fraction <= 0.5:
            raise AnalysisError(f"fit_end_fraction must be in (0, 0.5], got {fit_end_fraction!r}",
                                key="fit_end_fraction")
        self.fit_start_ps = float(fit_start_ps)
        self.fit_end_fraction = float(fit_end_fraction)
        self.min_fit_points = int(min_fit_points)
        self.min_hops = int(min_hops)
        self._D_blocks = None

    def __repr__(self) -> str:
        return parameter_repr(self, computed=self._D_blocks is not None)

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
                f">= {self.min_fit_points} lags, i.e. >= {need_ps:g} ps of production, or an earlier fit start / fewer "
                "blocks ([analysis] fit_start_ps, n_blocks; lpsens analyze --fit-start-ps, --n-blocks)")
        tw = t[window]
        slopes = np.array([np.polyfit(tw, blk[window], 1)[0] for blk in blocks])
        self._D_blocks = slopes / 6.0
        self._window = (float(tw[0]), float(tw[-1]))
        # log-log slope of the block-mean MSD in the window: 1 in a diffusive regime
        mean = blocks.mean(axis=0)[window]
        self._alpha = float(np.polyfit(np.log(tw), np.log(mean), 1)[0]) if np.all(mean > 0) else math.nan
        hops = getattr(msd, "hops_per_atom", None)
        if hops is None:  # an MSD without per-ion hops (e.g. the collective MSD): block error only
            self._n_hops = self._n_hopping = None
            self._D_hop = None
            return self
        self._n_hops = int(hops.sum())
        self._n_hopping = int(np.count_nonzero(hops))
        self._D_hop = msd.hop_length_A**2 / (6.0 * msd.n_atoms * msd.duration_ps)
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
    def D_err_blocks_A2_ps(self) -> float:
        """Block error of D (standard error x sqrt((n-1)/(n-3))), Angstrom^2/ps."""
        self._check()
        n = self._D_blocks.size
        return float(self._D_blocks.std(ddof=1) / math.sqrt(n) * math.sqrt((n - 1) / (n - 3)))

    @property
    def D_err_counting_A2_ps(self) -> float:
        """Counting (Poisson) error of D from the number of hops, Angstrom^2/ps (see the class notes).

        0 for an MSD that carries no hop counts (the collective MSD).
        """
        self._check()
        n = self._n_hops
        if n is None:
            return 0.0
        if n == 0:
            return POISSON_UPPER_95 * self._D_hop
        return max(abs(self.D_A2_ps) / n, self._D_hop) * math.sqrt(n + 1)

    @property
    def D_err_A2_ps(self) -> float:
        """Uncertainty of D (block and counting errors in quadrature), Angstrom^2/ps."""
        return math.hypot(self.D_err_blocks_A2_ps, self.D_err_counting_A2_ps)

    @property
    def n_hops(self) -> int:
        """Li hops counted over the run (:func:`count_hops`)."""
        self._check()
        return self._n_hops

    @property
    def n_hopping(self) -> int:
        """Number of Li that hopped at least once."""
        self._check()
        return self._n_hopping

    @property
    def hop_statistics(self) -> str:
        """``"ok"``, ``"poor"`` (fewer than ``min_hops`` hops) or ``"none"`` (no hop: D is an upper limit).

        ``"unknown"`` for an MSD that carries no hop counts (the collective MSD).
        """
        self._check()
        if self._n_hops is None:
            return "unknown"
        return "none" if self._n_hops == 0 else ("poor" if self._n_hops < self.min_hops else "ok")

    @property
    def D_cm2_s(self) -> float:
        return self.D_A2_ps * A2_PS_TO_CM2_S

    @property
    def D_err_cm2_s(self) -> float:
        return self.D_err_A2_ps * A2_PS_TO_CM2_S

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
