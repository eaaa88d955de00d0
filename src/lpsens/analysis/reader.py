"""Reader of the ``lpsens-trajectory`` HDF5 format (docs/formats.md), with bounded-memory slabs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lpsens.errors import TrajectoryError, TrajectoryLockedError
from lpsens.hdf5 import LOCK_HINT, FileLockedError, locks_unsupported, open_h5
from lpsens.vocabulary import TRAJECTORY_FORMAT, TRAJECTORY_VERSION

__all__ = ["TrajectoryReader", "FORMAT", "FORMAT_VERSION"]

FORMAT = TRAJECTORY_FORMAT
FORMAT_VERSION = TRAJECTORY_VERSION
_REQUIRED = ("positions", "time", "cell", "numbers")


class TrajectoryReader:
    """Read-only view of a ``trajectory.h5`` file; only the first ``attrs["n_frames"]`` frames are used.

    Parameters
    ----------
    path
        The trajectory file.
    lock_wait_s
        How long to wait (with back-off) while a writer (the MD task appending a segment) holds
        the file's HDF5 lock.

    Raises
    ------
    TrajectoryLockedError
        If the file stays locked by a writer for ``lock_wait_s``, or the file system has no locks
        (the message names ``HDF5_USE_FILE_LOCKING=FALSE``).
    TrajectoryError
        If the file is missing, unreadable, of another format/version, or inconsistent.

    Notes
    -----
    Use as a context manager. Positions are read in slabs (``read_positions``) so that memory stays
    bounded however long the run is.
    """

    def __init__(self, path, lock_wait_s: float = 10.0):
        self.path = Path(path)
        if not self.path.is_file():
            raise TrajectoryError("no such trajectory file; check the path (or run the MD job first)", file=self.path)
        try:
            self._h5 = open_h5(self.path, "r", wait_s=lock_wait_s)
        except FileLockedError as exc:
            what = ("the file system refuses HDF5 file locks" if locks_unsupported(exc.cause)
                    else f"locked by a writer (the MD task appending a segment?) for {exc.waited_s:.0f} s; try again "
                         "in a moment")
            raise TrajectoryLockedError(f"{what}; {LOCK_HINT}", file=self.path) from None
        except OSError as exc:
            raise TrajectoryError(f"cannot open as HDF5 ({exc}); the file is damaged or not HDF5", file=self.path) from None
        try:
            self._validate()
        except BaseException:
            self._h5.close()
            raise

    def __repr__(self) -> str:
        return f"TrajectoryReader({str(self.path)!r}, n_frames={self._n_frames}, n_atoms={self.n_atoms})"

    # ------------------------------------------------------------------ validation
    def _fail(self, message, key=None):
        raise TrajectoryError(message, file=self.path, key=key)

    def _validate(self):
        attrs = self._h5.attrs
        fmt = attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt != FORMAT:
            self._fail(f"attribute 'format' is {fmt!r}, expected {FORMAT!r}; not an lpsens trajectory", key="format")
        version = attrs.get("format_version")
        if version is None or int(version) != FORMAT_VERSION:
            self._fail(f"format_version {version!r} is not supported (this reader: {FORMAT_VERSION})", key="format_version")
        for name in _REQUIRED:
            if name not in self._h5:
                self._fail("required dataset is missing", key=f"/{name}")
        pos = self._h5["positions"]
        if pos.ndim != 3 or pos.shape[2] != 3:
            self._fail(f"shape {pos.shape} is not (n_frames, n_atoms, 3)", key="/positions")
        if "n_frames" not in attrs:
            self._fail("root attribute missing", key="n_frames")
        n = int(attrs["n_frames"])
        if n < 0 or n > pos.shape[0] or n > self._h5["time"].shape[0]:
            self._fail(
                f"n_frames = {n} but /positions has {pos.shape[0]} and /time {self._h5['time'].shape[0]} frames",
                key="n_frames",
            )
        self._n_frames = n
        self._n_atoms = int(pos.shape[1])
        self._numbers = np.asarray(self._h5["numbers"][()], dtype=np.int64)
        if self._numbers.shape != (self._n_atoms,):
            self._fail(f"shape {self._numbers.shape} does not match {self._n_atoms} atoms", key="/numbers")
        self._cell = self._read_cell(n)
        self._time = np.asarray(self._h5["time"][:n], dtype=np.float64)
        if n >= 2:
            self._check_time_axis(n)
        if "frozen" in self._h5:
            frozen = np.asarray(self._h5["frozen"][()], dtype=bool)
            if frozen.shape != (self._n_atoms,):
                self._fail(f"shape {frozen.shape} does not match {self._n_atoms} atoms", key="/frozen")
        else:
            frozen = np.zeros(self._n_atoms, dtype=bool)
        self._frozen = frozen

    def _read_cell(self, n: int) -> np.ndarray:
        """The one cell: /cell as (3, 3), or (n_frames, 3, 3) if every frame has the same cell."""
        ds = self._h5["cell"]
        if ds.ndim == 3 and ds.shape[1:] == (3, 3) and ds.shape[0] >= max(n, 1):
            cells = np.asarray(ds[: max(n, 1)], dtype=np.float64)
            if not np.all(np.isfinite(cells)):
                self._fail(f"shape {ds.shape}: non-finite entries", key="/cell")
            spread = float(np.max(np.abs(cells - cells[0])))
            if spread > 1e-6 * max(float(np.max(np.abs(cells[0]))), 1.0):
                vol = np.abs(np.linalg.det(cells))
                self._fail(
                    f"shape {ds.shape}: the cell varies between frames (volume {vol.min():.1f}-{vol.max():.1f} A^3, "
                    f"largest change {spread:.3g} A); the MSD and Nernst-Einstein need one constant cell (NVT): "
                    "re-run NVT at the mean NPT volume, as Staacke et al. do, and store /cell as (3, 3)",
                    key="/cell")
            cell = cells[0]
        elif ds.shape == (3, 3):
            cell = np.asarray(ds[()], dtype=np.float64)
        else:
            self._fail(f"shape {ds.shape}: must be (3, 3) (one constant cell, rows in Angstrom), or "
                       f"(n_frames, 3, 3) with the same cell in every frame", key="/cell")
        if not np.all(np.isfinite(cell)) or abs(np.linalg.det(cell)) < 1e-6:
            rows = "; ".join(" ".join(f"{v:.4g}" for v in row) for row in cell)
            self._fail(f"cell must be a finite, non-singular 3x3 matrix, got [{rows}]", key="/cell")
        return cell

    def _check_time_axis(self, n: int) -> None:
        """Cross-check the frame spacing of /time, sampling_interval_fs and /step x timestep_fs."""
        dt = np.diff(self._time)
        bad = np.flatnonzero(~(dt > 0))
        if bad.size:
            i = int(bad[0])
            self._fail(f"frame times are not increasing: frame {i + 1} is at {self._time[i + 1]:g} ps after "
                       f"{self._time[i]:g} ps at frame {i} ({bad.size} such place(s); a duplicated restart frame?); "
                       "drop the repeated frames", key="/time")
        if np.ptp(dt) > 1e-6 * abs(dt[0]) + 1e-9:
            i = int(np.argmax(np.abs(dt - np.median(dt))))
            self._fail(f"frame times are not evenly spaced (spacing {dt.min():g}-{dt.max():g} ps, e.g. "
                       f"{dt[i]:g} ps after frame {i}); the FFT MSD needs a uniform grid", key="/time")
        dt_ps = float(dt.mean())
        attrs = self._h5.attrs
        sampling = attrs.get("sampling_interval_fs")
        if sampling is not None and float(sampling) > 0 and not math.isclose(dt_ps, float(sampling) / 1000.0,
                                                                             rel_tol=1e-4):
            self._fail(f"frames are {dt_ps:g} apart in /time but the attribute sampling_interval_fs = "
                       f"{float(sampling):g} fs says {float(sampling) / 1000.0:g} ps; /time must be in ps "
                       f"(ratio {dt_ps / (float(sampling) / 1000.0):.4g}: written in another unit?)", key="/time")
        timestep = attrs.get("timestep_fs")
        if "step" in self._h5:
            step = np.asarray(self._h5["step"][:n], dtype=np.float64)
            if step.shape == (n,):
                dstep = np.diff(step)
                if np.any(dstep <= 0):
                    i = int(np.flatnonzero(dstep <= 0)[0])
                    self._fail(f"MD steps are not increasing: frame {i + 1} repeats or precedes step "
                               f"{int(step[i])} (a duplicated restart frame?); drop the repeated frames", key="/step")
                if timestep is not None and float(timestep) > 0:
                    dt_step_ps = float(dstep.mean()) * float(timestep) / 1000.0
                    if np.ptp(dstep) > 0 or not math.isclose(dt_ps, dt_step_ps, rel_tol=1e-4):
                        self._fail(f"frames are {dt_ps:g} apart in /time but /step x timestep_fs "
                                   f"({float(timestep):g} fs) gives {dt_step_ps:g} ps; /time must be in ps",
                                   key="/time")

    # ------------------------------------------------------------------ context
    def close(self):
        self._h5.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ metadata
    @property
    def n_frames(self) -> int:
        """Number of complete frames."""
        return self._n_frames

    @property
    def n_atoms(self) -> int:
        return self._n_atoms

    @property
    def numbers(self) -> np.ndarray:
        """Atomic numbers, shape (n_atoms,)."""
        return self._numbers.copy()

    @property
    def cell(self) -> np.ndarray:
        """Cell vectors as rows, Angstrom, shape (3, 3)."""
        return self._cell.copy()

    @property
    def volume_A3(self) -> float:
        return float(abs(np.linalg.det(self._cell)))

    @property
    def time_ps(self) -> np.ndarray:
        """Frame times in ps, shape (n_frames,)."""
        return self._time.copy()

    @property
    def frame_interval_ps(self) -> float:
        """Time between frames, ps.

        Raises
        ------
        TrajectoryError
            If the file has fewer than two frames.
        """
        if self._n_frames < 2:
            raise TrajectoryError("fewer than 2 frames: no frame interval", file=self.path, key="n_frames")
        return float((self._time[-1] - self._time[0]) / (self._n_frames - 1))

    @property
    def frozen(self) -> np.ndarray:
        """True for atoms of a frozen sublattice, shape (n_atoms,)."""
        return self._frozen.copy()

    @property
    def attrs(self) -> dict:
        out = {}
        for k, v in self._h5.attrs.items():
            if isinstance(v, bytes):
                v = v.decode()
            elif isinstance(v, np.generic):
                v = v.item()
            out[k] = v
        return out

    @property
    def temperature_K(self) -> float | None:
        """Target temperature from the root attributes (None if absent)."""
        value = self._h5.attrs.get("temperature_K")
        return None if value is None else float(value)

    @property
    def complete(self) -> bool:
        return bool(self._h5.attrs.get("complete", False))

    @property
    def chunk_frames(self) -> int | None:
        """Frames per HDF5 chunk of /positions (None if contiguous)."""
        chunks = self._h5["positions"].chunks
        return None if chunks is None else int(chunks[0])

    def mean_thermo_temperature_K(self) -> float | None:
        """Mean of /thermo/temperature_K over the production run, or None if not recorded."""
        if "thermo/temperature_K" not in self._h5:
            return None
        values = np.asarray(self._h5["thermo/temperature_K"][()], dtype=np.float64)
        if "thermo/time" in self._h5 and self._n_frames:
            t = np.asarray(self._h5["thermo/time"][()], dtype=np.float64)
            if t.shape == values.shape:
                values = values[t <= self._time[-1] + 1e-9]
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else None

    # ------------------------------------------------------------------ data
    def read_positions(self, frames: slice = slice(None), atoms: slice = slice(None), *,
                       check_unwrapped: bool = False) -> np.ndarray:
        """Unwrapped Cartesian positions (Angstrom) of a slab, float64, shape (n_sel_frames, n_sel_atoms, 3).

        ``frames`` is clipped to the complete frames; both selections are slices (steps allowed
        for frames) so that h5py reads hyperslabs, not point lists.

        Raises
        ------
        TrajectoryError
            Non-finite positions, or, with ``check_unwrapped`` (used by the MSD; frame step 1), an
            atom moving more than half the shortest cell width between two consecutive frames: the
            coordinates are wrapped, which the MSD cannot use (refused, never silently unwrapped).
        """
        start, stop, step = frames.indices(self._n_frames)
        out = self._h5["positions"][start:stop:step, atoms, :]
        out = np.asarray(out, dtype=np.float64)
        if not np.all(np.isfinite(out)):
            raise TrajectoryError(
                f"non-finite positions in frames {start}:{stop}; the run blew up or the file is corrupt",
                file=self.path,
                key="/positions",
            )
        if check_unwrapped and step == 1 and out.shape[0] >= 2:
            self._check_unwrapped(out, start, atoms)
        return out

    @property
    def half_width_A(self) -> float:
        """Half the shortest perpendicular width of the cell, Angstrom."""
        inv = np.linalg.inv(self._cell)
        return float(0.5 / np.max(np.linalg.norm(inv, axis=0)))

    def _check_unwrapped(self, x: np.ndarray, first_frame: int, atoms: slice) -> None:
        """Refuse wrapped coordinates: no atom moves half a cell between consecutive frames."""
        limit = self.half_width_A
        # cheap screen in frame chunks: no component above limit/sqrt(3) means no jump above limit
        worst_component = 0.0
        for a in range(0, x.shape[0] - 1, 2048):
            b = min(a + 2048, x.shape[0] - 1)
            d = x[a + 1:b + 1] - x[a:b]
            np.abs(d, out=d)
            worst_component = max(worst_component, float(d.max()))
        if worst_component <= limit / math.sqrt(3.0):
            return
        d = np.diff(x, axis=0)
        jump2 = np.einsum("tai,tai->ta", d, d)
        del d
        worst = int(np.argmax(jump2))
        if jump2.flat[worst] > limit**2:
            t, a = np.unravel_index(worst, jump2.shape)
            atom = range(self._n_atoms)[atoms][a]
            n_bad = int(np.count_nonzero(jump2 > limit**2))
            self._fail(f"positions look wrapped into the cell: atom {atom} (Z={self._numbers[atom]}) jumps "
                       f"{math.sqrt(jump2.flat[worst]):.2f} A between frames {first_frame + t} and "
                       f"{first_frame + t + 1}, more than half the cell width ({limit:.2f} A), with "
                       f"{n_bad} such jump(s) in frames {first_frame}-{first_frame + x.shape[0] - 1}; refused, "
                       "not unwrapped: /positions must be unwrapped (accumulate minimum-image frame-to-frame "
                       "displacements, or dump LAMMPS xu yu zu)", key="/positions")

    def atom_slabs(self, n_frames: int, budget_bytes: float, indices: np.ndarray | None = None) -> list[slice]:
        """Contiguous atom ranges covering ``indices`` whose positions for ``n_frames`` frames fit the budget.

        A slab is at least one atom; the budget counts float64 positions only.
        """
        if indices is None:
            indices = np.arange(self._n_atoms)
        indices = np.sort(np.asarray(indices))
        if indices.size == 0:
            return []
        per_atom = max(n_frames, 1) * 3 * 8
        width = max(1, int(budget_bytes // per_atom))
        slabs = []
        i = 0
        while i < indices.size:
            lo = int(indices[i])
            hi = lo + width
            j = int(np.searchsorted(indices, hi, side="left"))
            slabs.append(slice(lo, min(hi, int(indices[j - 1]) + 1)))
            i = j
        return slabs

    def frame_stride(self, max_frames: int) -> int:
        """Stride that picks at most ``max_frames`` evenly spaced frames."""
        return max(1, math.ceil(self._n_frames / max_frames))
