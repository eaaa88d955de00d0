"""Partial radial distribution function g_AB(r) (default S-S), averaged over frames."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from lpsens.analysis._params import parameter_repr
from lpsens.errors import AnalysisError, InsufficientDataError

__all__ = ["RDF", "perpendicular_widths_A", "R_MAX_RULE_MINIMUM_IMAGE"]

#: Why r_max is what it is by default (recorded with each RDF result and shown in Fig. 2).
R_MAX_RULE_MINIMUM_IMAGE = "half the shortest cell width (minimum image)"


def perpendicular_widths_A(cell) -> np.ndarray:
    """Distances between opposite cell faces, Angstrom, shape (3,): V / |a_j x a_k|."""
    cell = np.asarray(cell, float)
    vol = abs(np.linalg.det(cell))
    return np.array([vol / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)])


class RDF:
    """Partial RDF between atomic numbers ``pair`` from minimum-image distances (any cell shape).

    Normalisation: ``g(r) = V / (N_A N_B') * <n_AB(r)> / (4/3 pi ((r+dr)^3 - r^3))`` where
    ``n_AB(r)`` counts ordered A-B pairs in the shell per frame and ``N_B' = N_B - 1`` for A = B;
    it tends to 1 at large r for a homogeneous system (ideal-gas normalisation).

    Parameters
    ----------
    bins
        Number of bins on [0, r_max].
    r_max_A
        Largest distance; ``None`` = half the shortest perpendicular cell width (the largest
        radius for which every pair has at most one image in range). Larger values are refused.
    pair
        Atomic numbers (A, B); default S-S.
    max_frames
        At most this many frames (evenly strided) are averaged.

    Raises
    ------
    AnalysisError
        For invalid parameters (the key names the parameter).
    """

    def __init__(self, bins: int = 200, r_max_A: float | None = None, pair: tuple[int, int] = (16, 16),
                 max_frames: int = 200):
        if int(bins) != bins or bins < 1:
            raise AnalysisError(f"bins must be a positive integer, got {bins!r}", key="rdf_bins")
        if r_max_A is not None and not r_max_A > 0:
            raise AnalysisError(f"r_max_A must be > 0, got {r_max_A!r}", key="rdf_r_max_A")
        self.bins = int(bins)
        self.r_max_A = r_max_A
        self.pair = (int(pair[0]), int(pair[1]))
        self.max_frames = int(max_frames)
        self._g = None

    def __repr__(self) -> str:
        return parameter_repr(self, computed=self._g is not None)

    def compute(self, reader) -> RDF:
        """Histogram the pair distances of a :class:`TrajectoryReader`; returns self.

        Raises
        ------
        AnalysisError
            If the cell is too small for ``r_max_A`` (minimum image).
        InsufficientDataError
            If there are no frames or too few atoms of the pair.
        """
        numbers = reader.numbers
        a = np.flatnonzero(numbers == self.pair[0])
        b = np.flatnonzero(numbers == self.pair[1])
        same = self.pair[0] == self.pair[1]
        if a.size == 0 or b.size == 0 or (same and a.size < 2):
            raise InsufficientDataError(f"too few atoms of the pair {self.pair} for an RDF", file=reader.path,
                                        key="/numbers")
        if reader.n_frames < 1:
            raise InsufficientDataError("no frames", file=reader.path, key="n_frames")
        cell = reader.cell
        half = 0.5 * perpendicular_widths_A(cell).min()
        r_max = half if self.r_max_A is None else float(self.r_max_A)
        if r_max > half + 1e-9:
            raise AnalysisError(f"r_max_A = {r_max:g} exceeds half the shortest perpendicular cell width "
                                f"({half:.3f} A); use a larger supercell or a smaller r_max_A", key="rdf_r_max_A")
        sel = np.union1d(a, b)
        in_a = np.isin(sel, a)
        in_b = np.isin(sel, b)
        edges = np.linspace(0.0, r_max, self.bins + 1)
        hist = np.zeros(self.bins)
        stride = reader.frame_stride(self.max_frames)
        span = slice(int(sel.min()), int(sel.max()) + 1)
        n_used = 0
        for start in range(0, reader.n_frames, stride * 64):
            block = reader.read_positions(slice(start, min(start + stride * 64, reader.n_frames), stride), span)
            for x in block[:, sel - span.start, :]:
                atoms = Atoms(numbers=numbers[sel], positions=x, cell=cell, pbc=True)
                i, j, d = neighbor_list("ijd", atoms, r_max)
                keep = in_a[i] & in_b[j]
                hist += np.histogram(d[keep], bins=edges)[0]
                n_used += 1
        n_pairs = a.size * (b.size - 1) if same else a.size * b.size
        shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
        self._g = hist / n_used * reader.volume_A3 / n_pairs / shell
        self._r = 0.5 * (edges[1:] + edges[:-1])
        self._n_frames = n_used
        self._r_max = r_max
        return self

    def _check(self):
        if self._g is None:
            raise AnalysisError("RDF.compute() has not been called")

    @property
    def r_A(self) -> np.ndarray:
        """Bin centres, Angstrom, shape (bins,)."""
        self._check()
        return self._r.copy()

    @property
    def g(self) -> np.ndarray:
        """g(r), dimensionless, shape (bins,)."""
        self._check()
        return self._g.copy()

    @property
    def r_max_used_A(self) -> float:
        self._check()
        return self._r_max

    @property
    def n_frames(self) -> int:
        self._check()
        return self._n_frames
