"""Segment-boundary checkpoints: ``checkpoint.h5`` plus a LAMMPS binary restart file.

The HDF5 file holds what a person or another tool needs (positions, velocities, image flags,
step, n_frames, thermostat settings) and names the LAMMPS restart file that carries the exact
dynamical state (incl. the Nose-Hoover chain variables and, for CSVR, the RNG state that LAMMPS
writes into restart files). Both are written atomically and in an order that never leaves an
inconsistent pair:

1. ``checkpoint_<step>.restart`` (written under a tmp name, renamed, sha256 recorded),
2. ``checkpoint.h5`` (tmp file, ``os.replace``) naming that restart file,
3. older ``checkpoint_*.restart`` files are deleted.

A crash between any two steps leaves the previous checkpoint valid.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from lpsens.errors import MDError

__all__ = ["Checkpoint", "read_checkpoint", "write_checkpoint", "restart_name", "commit_restart", "file_sha256",
           "CHECKPOINT_FILE"]

CHECKPOINT_FILE = "checkpoint.h5"
FORMAT = "lpsens-checkpoint"
FORMAT_VERSION = 1


def restart_name(step: int) -> str:
    return f"checkpoint_{step:012d}.restart"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Checkpoint:
    """State at a segment boundary.

    Attributes
    ----------
    step
        LAMMPS step counted from the start of equilibration (0 .. total_steps).
    n_frames
        Complete trajectory frames at this step (0 during equilibration).
    positions
        Unwrapped positions in Å (frame of ``initial.extxyz``), shape (n_atoms, 3).
    velocities
        Velocities in Å/ps (metal units), shape (n_atoms, 3).
    image
        LAMMPS image flags, shape (n_atoms, 3).
    restart_file
        Name (in the job directory) of the LAMMPS binary restart file of this step.
    restart_sha256
        Its sha256, checked before it is read.
    meta
        Thermostat, protocol, backend, potential hash, LAMMPS version (JSON-able dict).
    """

    step: int
    n_frames: int
    positions: np.ndarray
    velocities: np.ndarray
    image: np.ndarray
    restart_file: str
    restart_sha256: str
    meta: dict = field(default_factory=dict)


def write_checkpoint(job_dir, ckpt: Checkpoint) -> Path:
    """Write ``checkpoint.h5`` atomically and delete restart files of older checkpoints."""
    job_dir = Path(job_dir)
    path = job_dir / CHECKPOINT_FILE
    tmp = job_dir / (CHECKPOINT_FILE + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["step"] = int(ckpt.step)
        f.attrs["n_frames"] = int(ckpt.n_frames)
        f.attrs["restart_file"] = ckpt.restart_file
        f.attrs["restart_sha256"] = ckpt.restart_sha256
        f.attrs["meta"] = json.dumps(ckpt.meta, sort_keys=True)
        f.create_dataset("positions", data=np.asarray(ckpt.positions, dtype="f8"))
        f.create_dataset("velocities", data=np.asarray(ckpt.velocities, dtype="f8"))
        f.create_dataset("image", data=np.asarray(ckpt.image, dtype="i4"))
        thermostat = f.create_group("thermostat")
        for key, value in ckpt.meta.get("thermostat_state", {}).items():
            thermostat.attrs[key] = value
    os.replace(tmp, path)
    for old in job_dir.glob("checkpoint_*.restart"):
        if old.name != ckpt.restart_file:
            old.unlink(missing_ok=True)
    return path


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes."""
    return _sha256(Path(path))


def commit_restart(tmp_path: Path, final_path: Path) -> str:
    """Rename a freshly written restart file into place; returns its sha256."""
    digest = _sha256(tmp_path)
    os.replace(tmp_path, final_path)
    return digest


def read_checkpoint(job_dir) -> Checkpoint | None:
    """Read ``checkpoint.h5`` (None if absent) and verify its restart file.

    Raises
    ------
    MDError
        The checkpoint or its restart file is unreadable, missing or does not match its hash.
    """
    job_dir = Path(job_dir)
    path = job_dir / CHECKPOINT_FILE
    if not path.exists():
        return None
    fix = ("restore checkpoint.h5 and its restart file from a backup to resume (keep trajectory.h5); "
           "to start the job over instead, run the campaign in a new --root")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise MDError(f"not an {FORMAT} file; {fix}", file=path, key="format")
            ckpt = Checkpoint(
                step=int(f.attrs["step"]),
                n_frames=int(f.attrs["n_frames"]),
                positions=f["positions"][()],
                velocities=f["velocities"][()],
                image=f["image"][()],
                restart_file=str(f.attrs["restart_file"]),
                restart_sha256=str(f.attrs["restart_sha256"]),
                meta=json.loads(f.attrs["meta"]),
            )
    except (OSError, KeyError, ValueError) as exc:
        raise MDError(f"unreadable checkpoint ({exc}); {fix}", file=path) from None
    restart = job_dir / ckpt.restart_file
    if not restart.is_file():
        raise MDError(f"restart file {ckpt.restart_file} named by the checkpoint is missing; {fix}", file=path, key="restart_file")
    if _sha256(restart) != ckpt.restart_sha256:
        raise MDError(f"restart file {ckpt.restart_file} does not match its sha256; {fix}", file=restart, key="restart_sha256")
    return ckpt
