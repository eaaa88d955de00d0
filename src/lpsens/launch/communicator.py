"""The communicators a launch runs on: an mpi4py communicator, or :class:`SerialComm` for a run
without MPI; and :func:`find_mpiexec`, the ``mpiexec`` that starts multi-rank worker processes.

Nothing here imports mpi4py: a serial launch (``comm=None``) never initialises MPI.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lpsens.errors import MPIError

__all__ = ["SerialComm", "DoneRequest", "find_mpiexec"]


class SerialComm:
    """The subset of an mpi4py communicator the launcher uses, for runs without MPI."""

    rank = 0
    size = 1

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def bcast(self, obj, root=0):
        return obj

    def gather(self, obj, root=0):
        return [obj]

    def allgather(self, obj):
        return [obj]

    def allreduce(self, obj, op=None):
        return obj

    def Split(self, color=0, key=0):
        return self

    def Free(self):
        pass

    def Ibarrier(self):
        return DoneRequest()

    def Abort(self, errorcode=1):
        os._exit(errorcode)


class DoneRequest:
    """A request that is complete at once (the serial ``Ibarrier``)."""

    def Test(self):
        return True


def find_mpiexec() -> str:
    """The ``mpiexec`` of the MPI that mpi4py uses: the mpich wheel's next to this Python, else
    the one on PATH (multi-rank tasks in worker processes, ``lpsens demo``).

    Raises
    ------
    MPIError
        If there is none.
    """
    import shutil

    here = Path(sys.executable).parent / "mpiexec"
    found = str(here) if here.exists() else shutil.which("mpiexec")
    if not found:
        raise MPIError("no mpiexec found next to this Python or on PATH; install lpsens with pip (it brings the "
                       "mpich wheel) or load your cluster's MPI module")
    return found
