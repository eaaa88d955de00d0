"""CPU a labelling worker spends in the interpreter's finalisation, with and without os._exit.

A 1-rank launch worker leaves with ``os._exit(0)`` once its result is on disk
(src/lpsens/launch/worker.py). This runs the same work twice in fresh interpreters -- import
what a labelling worker imports, one SevenNet-0 force call (54 Li atoms), then exit normally or
through ``os._exit`` -- and prints user+sys CPU seconds of each, side by side.

Needs the ``train`` extra (torch, sevenn)::

    python benchmarks/bench_worker_teardown.py
"""

from __future__ import annotations

import resource
import subprocess
import sys

CHILD = """
import os, sys
import torch; torch.set_num_threads(1)
from ase.build import bulk
from sevenn.calculator import SevenNetCalculator
import signac, ase.io, lpsens.train.labelling  # what a labelling worker has loaded
a = bulk("Li", "bcc", a=3.5, cubic=True) * (3, 3, 3)
a.calc = SevenNetCalculator(model="7net-0", device="cpu"); a.get_forces()
if sys.argv[1] == "_exit":
    sys.stdout.flush(); os._exit(0)
"""


def cpu_s(mode: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", CHILD, mode], check=True, capture_output=True,
                   env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    rounds = 3
    normal, fast = [], []
    for _ in range(rounds):  # interleaved, so load changes hit both alike
        normal.append(cpu_s("normal"))
        fast.append(cpu_s("_exit"))
    n, f = min(normal), min(fast)
    print(f"user+sys CPU per worker (best of {rounds}): normal exit {n:.2f} s, os._exit {f:.2f} s; "
          f"finalisation {n - f:.2f} s ({(n - f) / n:.0%} of the worker)")


if __name__ == "__main__":
    main()
