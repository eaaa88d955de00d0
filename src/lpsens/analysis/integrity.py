"""Chemistry integrity of a whole trajectory: broken frames and the unit census over time.

Every frame is checked with :func:`lpsens.chemistry.check_frame` (the same check the MD task
runs at its segment boundaries) and classified with :func:`lpsens.chemistry.unit_census`.
A job is *broken* if any frame is; in a crystal (any material but a glass), a P leaving
PS4/P2S7 is flagged too (``crystal_units_lost``), measured against the first frame so that a
crystal built with other units (Li4P2S6) is judged by its own.
"""

from __future__ import annotations

import numpy as np

from lpsens.chemistry import (
    CRYSTAL_UNIT_KINDS,
    UNIT_KINDS,
    ChemistryLimits,
    check_frame,
    unit_census,
)
from lpsens.errors import AnalysisError, InsufficientDataError

__all__ = ["ChemistryIntegrity", "integrity_summary"]


class ChemistryIntegrity:
    """Broken-chemistry check and unit census of every frame of a trajectory.

    Parameters
    ----------
    limits
        Thresholds and bond cutoffs (default :class:`~lpsens.chemistry.ChemistryLimits()`).
    crystal
        True if the material is a crystal (P leaving PS4/P2S7 is flagged), False for a glass.
    max_frames
        Frames analysed at most (evenly strided; every frame of a 100 ps run sampled every
        50 fs). The MD task itself checks every frame while it runs.

    Raises
    ------
    AnalysisError
        ``max_frames`` < 1; ``compute`` before results are read.
    """

    def __init__(self, limits: ChemistryLimits | None = None, *, crystal: bool, max_frames: int = 2000):
        if isinstance(max_frames, bool) or int(max_frames) != max_frames or max_frames < 1:
            raise AnalysisError(f"must be an integer >= 1, got {max_frames!r}", key="analysis.integrity_max_frames")
        self.limits = limits or ChemistryLimits()
        self.crystal = bool(crystal)
        self.max_frames = int(max_frames)
        self._broken = None

    def __repr__(self) -> str:
        state = "not computed" if self._broken is None else (
            f"{int(self._broken.sum())}/{self._broken.size} frames broken")
        return f"ChemistryIntegrity(crystal={self.crystal}, limits={self.limits}, max_frames={self.max_frames}): {state}"

    def compute(self, reader) -> ChemistryIntegrity:
        """Check every (sampled) frame of a :class:`TrajectoryReader`; returns self.

        Raises
        ------
        InsufficientDataError
            The trajectory has no frames.
        """
        if reader.n_frames < 1:
            raise InsufficientDataError("no frames", file=reader.path, key="n_frames")
        numbers, cell = reader.numbers, reader.cell
        is_p = numbers == 15
        stride = reader.frame_stride(self.max_frames)
        frames, broken, n_viol, first, census, outside = [], [], [], None, [], []
        block = 256 * stride
        for start in range(0, reader.n_frames, block):
            positions = reader.read_positions(slice(start, min(start + block, reader.n_frames), stride))
            for k, x in enumerate(positions):
                f = start + k * stride
                found = check_frame(numbers, x, cell, self.limits)
                frames.append(f)
                broken.append(bool(found))
                n_viol.append(len(found))
                if found and first is None:
                    first = (f, found[0])
                if np.isfinite(x).all():
                    c = unit_census(numbers, x, cell, self.limits.bond_PS_A, self.limits.bond_PP_A)
                    census.append([c.counts[key] for key in (*UNIT_KINDS, "free_S")])
                    outside.append(int(np.sum(~np.isin(c.kind_of_P, CRYSTAL_UNIT_KINDS))) if is_p.any() else 0)
                else:
                    census.append([-1] * (len(UNIT_KINDS) + 1))
                    outside.append(-1)
        self._frames = np.asarray(frames, np.int64)
        self._time = np.asarray(reader.time_ps)[self._frames]
        self._broken = np.asarray(broken, bool)
        self._n_violations = np.asarray(n_viol, np.int64)
        self._first = first
        self._census = np.asarray(census, np.int64)
        self._outside = np.asarray(outside, np.int64)
        return self

    def _check(self):
        if self._broken is None:
            raise AnalysisError("ChemistryIntegrity.compute() has not been called")

    @property
    def frames(self) -> np.ndarray:
        """Indices of the analysed frames, shape (n,)."""
        self._check()
        return self._frames.copy()

    @property
    def time_ps(self) -> np.ndarray:
        """Time of the analysed frames, ps, shape (n,)."""
        self._check()
        return self._time.copy()

    @property
    def broken_per_frame(self) -> np.ndarray:
        """Whether each analysed frame is broken, shape (n,)."""
        self._check()
        return self._broken.copy()

    @property
    def broken_fraction(self) -> float:
        """Fraction of analysed frames that are broken."""
        self._check()
        return float(self._broken.mean())

    @property
    def first_broken(self) -> dict | None:
        """The first broken frame: ``frame``, ``time_ps``, ``n_violations`` and the worst reason
        (:class:`~lpsens.chemistry.Breakage` fields); None if no frame is broken."""
        self._check()
        if self._first is None:
            return None
        frame, why = self._first
        k = int(np.searchsorted(self._frames, frame))
        return {"frame": int(frame), "time_ps": float(self._time[k]), "n_violations": int(self._n_violations[k]),
                **why.to_dict()}

    @property
    def census_per_frame(self) -> dict[str, np.ndarray]:
        """Units per analysed frame for each of ``UNIT_KINDS`` and ``free_S`` (-1: frame with lost atoms)."""
        self._check()
        return {key: self._census[:, k].copy() for k, key in enumerate((*UNIT_KINDS, "free_S"))}

    @property
    def P_outside_crystal_units(self) -> np.ndarray:
        """P atoms per analysed frame whose unit is neither PS4 nor P2S7, shape (n,)."""
        self._check()
        return self._outside.copy()

    @property
    def crystal_units_lost(self) -> bool | None:
        """Crystal only (None for a glass): a frame has more P outside PS4/P2S7 than the first."""
        self._check()
        if not self.crystal:
            return None
        ok = self._outside >= 0
        return bool(ok.any() and (self._outside[ok] > self._outside[ok][0]).any())

    @property
    def broken(self) -> bool:
        """True if any frame is broken or (crystal) lost its units."""
        return bool(self.broken_per_frame.any() or self.crystal_units_lost)

    def reason(self) -> str | None:
        """One line on why the job is broken, e.g. ``broken at 12.4 ps: P 17 has 5 S within 2.6 Å``."""
        first = self.first_broken
        if first is not None:
            extra = f" (+{first['n_violations'] - 1} more in that frame)" if first["n_violations"] > 1 else ""
            return (f"broken at {first['time_ps']:.4g} ps (frame {first['frame']}, {self.broken_fraction:.0%} of "
                    f"frames broken): {first['message']}{extra}")
        if self.crystal_units_lost:
            k = int(np.argmax(self._outside > self._outside[0]))
            return (f"crystal units lost at {self._time[k]:.4g} ps (frame {int(self._frames[k])}): "
                    f"{int(self._outside[k])} P outside PS4/P2S7, {int(self._outside[0])} in the first frame")
        return None

    def as_dict(self) -> dict:
        """JSON-able result (the ``integrity`` entry of ``analysis.json``, docs/analysis.md)."""
        self._check()
        return {
            "broken": self.broken,
            "reason": self.reason(),
            "broken_fraction": self.broken_fraction,
            "n_frames_checked": int(self._broken.size),
            "n_frames_broken": int(self._broken.sum()),
            "first_broken": self.first_broken,
            "crystal": self.crystal,
            "crystal_units_lost": self.crystal_units_lost,
            "limits": self.limits.to_dict(),
            "time_ps": self._time.tolist(),
            "broken_per_frame": self._broken.astype(int).tolist(),
            "n_violations_per_frame": self._n_violations.tolist(),
            "census_per_frame": {k: v.tolist() for k, v in self.census_per_frame.items()},
            "P_outside_crystal_units_per_frame": self._outside.tolist(),
        }


def integrity_summary(result: dict) -> dict | None:
    """The ``integrity`` entry of an analysis result, or None for results analysed before it existed."""
    entry = result.get("integrity") if isinstance(result, dict) else None
    return entry if isinstance(entry, dict) and "broken" in entry else None
