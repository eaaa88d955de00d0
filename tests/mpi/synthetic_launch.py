"""``lpsens launch`` with the synthetic sleep task instead of MD (run under mpiexec by the tests).

Usage: mpiexec -n 2 python tests/mpi/synthetic_launch.py [lpsens launch options...]
"""

import os
import sys

from lpsens.cli import build_parser
from lpsens.launch.launcher import run_from_args
from lpsens.launch.synthetic import sized_task, sleep_task


def interrupting_task(job, **kw):
    """A task that escapes fault isolation (a BaseException): the launcher must abort all ranks."""
    if job.sp.replica == 0:
        raise KeyboardInterrupt("escaped from the task")
    return sleep_task(job, **kw)


if __name__ == "__main__":
    # SYNTHETIC_TASK selects the task of this test driver only; lpsens itself has no such switch.
    name = os.environ.get("SYNTHETIC_TASK", "sleep")
    task = {"sleep": sleep_task, "sized": sized_task, "interrupt": interrupting_task}[name]
    # interrupting_task lives in __main__, so it runs inside the launcher's ranks
    extra = ["--in-process"] if name == "interrupt" else []
    args = build_parser().parse_args(["launch", *sys.argv[1:], *extra])
    sys.exit(run_from_args(args, task_fn=task))
