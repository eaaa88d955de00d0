"""Dispatch overhead per task: no-op tasks through the full launcher path.

Each task still goes through everything a real one does: claim file (O_EXCL), job-document
reads and status writes (signac), journal lines (claim, start, finish), release. Overhead per
task = ranks x makespan / tasks.

Usage: python benchmarks/bench_dispatch.py [--tasks 400]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def worker(root):
    from mpi4py import MPI

    import signac

    from lpsens.launch.launcher import LaunchOptions, launch
    from lpsens.launch.synthetic import noop_task

    comm = MPI.COMM_WORLD
    project = signac.get_project(root, search=False)
    comm.Barrier()
    t0 = time.perf_counter()
    report = launch(project, comm=comm, task_fn=noop_task, options=LaunchOptions(progress_interval_s=0))
    comm.Barrier()
    if comm.rank == 0:
        print(json.dumps({"makespan_s": time.perf_counter() - t0, "done": report.counts["done"], "n_ranks": comm.size}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=400)
    ap.add_argument("--worker", metavar="ROOT")
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker)
    from lpsens.launch.synthetic import init_synthetic_project

    mpiexec = Path(sys.executable).parent / "mpiexec"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for ranks in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            init_synthetic_project(tmp, [0.0] * args.tasks)
            out = subprocess.run([str(mpiexec), "-n", str(ranks), sys.executable, __file__, "--worker", tmp],
                                 env=env, capture_output=True, text=True, check=True).stdout
        res = json.loads(out.strip().splitlines()[-1])
        per_task_ms = 1000 * res["n_ranks"] * res["makespan_s"] / res["done"]
        print(f"mpiexec -n {ranks}: {res['done']} no-op tasks in {res['makespan_s']:.2f} s -> "
              f"{per_task_ms:.1f} ms per task per rank")


if __name__ == "__main__":
    main()
