"""``lpsens launch`` with the synthetic sleep task instead of MD (run under mpiexec by the tests).

Usage: mpiexec -n 2 python tests/launch/synthetic_launch.py [lpsens launch options...]
"""

import json
import os
import sys

from lpsens.cli import build_parser, run_launch
from lpsens.launch.synthetic import mpi_probe_task, sized_task, sleep_task


def interrupting_task(job, **kw):
    """A task that escapes fault isolation (a BaseException): the launcher must abort all ranks."""
    if job.sp.replica == 0:
        raise KeyboardInterrupt("escaped from the task")
    return sleep_task(job, **kw)


if __name__ == "__main__":
    # SYNTHETIC_TASK selects the task of this test driver only; lpsens itself has no such switch.
    name = os.environ.get("SYNTHETIC_TASK", "sleep")
    task = {"sleep": sleep_task, "sized": sized_task, "interrupt": interrupting_task, "mpi_probe": mpi_probe_task}[name]
    inherited = os.environ.get("SYNTHETIC_INHERITED_ENV")
    if inherited:
        # What a launcher rank started by srun carries (PMI/PMIx of srun's step, the allocation's
        # node list), set after this rank's own MPI_Init so that only the workers can meet them.
        from mpi4py import MPI  # noqa: F401 -- MPI_Init with mpiexec's real PMI environment

        os.environ.update(json.loads(inherited))
    # interrupting_task lives in __main__, so it runs inside the launcher's ranks
    extra = ["--in-process"] if name == "interrupt" else []
    args = build_parser().parse_args(["launch", *sys.argv[1:], *extra])
    sys.exit(run_launch(args, task_fn=task))
