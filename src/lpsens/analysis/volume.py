"""Li accessible volume: the part of the cell inside an isosurface of the Li probability density."""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter

from lpsens.analysis._params import parameter_repr
from lpsens.analysis.msd import LI
from lpsens.errors import AnalysisError, InsufficientDataError

__all__ = ["AccessibleVolume"]


class AccessibleVolume:
    """Fraction of the cell where the run-averaged Li density exceeds an isovalue.

    The Li positions of (at most ``max_frames`` evenly strided) frames are wrapped to fractional
    coordinates and histogrammed on an ``n1 x n2 x n3`` grid with ``n_i = ceil(|a_i| / grid_spacing_A)``;
    the histogram is smoothed with a periodic Gaussian of width ``smoothing_A`` and divided by its
    mean, so the density is relative to a uniform one (mean 1). Voxels with ``rho / <rho> >= isovalue``
    are accessible; the accessible volume is their fraction times the cell volume.

    Parameters
    ----------
    grid_spacing_A
        Target voxel edge, Angstrom.
    smoothing_A
        Gaussian sigma, Angstrom (0: no smoothing).
    isovalue
        Threshold relative to the mean density.
    max_frames
        Frames used at most.
    species
        Atomic number of the mobile ion (Li).

    Raises
    ------
    AnalysisError
        For invalid parameters (the key names the parameter).
    """

    def __init__(self, grid_spacing_A: float = 0.2, smoothing_A: float = 0.3, isovalue: float = 0.1,
                 max_frames: int = 2000, species: int = LI):
        if not grid_spacing_A > 0:
            raise AnalysisError(f"must be > 0, got {grid_spacing_A!r}", key="volume_grid_spacing_A")
        if not smoothing_A >= 0:
            raise AnalysisError(f"must be >= 0, got {smoothing_A!r}", key="volume_smoothing_A")
        if not isovalue > 0:
            raise AnalysisError(f"must be > 0, got {isovalue!r}", key="volume_isovalue")
        self.grid_spacing_A = float(grid_spacing_A)
        self.smoothing_A = float(smoothing_A)
        self.isovalue = float(isovalue)
        self.max_frames = int(max_frames)
        self.species = int(species)
        self._density = None

    def __repr__(self) -> str:
        return parameter_repr(self, computed=self._density is not None)

    def compute(self, reader) -> AccessibleVolume:
        """Accumulate the Li density of a :class:`TrajectoryReader`; returns self.

        Raises
        ------
        InsufficientDataError
            If there are no frames or no Li.
        """
        sel = np.flatnonzero(reader.numbers == self.species)
        if sel.size == 0:
            raise InsufficientDataError(f"no atoms with atomic number {self.species}", file=reader.path,
                                        key="/numbers")
        if reader.n_frames < 1:
            raise InsufficientDataError("no frames", file=reader.path, key="n_frames")
        cell = reader.cell
        lengths = np.linalg.norm(cell, axis=1)
        shape = tuple(int(math.ceil(L / self.grid_spacing_A)) for L in lengths)
        inv = np.linalg.inv(cell)
        hist = np.zeros(shape)
        stride = reader.frame_stride(self.max_frames)
        span = slice(int(sel.min()), int(sel.max()) + 1)
        chunk = stride * max(1, int(32 * 2**20 // max(1, (span.stop - span.start) * 24)))
        n_used = 0
        for start in range(0, reader.n_frames, chunk):
            x = reader.read_positions(slice(start, min(start + chunk, reader.n_frames), stride), span)
            frac = (x[:, sel - span.start, :].reshape(-1, 3) @ inv) % 1.0
            idx = np.minimum((frac * shape).astype(np.int64), np.array(shape) - 1)
            np.add.at(hist, (idx[:, 0], idx[:, 1], idx[:, 2]), 1.0)
            n_used += x.shape[0]
        if self.smoothing_A > 0:
            sigma = [self.smoothing_A / (L / n) for L, n in zip(lengths, shape, strict=True)]
            hist = gaussian_filter(hist, sigma=sigma, mode="wrap")
        self._density = hist / hist.mean()
        self._volume = reader.volume_A3
        self._n_frames = n_used
        return self

    def _check(self):
        if self._density is None:
            raise AnalysisError("AccessibleVolume.compute() has not been called")

    @property
    def relative_density(self) -> np.ndarray:
        """Li density relative to its mean, shape (n1, n2, n3)."""
        self._check()
        return self._density.copy()

    @property
    def fraction(self) -> float:
        """Accessible fraction of the cell (0-1)."""
        self._check()
        return float(np.mean(self._density >= self.isovalue))

    @property
    def volume_A3(self) -> float:
        """Accessible volume, Angstrom^3."""
        return self.fraction * self._volume

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        self._check()
        return tuple(int(n) for n in self._density.shape)

    @property
    def n_frames(self) -> int:
        self._check()
        return self._n_frames
