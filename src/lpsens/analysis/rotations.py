"""Re-orientation of the P-centred tetrahedra (PS4, and each half of P2S7): C1(t), tau1 and large jumps.

For every P-S bond found in the first frame (P-S closer than ``bond_cutoff_PS_A``, minimum image)
the unit vector ``u(t)`` from P to S (minimum image, so wrapped or unwrapped positions both work)
gives the first-order orientational correlation ``C1(t) = <u(t0) . u(t0 + t)>`` over all time origins
(FFT, per time block) and bonds. A tetrahedron is "PS4" if its P has four S that are bonded to no
other P, "P2S7" if it shares one S with one other P, "other" otherwise (all at the first frame).

tau1 (the integral definition of a correlation time) is ``integral_0^t_c C1(t) dt + C1(t_c) tau_tail``
over lags up to half a block: ``t_c`` is the first lag at which C1 falls below 0.1 (or half a block),
and the tail beyond it, where C1 is dominated by noise, is the exponential ``C1(t_c) exp(-(t - t_c) /
tau_tail)`` with ``tau_tail`` from a straight line fitted to ``ln C1`` where 0.1 < C1 <= 0.5.
(Integrating the noisy data to the first zero crossing instead biases tau1 upwards: positive noise
excursions delay the crossing.) If C1 has not fallen below 0.1 within half a block, tau1 rests on
the extrapolated tail and ``tau1_converged`` is False (if C1 does not decay at all, tau1 is only
the lower bound ``integral_0^t_max C1``). tau1 is computed per block; its error is the standard error
of the block mean scaled by ``sqrt((n-1)/(n-3))`` (as for D).

A large re-orientation is a jump of a bond direction by >= ``jump_angle_deg`` (default 90 degrees)
counted with :class:`~lpsens.analysis.jumps.AnchoredJumps` (vibration-smoothed direction against an
anchor that moves after each counted jump: the hysteresis). Bond jumps of the same tetrahedron within
the settle time are one event of that tetrahedron (a 180-degree flip moves all four bonds).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
from ase import Atoms
from ase.neighborlist import neighbor_list

from lpsens.analysis.jumps import AnchoredJumps, dead_time_corrected, minimum_image_A
from lpsens.chemistry import BOND_PS_A
from lpsens.errors import AnalysisError, InsufficientDataError

__all__ = ["AnionRotations", "orientational_c1", "tau_from_c1", "TETRAHEDRON_KINDS"]

_P, _S = 15, 16
TETRAHEDRON_KINDS = ("PS4", "P2S7", "other")


def orientational_c1(u) -> np.ndarray:
    """All-origin ``C1(m) = <u(k) . u(k + m)>_{k, bonds}`` by FFT.

    Parameters
    ----------
    u
        Unit vectors, shape (n_frames, n_bonds, 3).

    Returns
    -------
    ndarray, shape (n_frames,)
    """
    u = np.asarray(u, float)
    n = u.shape[0]
    nfft = scipy.fft.next_fast_len(2 * n, real=True)
    f = scipy.fft.rfft(u, n=nfft, axis=0, workers=1)
    corr = scipy.fft.irfft((f.real**2 + f.imag**2).sum(axis=(1, 2)), n=nfft, workers=1)[:n]
    return corr / (np.arange(n, 0, -1) * u.shape[1])


def tau_from_c1(c1, dt_ps: float, cut: float = 0.1) -> tuple[float, bool]:
    """tau1 (ps) from C1 on lags ``0..len(c1)-1`` (rule in the module text) and whether it converged.

    Parameters
    ----------
    c1
        C1 at lags 0, dt, 2 dt, ..., shape (n_lags,).
    dt_ps
        Lag spacing, ps.
    cut
        C1 level below which the data are replaced by the fitted exponential tail.
    """
    c1 = np.asarray(c1, float)
    t = np.arange(c1.size) * dt_ps
    below = np.flatnonzero(c1 < cut)
    m = int(below[0]) if below.size else c1.size - 1
    head = float(np.trapezoid(c1[:m + 1], t[:m + 1]))
    # exponential tail fitted where C1 is well above the noise: from C1 = 0.5 down to the cut
    fit = np.flatnonzero((c1[:m + 1] <= 0.5) & (c1[:m + 1] > 0))
    if fit.size < 3:
        fit = np.arange(max(0, m - 2), m + 1)
        fit = fit[c1[fit] > 0]
    slope = np.polyfit(t[fit], np.log(c1[fit]), 1)[0] if fit.size >= 2 else 0.0
    if slope < 0 and c1[m] > 0:
        return head + float(c1[m] / -slope), bool(below.size)
    return head, bool(below.size)


class AnionRotations:
    """C1(t), tau1 and large re-orientation rates of the P-centred tetrahedra of a trajectory.

    Parameters
    ----------
    n_blocks
        Time blocks for C1 and the tau1 error (>= 4).
    bond_cutoff_PS_A
        P-S bond cutoff at the first frame, Angstrom.
    jump_angle_deg
        Angle of a large re-orientation.
    smooth_ps
        Moving-average window of the bond directions before jump counting, ps.
    memory_limit_MB
        Budget for a frame chunk of P/S positions and for one block of bond vectors.
    max_centre_samples
        P positions are kept at most this many (evenly strided) times, for :meth:`centre_at`.

    Raises
    ------
    AnalysisError
        Bad parameters.
    """

    def __init__(self, n_blocks: int = 8, bond_cutoff_PS_A: float = BOND_PS_A, jump_angle_deg: float = 90.0,
                 smooth_ps: float = 0.3, memory_limit_MB: float = 256.0, max_centre_samples: int = 2000):
        if int(n_blocks) != n_blocks or n_blocks < 4:
            raise AnalysisError(f"n_blocks must be an integer >= 4, got {n_blocks!r}", key="n_blocks")
        if not 1.5 <= bond_cutoff_PS_A <= 3.2:
            raise AnalysisError(f"must be in [1.5, 3.2] Angstrom, got {bond_cutoff_PS_A!r}", key="bond_cutoff_PS_A")
        if not 0 < jump_angle_deg < 180:
            raise AnalysisError(f"must be in (0, 180) degrees, got {jump_angle_deg!r}", key="rotation_jump_angle_deg")
        if not smooth_ps >= 0:
            raise AnalysisError(f"must be >= 0, got {smooth_ps!r}", key="rotation_smooth_ps")
        self.n_blocks = int(n_blocks)
        self.bond_cutoff_PS_A = float(bond_cutoff_PS_A)
        self.jump_angle_deg = float(jump_angle_deg)
        self.smooth_ps = float(smooth_ps)
        self.memory_limit_MB = float(memory_limit_MB)
        self.max_centre_samples = int(max_centre_samples)
        self._tau = None

    def __repr__(self):
        return (f"AnionRotations(n_blocks={self.n_blocks}, bond_cutoff_PS_A={self.bond_cutoff_PS_A:g}, "
                f"jump_angle_deg={self.jump_angle_deg:g}, smooth_ps={self.smooth_ps:g})")

    # ------------------------------------------------------------------ bonds
    def _bonds(self, numbers, x0, cell):
        sel = np.flatnonzero(np.isin(numbers, (_P, _S)))
        atoms = Atoms(numbers=numbers[sel], positions=x0[sel], cell=cell, pbc=True)
        i, j = neighbor_list("ij", atoms, {(_P, _S): self.bond_cutoff_PS_A})
        keep = (numbers[sel][i] == _P) & (numbers[sel][j] == _S)
        p, s = sel[i[keep]], sel[j[keep]]
        order = np.lexsort((s, p))
        p, s = p[order], s[order]
        p_atoms = np.flatnonzero(numbers == _P)
        n_p_of_s = {int(k): int(v) for k, v in zip(*np.unique(s, return_counts=True), strict=True)}
        kind = {}
        for a in p_atoms:
            mine = s[p == a]
            shared = sum(n_p_of_s[int(k)] > 1 for k in mine)
            kind[int(a)] = "PS4" if mine.size == 4 and shared == 0 else ("P2S7" if mine.size == 4 and shared == 1
                                                                        else "other")
        return p, s, p_atoms, kind

    def compute(self, reader) -> AnionRotations:
        """Analyse a :class:`~lpsens.analysis.reader.TrajectoryReader`; returns self.

        Raises
        ------
        InsufficientDataError
            No P-S bonds at the first frame, or fewer than 8 frames per block.
        """
        numbers = reader.numbers
        n = reader.n_frames
        L = n // self.n_blocks
        if L < 8:
            raise InsufficientDataError(f"{n} frames give blocks of {L} < 8 frames for C1; run longer or use fewer "
                                        "blocks", file=reader.path, key="n_frames")
        cell = reader.cell
        ps = np.flatnonzero(np.isin(numbers, (_P, _S)))
        if not np.any(numbers == _P):
            raise InsufficientDataError("no P atoms: no tetrahedra to rotate", file=reader.path, key="/numbers")
        span = slice(int(ps.min()), int(ps.max()) + 1)
        x0 = np.zeros((reader.n_atoms, 3))
        x0[span] = reader.read_positions(slice(0, 1), span)[0]
        p, s, p_atoms, kind = self._bonds(numbers, x0, cell)
        if p.size == 0:
            raise InsufficientDataError(f"no P-S bond shorter than {self.bond_cutoff_PS_A} A in the first frame",
                                        file=reader.path, key="bond_cutoff_PS_A")
        dt = reader.frame_interval_ps
        anion_of_bond = np.searchsorted(p_atoms, p)
        bond_kind = np.array([kind[int(a)] for a in p])
        w = max(1, int(round(self.smooth_ps / dt)))
        det = AnchoredJumps(self.jump_angle_deg, "angle", w)
        n_lag = L // 2 + 1
        c1 = {k: np.zeros((self.n_blocks, n_lag)) for k in TETRAHEDRON_KINDS if np.any(bond_kind == k)}
        block = np.zeros((L, p.size, 3))
        stride = max(1, math.ceil(n / self.max_centre_samples))
        centres, centre_frames = [], []
        chunk = max(1, min(L, int(self.memory_limit_MB * 2**20 / ((span.stop - span.start) * 24 * 4))))
        n_used = L * self.n_blocks
        slab = max(1, int(self.memory_limit_MB * 2**20 / (L * 24 * 6)))
        for start in range(0, n_used, chunk):
            stop = min(start + chunk, n_used)
            x = reader.read_positions(slice(start, stop), span)
            d = minimum_image_A(x[:, s - span.start, :] - x[:, p - span.start, :], cell)
            u = d / np.linalg.norm(d, axis=-1, keepdims=True)
            for k in range(0, u.shape[0], max(2 * w, 128)):  # small pieces: see LiJumps.compute
                det.feed(u[k:k + max(2 * w, 128)])
            keep = np.arange(start, stop)
            keep = keep[keep % stride == 0]
            centres.append(x[keep - start][:, p_atoms - span.start, :])
            centre_frames.append(keep)
            # copy into the block buffer; a finished block is correlated at once
            pos = start
            while pos < stop:
                b, off = divmod(pos, L)
                m = min(stop - pos, L - off)
                block[off:off + m] = u[pos - start:pos - start + m]
                pos += m
                if off + m == L:
                    for k, arr in c1.items():
                        idx = np.flatnonzero(bond_kind == k)
                        acc = np.zeros(L)
                        for g in range(0, idx.size, slab):
                            part = idx[g:g + slab]
                            acc += orientational_c1(block[:, part, :]) * part.size
                        arr[b] = (acc / idx.size)[:n_lag]
        items, frames, _ = det.events()
        # one event per tetrahedron when several of its bonds jump within the settle time
        a_ev, f_ev = anion_of_bond[items], frames
        order = np.lexsort((f_ev, a_ev))
        a_ev, f_ev = a_ev[order], f_ev[order]
        new = np.ones(a_ev.size, bool)
        if a_ev.size > 1:
            new[1:] = (a_ev[1:] != a_ev[:-1]) | (np.diff(f_ev) > det.settle_frames)
        self._event_anion, self._event_frame = a_ev[new], f_ev[new]
        self._c1 = c1
        self._dead_ps = det.dead_frames * dt
        self._dt = dt
        self._n_used = n_used
        self._kind = np.array([kind[int(a)] for a in p_atoms])
        self._centres = np.concatenate(centres, axis=0)
        self._centre_t = np.concatenate(centre_frames) * dt
        self._tau = {}
        for k, arr in c1.items():
            taus = [tau_from_c1(row, dt) for row in arr]
            self._tau[k] = (np.array([t for t, _ in taus]), all(ok for _, ok in taus))
        self._cell = cell
        return self

    # ------------------------------------------------------------------ results
    def _check(self):
        if self._tau is None:
            raise AnalysisError("AnionRotations.compute() has not been called")

    @property
    def kinds(self) -> list[str]:
        """Tetrahedron kinds present (of ``PS4``, ``P2S7``, ``other``)."""
        self._check()
        return list(self._c1)

    def lag_time_ps(self) -> np.ndarray:
        """Lags of :meth:`c1`, ps, shape (block_frames // 2 + 1,)."""
        self._check()
        return np.arange(next(iter(self._c1.values())).shape[1]) * self._dt

    def c1(self, kind: str = "PS4") -> np.ndarray:
        """Block-mean C1 of the bonds of ``kind`` tetrahedra, shape (n_lags,)."""
        self._check()
        return self._c1[kind].mean(axis=0) if kind in self._c1 else np.full(self.lag_time_ps().size, math.nan)

    def tau1_ps(self, kind: str = "PS4") -> float:
        """Mean over blocks of tau1, ps (NaN if no tetrahedron of ``kind``)."""
        self._check()
        return float(self._tau[kind][0].mean()) if kind in self._tau else math.nan

    def tau1_err_ps(self, kind: str = "PS4") -> float:
        """Standard error of :meth:`tau1_ps` (block spread, scaled by sqrt((n-1)/(n-3)))."""
        self._check()
        if kind not in self._tau:
            return math.nan
        v = self._tau[kind][0]
        return float(v.std(ddof=1) / math.sqrt(v.size) * math.sqrt((v.size - 1) / (v.size - 3)))

    def tau1_converged(self, kind: str = "PS4") -> bool:
        """False if tau1 is only a lower bound in some block (C1 did not decay within half a block)."""
        self._check()
        return bool(self._tau.get(kind, (None, False))[1])

    def reorientations_per_ps(self, kind: str = "PS4") -> float:
        """Large re-orientation events per tetrahedron of ``kind`` per ps, corrected for the detector dead
        time (:func:`~lpsens.analysis.jumps.dead_time_corrected`); NaN if there is no tetrahedron of ``kind``."""
        self._check()
        members = np.flatnonzero(self._kind == kind)
        if members.size == 0:
            return math.nan
        n_ev = int(np.isin(self._event_anion, members).sum())
        return dead_time_corrected(n_ev / (members.size * self._n_used * self._dt), self._dead_ps)

    @property
    def dead_time_ps(self) -> float:
        """Detector dead time after a counted re-orientation, ps."""
        self._check()
        return self._dead_ps

    @property
    def n_anions(self) -> int:
        """Number of P-centred tetrahedra."""
        self._check()
        return int(self._kind.size)

    @property
    def duration_ps(self) -> float:
        """Observed time (frames used x frame interval), ps."""
        self._check()
        return self._n_used * self._dt

    @property
    def frame_interval_ps(self) -> float:
        self._check()
        return self._dt

    @property
    def event_anion(self) -> np.ndarray:
        """Tetrahedron index of each large re-orientation, shape (n_events,)."""
        self._check()
        return self._event_anion.copy()

    @property
    def event_time_ps(self) -> np.ndarray:
        """Time of each large re-orientation, ps, shape (n_events,)."""
        self._check()
        return self._event_frame * self._dt

    def centre_at(self, time_ps) -> np.ndarray:
        """P positions at the stored sample nearest to each time, Angstrom, shape (n_times, n_anions, 3)."""
        self._check()
        k = np.clip(np.searchsorted(self._centre_t, np.asarray(time_ps, float)), 0, self._centre_t.size - 1)
        return self._centres[k]
