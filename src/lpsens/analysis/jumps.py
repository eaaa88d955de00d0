"""Li jumps between residence sites and their coupling to anion re-orientations (the paddle-wheel question).

Jump criterion (a displacement criterion with hysteresis, no predefined sites): each Li position is
smoothed by a moving average over ``smooth_ps`` (removes the thermal vibration); the Li has an anchor,
the smoothed position at its start and after each jump. A jump is counted when the smoothed position
is ``jump_distance_A`` or more away from the anchor; the anchor then moves to the smoothed position
``settle_ps`` later (the new site). Rattling in a site never reaches the threshold, and a Li that
oscillates around the half-way point is not counted twice (the anchor has moved: the hysteresis).
The default threshold (1.5 A) is about half the Li-Li site distance in Li3PS4 and Li7P3S11
(2.5-3.5 A). The same detector with an angle counts anion re-orientations
(:mod:`lpsens.analysis.rotations`).

Dead time: after a counted jump the detector is blind until the anchor is re-set, about
``smooth_frames / 2`` frames (the smoothed signal lags the jump) plus ``settle_frames``; a second jump
inside that time is lost. Rates are corrected as for a non-paralysable counter with this dead time
``tau_d``: ``rate = m / (1 - m tau_d)`` with ``m`` the measured rate per item (exact for Poisson
events; checked against synthetic hops and flips in the tests). Keep ``smooth_ps`` well below the
residence time; a correction of more than a few tens of percent means the smoothing is too long.

The sites are thus found from the trajectory itself (each residence is a site visit). The mean
residence time is the mean length of the complete residences (between two jumps of the same Li).
"""

from __future__ import annotations

import math

import numpy as np

from lpsens.analysis.msd import LI
from lpsens.errors import AnalysisError, InsufficientDataError

__all__ = ["AnchoredJumps", "LiJumps", "Paddlewheel", "minimum_image_A", "dead_time_corrected"]


def dead_time_corrected(rate: float, dead_time: float) -> float:
    """Rate of a non-paralysable counter corrected for its dead time: ``m / (1 - m tau_d)`` (NaN if m tau_d >= 1)."""
    x = rate * dead_time
    return rate / (1.0 - x) if x < 1 else math.nan


def minimum_image_A(d, cell) -> np.ndarray:
    """Minimum-image version of difference vectors ``d`` (Angstrom, shape (..., 3)) in a periodic ``cell``."""
    cell = np.asarray(cell, float)
    frac = np.asarray(d, float) @ np.linalg.inv(cell)
    frac -= np.round(frac)
    return frac @ cell


class AnchoredJumps:
    """Streaming jump detector for ``n`` vectors with an anchor and a threshold (see the module text).

    Parameters
    ----------
    threshold
        Distance (Angstrom) for ``metric="distance"``, angle in degrees for ``metric="angle"``.
    metric
        ``"distance"`` (Euclidean, positions) or ``"angle"`` (between directions, vectors of any length).
    smooth_frames
        Width of the trailing moving average; event frames are shifted back by ``(smooth_frames - 1) // 2``
        so that they are centred.
    settle_frames
        The anchor is re-set this many frames after a counted jump (default ``smooth_frames``).

    Raises
    ------
    AnalysisError
        Bad threshold, metric or widths.
    """

    def __init__(self, threshold: float, metric: str = "distance", smooth_frames: int = 5,
                 settle_frames: int | None = None):
        if metric not in ("distance", "angle"):
            raise AnalysisError(f"metric must be 'distance' or 'angle', got {metric!r}", key="metric")
        if not threshold > 0 or (metric == "angle" and not threshold < 180):
            raise AnalysisError(f"threshold must be > 0 (and < 180 degrees for angles), got {threshold!r}",
                                key="threshold")
        if int(smooth_frames) < 1:
            raise AnalysisError(f"smooth_frames must be >= 1, got {smooth_frames!r}", key="smooth_frames")
        self.threshold = float(threshold)
        self.metric = metric
        self.smooth_frames = int(smooth_frames)
        self.settle_frames = self.smooth_frames if settle_frames is None else max(1, int(settle_frames))
        self._tail = None
        self._n = 0
        self._items, self._frames, self._where = [], [], []

    def __repr__(self):
        return (f"AnchoredJumps(threshold={self.threshold:g}, metric={self.metric!r}, "
                f"smooth_frames={self.smooth_frames}, settle_frames={self.settle_frames})")

    def _exceeds(self, s, anchor):
        if self.metric == "distance":
            return np.sum((s - anchor) ** 2, axis=-1) >= self.threshold**2
        num = np.sum(s * anchor, axis=-1)
        den = np.linalg.norm(s, axis=-1) * np.linalg.norm(anchor, axis=-1)
        return num <= math.cos(math.radians(self.threshold)) * den

    def feed(self, x) -> None:
        """Add the next frames, shape (n_chunk_frames, n, 3)."""
        x = np.asarray(x, float)
        C = x.shape[0]
        if C == 0:
            return
        w = self.smooth_frames
        ext = x if self._tail is None else np.concatenate([self._tail, x])
        h = ext.shape[0] - C  # frames of history in front
        cs = np.concatenate([np.zeros((1,) + ext.shape[1:]), np.cumsum(ext, axis=0)])
        t = np.arange(h, h + C)
        lo = np.maximum(t + 1 - w, 0)
        s = (cs[t + 1] - cs[lo]) / (t + 1 - lo)[:, None, None]
        self._tail = ext[-(w - 1):] if w > 1 else None
        off = self._n
        if off == 0:
            self._anchor = s[0].copy()
            self._pending = np.full(x.shape[1], -1, np.int64)
            self._free = np.zeros(x.shape[1], np.int64)
        shift = (w - 1) // 2
        frames = np.arange(off, off + C)
        while True:
            due = np.flatnonzero((self._pending >= off) & (self._pending < off + C))
            if due.size:
                self._anchor[due] = s[self._pending[due] - off, due]
                self._free[due] = self._pending[due]
                self._pending[due] = -1
            active = np.flatnonzero((self._pending < 0) & (self._free < off + C))
            if active.size == 0:
                break
            start = int(max(self._free[active].min() - off, 0))
            mask = self._exceeds(s[start:, active], self._anchor[active]) & (
                frames[start:, None] >= self._free[active][None, :])
            hit = mask.any(axis=0)
            if not hit.any():
                break
            items = active[hit]
            first = mask[:, hit].argmax(axis=0) + start
            self._items.append(items)
            self._frames.append(off + first - shift)
            self._where.append(s[first, items])
            self._pending[items] = off + first + self.settle_frames
            self._free[active[~hit]] = off + C
        self._n += C

    @property
    def dead_frames(self) -> float:
        """Dead time after a counted jump, frames (see the module text)."""
        return self.settle_frames + self.smooth_frames / 2.0

    @property
    def n_frames(self) -> int:
        """Frames fed so far."""
        return self._n

    def events(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(item index, frame, smoothed vector at the crossing), sorted by frame; shapes (k,), (k,), (k, 3)."""
        if not self._items:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3))
        items = np.concatenate(self._items)
        frames = np.maximum(np.concatenate(self._frames), 0)
        where = np.concatenate(self._where)
        order = np.lexsort((items, frames))
        return items[order], frames[order], where[order]


def _residences(items, frames, n_items) -> np.ndarray:
    """Lengths (frames) of the complete residences: between consecutive events of the same item."""
    out = []
    for k in range(n_items):
        f = np.sort(frames[items == k])
        if f.size > 1:
            out.append(np.diff(f))
    return np.concatenate(out) if out else np.zeros(0)


class LiJumps:
    """Li jump events, jump rate per ion and mean residence time (criterion: see the module text).

    Parameters
    ----------
    jump_distance_A
        Displacement from the anchor that counts as a jump, Angstrom.
    smooth_ps
        Moving-average window that removes vibrations, ps (should be well below the residence time).
    memory_limit_MB
        Budget for one frame chunk of Li positions.
    species
        Atomic number of the mobile ion.

    Raises
    ------
    AnalysisError
        Non-positive parameters.
    """

    def __init__(self, jump_distance_A: float = 1.5, smooth_ps: float = 0.5, memory_limit_MB: float = 64.0,
                 species: int = LI):
        if not jump_distance_A > 0:
            raise AnalysisError(f"jump_distance_A must be > 0, got {jump_distance_A!r}", key="jump_distance_A")
        if not smooth_ps >= 0:
            raise AnalysisError(f"smooth_ps must be >= 0, got {smooth_ps!r}", key="jump_smooth_ps")
        if not memory_limit_MB > 0:
            raise AnalysisError(f"memory_limit_MB must be > 0, got {memory_limit_MB!r}", key="memory_limit_MB")
        self.jump_distance_A = float(jump_distance_A)
        self.smooth_ps = float(smooth_ps)
        self.memory_limit_MB = float(memory_limit_MB)
        self.species = int(species)
        self._items = None

    def __repr__(self):
        return f"LiJumps(jump_distance_A={self.jump_distance_A:g}, smooth_ps={self.smooth_ps:g})"

    def compute(self, reader) -> LiJumps:
        """Detect the jumps in a :class:`~lpsens.analysis.reader.TrajectoryReader`; returns self.

        Raises
        ------
        InsufficientDataError
            No Li or fewer than 2 frames.
        """
        numbers = reader.numbers
        sel = np.flatnonzero(numbers == self.species)
        if sel.size == 0:
            raise InsufficientDataError(f"no atoms with atomic number {self.species}", file=reader.path,
                                        key="/numbers")
        if reader.n_frames < 2:
            raise InsufficientDataError("fewer than 2 frames", file=reader.path, key="n_frames")
        dt = reader.frame_interval_ps
        w = max(1, int(round(self.smooth_ps / dt)))
        det = AnchoredJumps(self.jump_distance_A, "distance", w)
        span = slice(int(sel.min()), int(sel.max()) + 1)
        chunk = max(4 * w, min(1024, int(self.memory_limit_MB * 2**20 / ((span.stop - span.start) * 24 * 4))))
        sub = max(2 * w, 128)  # the detector's work per frame grows with the chunk it scans: feed it small pieces
        for start in range(0, reader.n_frames, chunk):
            x = reader.read_positions(slice(start, min(start + chunk, reader.n_frames)), span)[:, sel - span.start, :]
            for k in range(0, x.shape[0], sub):
                det.feed(x[k:k + sub])
        self._items, self._frames, self._where = det.events()
        self._dead_ps = det.dead_frames * dt
        self._dt = dt
        self._n_li = int(sel.size)
        self._n_frames = reader.n_frames
        self._cell = reader.cell
        return self

    def _check(self):
        if self._items is None:
            raise AnalysisError("LiJumps.compute() has not been called")

    @property
    def n_jumps(self) -> int:
        self._check()
        return int(self._items.size)

    @property
    def dead_time_ps(self) -> float:
        """Detector dead time after a counted jump, ps."""
        self._check()
        return self._dead_ps

    @property
    def measured_jumps_per_ps_per_ion(self) -> float:
        """Counted jumps per ps per Li over the observed time ``n_frames x frame interval`` (no correction)."""
        self._check()
        return self.n_jumps / (self._n_li * self._n_frames * self._dt)

    @property
    def jumps_per_ps_per_ion(self) -> float:
        """Jump rate per Li, ps^-1, corrected for the dead time (:func:`dead_time_corrected`)."""
        return dead_time_corrected(self.measured_jumps_per_ps_per_ion, self.dead_time_ps)

    @property
    def jumps_per_ps_per_ion_err(self) -> float:
        """Poisson standard error of the jump rate (``sqrt(n_jumps)`` counting error, same correction factor)."""
        self._check()
        m = self.measured_jumps_per_ps_per_ion
        rel = 1.0 / math.sqrt(max(self.n_jumps, 1))
        return self.jumps_per_ps_per_ion * rel if m > 0 else 1.0 / (self._n_li * self._n_frames * self._dt)

    @property
    def residence_time_ps(self) -> float:
        """Mean complete residence time, ps (NaN if no Li jumped twice)."""
        self._check()
        r = _residences(self._items, self._frames, self._n_li)
        return float(r.mean() * self._dt) if r.size else math.nan

    @property
    def event_ion(self) -> np.ndarray:
        """Index (among the Li) of each jump, shape (n_jumps,)."""
        self._check()
        return self._items.copy()

    @property
    def event_time_ps(self) -> np.ndarray:
        """Time of each jump from the first frame, ps, shape (n_jumps,)."""
        self._check()
        return self._frames * self._dt

    @property
    def cell(self) -> np.ndarray:
        """Cell vectors of the trajectory as rows, Angstrom, shape (3, 3)."""
        self._check()
        return self._cell.copy()

    @property
    def event_position_A(self) -> np.ndarray:
        """Smoothed Li position at each jump (about half-way between the sites), Angstrom, shape (n_jumps, 3)."""
        self._check()
        return self._where.copy()


class Paddlewheel:
    """Coincidence of Li jumps with anion re-orientations, against a shuffled-time baseline.

    A coincidence is a (Li jump, anion re-orientation) pair closer than ``window_ps`` in time whose P
    is within ``distance_A`` (minimum image) of the jumping Li. The baseline shifts the event times of
    each anion by an independent random offset (circularly over the run): the rate and the clustering
    of each anion's events are kept, only their timing relative to the Li jumps is destroyed.
    ``enrichment = observed / mean(baseline)``: 1 means no coupling, > 1 Li jumps with nearby rotations.
    Its error combines the spread of a count under the baseline (scaled to the observed count; it
    includes the clustering of events, which a Poisson error would miss) with the standard error of
    the baseline mean.

    Parameters
    ----------
    window_ps
        Half-width of the time window, ps.
    distance_A
        Li-P distance, Angstrom.
    n_shuffles
        Number of shuffled baselines.
    seed
        Random seed of the shuffles.

    Raises
    ------
    AnalysisError
        Non-positive parameters.
    """

    def __init__(self, window_ps: float = 1.0, distance_A: float = 5.0, n_shuffles: int = 50, seed: int = 0):
        if not window_ps > 0 or not distance_A > 0 or int(n_shuffles) < 2:
            raise AnalysisError(f"need window_ps > 0, distance_A > 0 and n_shuffles >= 2, got {window_ps!r}, "
                                f"{distance_A!r}, {n_shuffles!r}", key="paddlewheel")
        self.window_ps = float(window_ps)
        self.distance_A = float(distance_A)
        self.n_shuffles = int(n_shuffles)
        self.seed = int(seed)
        self._E = None

    def __repr__(self):
        return f"Paddlewheel(window_ps={self.window_ps:g}, distance_A={self.distance_A:g}, n_shuffles={self.n_shuffles})"

    def compute(self, jumps: LiJumps, rotations) -> Paddlewheel:
        """Count coincidences of a computed :class:`LiJumps` and :class:`~lpsens.analysis.rotations.AnionRotations`.

        Raises
        ------
        InsufficientDataError
            No Li jumps or no anion re-orientations (nothing to correlate).
        """
        t_li = jumps.event_time_ps
        if t_li.size == 0 or rotations.event_anion.size == 0:
            raise InsufficientDataError(f"{t_li.size} Li jumps and {rotations.event_anion.size} anion re-orientations: "
                                        "no coincidences to count", key="paddlewheel")
        duration = rotations.duration_ps
        where = jumps.event_position_A
        near = np.zeros((t_li.size, rotations.n_anions), bool)
        for k in range(0, t_li.size, 4096):  # bounded memory: (events x anions x 3) in pieces
            p_pos = rotations.centre_at(t_li[k:k + 4096])
            d = np.linalg.norm(minimum_image_A(p_pos - where[k:k + 4096, None, :], jumps.cell), axis=-1)
            near[k:k + 4096] = d <= self.distance_A
        # integer frames: the events live on the frame grid; exact arithmetic keeps the window edges
        # identical for the observed and the shifted trains
        dt = rotations.frame_interval_ps
        n_frames = max(1, int(round(duration / dt)))
        w = int(round(self.window_ps / dt))
        f_li = np.rint(t_li / dt).astype(np.int64)
        f_an = np.rint(rotations.event_time_ps / dt).astype(np.int64)
        trains = [np.sort(f_an[rotations.event_anion == a]) for a in range(rotations.n_anions)]

        def count(shifts):
            total = 0
            for a, fa in enumerate(trains):
                if fa.size == 0 or not near[:, a].any():
                    continue
                fl = f_li[near[:, a]]
                fs = np.sort((fa + shifts[a]) % n_frames)
                ext = np.concatenate([fs - n_frames, fs, fs + n_frames])  # circular time
                total += int(np.sum(np.searchsorted(ext, fl + w, "right") - np.searchsorted(ext, fl - w, "left")))
            return total

        rng = np.random.default_rng(self.seed)
        self._obs = count(np.zeros(len(trains), np.int64))
        self._base = np.array([count(rng.integers(0, n_frames, len(trains))) for _ in range(self.n_shuffles)],
                              float)
        mb = self._base.mean()
        if mb == 0:
            self._E, self._err = math.nan, math.nan
        else:
            sd_b = self._base.std(ddof=1)
            self._E = self._obs / mb
            # variance of the observed count: the null spread of a count (it includes the clustering
            # of events, unlike a Poisson error) scaled to the observed count; plus the baseline sem
            var_obs = sd_b**2 * max(self._obs, 1) / mb
            self._err = math.sqrt(var_obs / mb**2 + self._E**2 * sd_b**2 / self.n_shuffles / mb**2)
        return self

    def _check(self):
        if self._E is None:
            raise AnalysisError("Paddlewheel.compute() has not been called")

    @property
    def observed(self) -> int:
        """Coincident (Li jump, anion re-orientation) pairs."""
        self._check()
        return self._obs

    @property
    def baseline(self) -> float:
        """Mean coincidences over the shuffled baselines."""
        self._check()
        return float(self._base.mean())

    @property
    def enrichment(self) -> float:
        self._check()
        return self._E

    @property
    def enrichment_err(self) -> float:
        self._check()
        return self._err
