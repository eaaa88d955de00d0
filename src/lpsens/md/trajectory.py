"""Writer of ``trajectory.h5`` (format ``lpsens-trajectory`` version 1, see docs/formats.md).

The file is opened, appended to and closed once per production segment, so it can be read
while a run is in progress. Frame data are written first and ``attrs["n_frames"]`` last, so a
write interrupted half-way never makes a partial frame look complete; on resume the task
truncates the datasets back to the checkpoint's frame count.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from lpsens.errors import TrajectoryError, TrajectoryLockedError
from lpsens.hdf5 import LOCK_HINT, FileLockedError, locks_unsupported, open_h5
from lpsens.vocabulary import TRAJECTORY_FORMAT, TRAJECTORY_VERSION

__all__ = ["FORMAT", "FORMAT_VERSION", "THERMO_KEYS", "TrajectoryWriter", "read_trajectory_attrs", "LOCK_WAIT_S"]

#: How long the writer waits for a reader (notebook, ``lpsens analyze``) to release the file.
LOCK_WAIT_S = 600.0
_KEEP = "checkpoint.h5 is intact and the job resumes from it"


def _open_error(path, exc: OSError) -> TrajectoryError:
    """The one-line error for a trajectory that cannot be opened; never advises deleting anything."""
    if isinstance(exc, FileLockedError):
        if locks_unsupported(exc.cause):
            return TrajectoryLockedError(f"the file system refuses HDF5 file locks ({exc.cause}); {LOCK_HINT} "
                                         f"in the job script; {_KEEP}", file=path)
        return TrajectoryLockedError(
            f"locked by another process for {exc.waited_s:.0f} s (a reader: a notebook or `lpsens analyze`?); "
            f"nothing was written and {_KEEP}: close the reader and run the job again "
            f"(`lpsens launch --retry-failed` if it was marked failed); {LOCK_HINT}", file=path)
    return TrajectoryError(f"cannot open trajectory ({exc}); the file is damaged; {_KEEP} once trajectory.h5 is "
                           "restored from a backup (keep both files)", file=path)

FORMAT = TRAJECTORY_FORMAT
FORMAT_VERSION = TRAJECTORY_VERSION
#: Thermo datasets under ``/thermo`` (one sample per trajectory frame).
THERMO_KEYS = ("temperature_K", "potential_energy_eV", "kinetic_energy_eV", "total_energy_eV", "pressure_bar")
_FRAME_DATASETS = ("positions", "time", "step")


def read_trajectory_attrs(path) -> dict:
    """Root attributes of a trajectory file as plain Python values ({} if the file is absent).

    Raises
    ------
    TrajectoryError
        If the file exists but cannot be opened (damaged, or locked: :class:`~lpsens.errors.TrajectoryLockedError`).
    """
    path = Path(path)
    if not path.exists():
        return {}
    try:
        with open_h5(path, "r", wait_s=LOCK_WAIT_S) as f:
            return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
    except OSError as exc:
        raise _open_error(path, exc) from None


class TrajectoryWriter:
    """Create, append to, truncate and finish one job's ``trajectory.h5``.

    Parameters
    ----------
    path
        File path (``<job>/trajectory.h5``).
    lock_wait_s
        How long to wait (with back-off) while another process holds a lock on the file.

    Raises
    ------
    TrajectoryLockedError
        From every method that opens the file, if it stays locked for ``lock_wait_s``.
    """

    def __init__(self, path, lock_wait_s: float = LOCK_WAIT_S):
        self.path = Path(path)
        self.lock_wait_s = float(lock_wait_s)

    def exists(self) -> bool:
        return self.path.exists()

    def create(self, *, numbers, cell, frozen, attrs: dict, chunk_frames: int | None = None) -> None:
        """Write an empty trajectory (0 frames) atomically (tmp file, then rename).

        Parameters
        ----------
        numbers
            Atomic numbers, shape (n_atoms,).
        cell
            Cell vectors as rows in Å, shape (3, 3).
        frozen
            True for atoms of a frozen sublattice, shape (n_atoms,).
        attrs
            Extra root attributes (``temperature_K``, ``timestep_fs``, ``backend``...). Dicts are
            stored as JSON strings.
        chunk_frames
            Frames per HDF5 chunk of ``/positions`` (chunks span all atoms); default: as many as
            fit in about 1 MiB, at most 64.
        """
        n_atoms = len(numbers)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["n_frames"] = 0
            f.attrs["complete"] = False
            for key, value in attrs.items():
                f.attrs[key] = json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
            chunk = (max(1, int(chunk_frames)) if chunk_frames is not None
                     else max(1, min(64, (1 << 20) // (24 * max(n_atoms, 1)))))
            f.create_dataset("positions", (0, n_atoms, 3), maxshape=(None, n_atoms, 3), dtype="f8", chunks=(chunk, n_atoms, 3))
            f.create_dataset("time", (0,), maxshape=(None,), dtype="f8", chunks=(1024,))
            f.create_dataset("step", (0,), maxshape=(None,), dtype="i8", chunks=(1024,))
            f.create_dataset("cell", data=np.asarray(cell, dtype="f8").reshape(3, 3))
            f.create_dataset("numbers", data=np.asarray(numbers, dtype="i4"))
            f.create_dataset("frozen", data=np.asarray(frozen, dtype=bool))
            g = f.create_group("thermo")
            g.create_dataset("time", (0,), maxshape=(None,), dtype="f8", chunks=(1024,))
            for key in THERMO_KEYS:
                g.create_dataset(key, (0,), maxshape=(None,), dtype="f8", chunks=(1024,))
        tmp.replace(self.path)

    def _open(self, mode="r+") -> h5py.File:
        try:
            f = open_h5(self.path, mode, wait_s=self.lock_wait_s)
        except OSError as exc:
            raise _open_error(self.path, exc) from None
        if f.attrs.get("format") != FORMAT:
            f.close()
            raise TrajectoryError(f"not an {FORMAT} file", file=self.path, key="format")
        return f

    def truncate(self, n_frames: int) -> None:
        """Cut every per-frame dataset (and the thermo series) to ``n_frames`` entries.

        Raises
        ------
        TrajectoryError
            If the file holds fewer complete frames than ``n_frames``.
        """
        with self._open() as f:
            present = f["positions"].shape[0]
            if present < n_frames or f.attrs["n_frames"] < n_frames:
                raise TrajectoryError(
                    f"holds {min(present, int(f.attrs['n_frames']))} complete frames but the checkpoint "
                    f"expects {n_frames}; restore trajectory.h5 from a backup to resume (keep checkpoint.h5)",
                    file=self.path,
                    key="n_frames",
                )
            for name in _FRAME_DATASETS:
                f[name].resize(n_frames, axis=0)
            f["thermo/time"].resize(n_frames, axis=0)
            for key in THERMO_KEYS:
                f["thermo"][key].resize(n_frames, axis=0)
            f.attrs["n_frames"] = n_frames
            f.attrs["complete"] = False

    def append(self, positions, time_ps, step, thermo: dict) -> int:
        """Append frames; returns the new frame count.

        Parameters
        ----------
        positions
            Unwrapped positions in Å, shape (k, n_atoms, 3).
        time_ps
            Production time of each frame in ps, shape (k,).
        step
            Production step of each frame, shape (k,).
        thermo
            ``THERMO_KEYS`` -> arrays of shape (k,) (one thermo sample per frame).
        """
        positions = np.asarray(positions, dtype="f8")
        k = positions.shape[0]
        with self._open() as f:
            n = int(f.attrs["n_frames"])
            if k == 0:
                return n
            for name, data in (("positions", positions), ("time", time_ps), ("step", step)):
                ds = f[name]
                ds.resize(n + k, axis=0)
                ds[n : n + k] = data
            f["thermo/time"].resize(n + k, axis=0)
            f["thermo/time"][n : n + k] = time_ps
            for key in THERMO_KEYS:
                ds = f["thermo"][key]
                ds.resize(n + k, axis=0)
                ds[n : n + k] = thermo[key]
            f.flush()
            f.attrs["n_frames"] = n + k  # last: frames before this count are complete
        return n + k

    def set_attrs(self, **attrs) -> None:
        with self._open() as f:
            for key, value in attrs.items():
                f.attrs[key] = json.dumps(value, sort_keys=True) if isinstance(value, dict) else value

    def n_frames(self) -> int:
        with self._open("r") as f:
            return int(f.attrs["n_frames"])
