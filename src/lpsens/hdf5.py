"""Opening HDF5 files that another process may hold: file locks, retries and one clear message.

Since HDF5 1.10 every open takes an ``flock()`` (shared for readers, exclusive for writers), so
a notebook or ``lpsens analyze`` that holds ``trajectory.h5`` at the moment the MD task appends a
segment makes the append fail with errno 11 (h5py#1101, #1082). Such holders are transient, so
:func:`open_h5` retries with exponential back-off. On file systems without ``flock`` (some
Lustre, GPFS and NFS mounts, Cray DVS: errno 37 or 524, HDFGroup/hdf5#3311) every open fails
until ``HDF5_USE_FILE_LOCKING=FALSE`` is set; waiting cannot help, so that is said at once.
"""

from __future__ import annotations

import errno
import time

import h5py

__all__ = ["open_h5", "is_lock_error", "locks_unsupported", "FileLockedError", "LOCK_HINT"]

LOCK_HINT = ("on a file system without file locks (some Lustre/GPFS/NFS mounts, Cray DVS) set "
             "HDF5_USE_FILE_LOCKING=FALSE")
_NO_LOCKS = {errno.ENOLCK, 524}  # 524: ENOTSUPP from the kernel (Cray DVS, some Lustre clients)


class FileLockedError(OSError):
    """Another process holds an HDF5 lock on the file (after waiting ``waited_s``)."""

    def __init__(self, path, waited_s: float, cause: OSError):
        self.path = str(path)
        self.waited_s = waited_s
        self.cause = cause
        super().__init__(errno.EAGAIN, f"locked by another process (still after {waited_s:.0f} s)")


def is_lock_error(exc: BaseException) -> bool:
    """True if an h5py ``OSError`` comes from ``flock`` (held by another process or unsupported)."""
    text = str(exc)
    return isinstance(exc, OSError) and ("unable to lock file" in text or exc.errno in ({errno.EAGAIN} | _NO_LOCKS))


def locks_unsupported(exc: BaseException) -> bool:
    """True if the file system does not support locks (waiting cannot help)."""
    text = str(exc)
    return isinstance(exc, OSError) and (exc.errno in _NO_LOCKS or "errno = 37" in text or "errno = 524" in text
                                         or "No locks available" in text)


def open_h5(path, mode: str = "r", *, wait_s: float = 0.0, first_delay_s: float = 0.05,
            max_delay_s: float = 5.0) -> h5py.File:
    """``h5py.File(path, mode)``, retrying for up to ``wait_s`` seconds while another process holds a lock.

    Raises
    ------
    FileLockedError
        The file is still locked after ``wait_s`` (or locks are unsupported: no wait then).
    OSError
        Any other failure to open (missing, not HDF5, damaged), unchanged.
    """
    deadline = time.monotonic() + wait_s
    delay = first_delay_s
    start = time.monotonic()
    while True:
        try:
            return h5py.File(path, mode)
        except OSError as exc:
            if not is_lock_error(exc):
                raise
            now = time.monotonic()
            if locks_unsupported(exc) or now >= deadline:
                raise FileLockedError(path, now - start, exc) from exc
            time.sleep(min(delay, max(deadline - now, 0.0)))
            delay = min(2 * delay, max_delay_s)
