"""Thiophosphate anion composition per frame over a trajectory.

The classifier is :func:`lpsens.chemistry.unit_census` (the one classifier of lpsens, with
configurable bond cutoffs): units PS4(3-), P2S7(4-), P2S6(4-), edge-sharing P2S6, chains and
others, and the S bonded to no P counted as ``free_S`` (S2-).
"""

from __future__ import annotations

import numpy as np

from lpsens.analysis._params import parameter_repr
from lpsens.chemistry import BOND_PP_A, BOND_PS_A, UNIT_KINDS, unit_census
from lpsens.errors import AnalysisError, InsufficientDataError

__all__ = ["AnionComposition", "ANION_KEYS", "classify_frame"]

ANION_KEYS = UNIT_KINDS
_P, _S = 15, 16


def classify_frame(numbers, positions, cell, cutoff_PS_A=BOND_PS_A, cutoff_PP_A=BOND_PP_A) -> dict[str, int]:
    """Anion counts of one frame of P and S atoms (other elements are ignored).

    Parameters
    ----------
    numbers
        Atomic numbers, shape (n,).
    positions
        Cartesian positions, Angstrom, shape (n, 3) (wrapped or not).
    cell
        Cell vectors as rows, Angstrom.

    Returns
    -------
    dict
        Counts for each of :data:`ANION_KEYS` and ``free_S``.
    """
    return unit_census(numbers, positions, cell, cutoff_PS_A, cutoff_PP_A).counts


class AnionComposition:
    """Anion counts per frame over (at most ``max_frames`` evenly strided) frames.

    Parameters
    ----------
    cutoff_PS_A, cutoff_PP_A
        Bond cutoffs, Angstrom (default: the census's, :data:`lpsens.chemistry.BOND_PS_A` and
        :data:`~lpsens.chemistry.BOND_PP_A`).
    max_frames
        Frames analysed at most.

    Raises
    ------
    AnalysisError
        For bond cutoffs outside (0, 3.2) Angstrom.
    """

    def __init__(self, cutoff_PS_A: float = BOND_PS_A, cutoff_PP_A: float = BOND_PP_A, max_frames: int = 200):
        for key, value in (("bond_cutoff_PS_A", cutoff_PS_A), ("bond_cutoff_PP_A", cutoff_PP_A)):
            if not 0 < value < 3.2:
                raise AnalysisError(f"must be in (0, 3.2) Angstrom, got {value!r}", key=key)
        self.cutoff_PS_A = float(cutoff_PS_A)
        self.cutoff_PP_A = float(cutoff_PP_A)
        self.max_frames = int(max_frames)
        self._counts = None

    def __repr__(self) -> str:
        return parameter_repr(self, computed=self._counts is not None)

    def compute(self, reader) -> AnionComposition:
        """Classify the anions of the sampled frames of a :class:`TrajectoryReader`; returns self.

        Raises
        ------
        InsufficientDataError
            If the trajectory has no frames or no P atoms.
        """
        numbers = reader.numbers
        sel = np.flatnonzero(np.isin(numbers, (_P, _S)))
        if not np.any(numbers[sel] == _P):
            raise InsufficientDataError("no P atoms: no thiophosphate anions", file=reader.path, key="/numbers")
        if reader.n_frames < 1:
            raise InsufficientDataError("no frames", file=reader.path, key="n_frames")
        stride = reader.frame_stride(self.max_frames)
        span = slice(int(sel.min()), int(sel.max()) + 1)
        rows, frames = [], []
        for start in range(0, reader.n_frames, stride * 64):
            stop = min(start + stride * 64, reader.n_frames)
            block = reader.read_positions(slice(start, stop, stride), span)
            for k, x in enumerate(block[:, sel - span.start, :]):
                c = classify_frame(numbers[sel], x, reader.cell, self.cutoff_PS_A, self.cutoff_PP_A)
                rows.append([c[key] for key in (*ANION_KEYS, "free_S")])
                frames.append(start + k * stride)
        self._counts = np.array(rows, dtype=np.int64)
        self._frames = np.array(frames, dtype=np.int64)
        self._time = reader.time_ps[self._frames]
        return self

    def _check(self):
        if self._counts is None:
            raise AnalysisError("AnionComposition.compute() has not been called")

    @property
    def counts_per_frame(self) -> dict[str, np.ndarray]:
        """Counts per analysed frame for each of :data:`ANION_KEYS` and ``free_S``, shape (n_frames,) each."""
        self._check()
        return {key: self._counts[:, k].copy() for k, key in enumerate((*ANION_KEYS, "free_S"))}

    @property
    def mean_counts(self) -> dict[str, float]:
        """Mean count per frame for each of :data:`ANION_KEYS` and ``free_S``."""
        self._check()
        return {key: float(self._counts[:, k].mean()) for k, key in enumerate((*ANION_KEYS, "free_S"))}

    @property
    def time_ps(self) -> np.ndarray:
        self._check()
        return self._time.copy()
