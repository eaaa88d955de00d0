"""Dispatch overhead per task: no-op tasks through the full launcher path, side by side.

Each task goes through everything a real one does: claim file (O_EXCL), job-document reads
and status writes (signac), journal lines (claim, start, finish), release. Overhead per task =
ranks x makespan / tasks. Three measurements in one run:

- ``in-process``: the task runs inside the launcher's rank (``--in-process``; the design
  before process isolation);
- ``worker``: every task in its own worker process (the default), which adds a process start;
- ``process start``: the same worker command (``python -m lpsens.launch.worker`` with the no-op
  task) started directly without a launcher, one after the other on each of ``ranks`` cores.

Dispatch overhead on top of the process start, two ways: worker - process start (both wall
clock, noisy on a shared machine), and the leaders' own time per task (picking, claiming,
starting the worker, reading its result, writing the job document and journal), which the
launcher records as ``dispatch_s`` in its ``launch_end`` journal line (target <= 10 ms).

Usage: python benchmarks/bench_dispatch.py [--tasks 400] [--worker-tasks 100]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_launch(root, isolate):
    from mpi4py import MPI

    import signac

    from lpsens.launch.launcher import LaunchOptions, launch
    from lpsens.launch.synthetic import noop_task

    comm = MPI.COMM_WORLD
    project = signac.get_project(root, search=False)
    comm.Barrier()
    t0 = time.perf_counter()
    report = launch(project, comm=comm, task_fn=noop_task,
                    options=LaunchOptions(progress_interval_s=0, isolate=isolate == "1"))
    comm.Barrier()
    if comm.rank == 0:
        from lpsens.launch.journal import read_journal

        end = [r for r in read_journal(root, launch=report.launch_id) if r["event"] == "launch_end"][-1]
        print(json.dumps({"makespan_s": time.perf_counter() - t0, "done": report.counts["done"], "n_ranks": comm.size,
                          "dispatch_s": end.get("dispatch_s")}))


def process_start_s(n: int, parallel: int) -> float:
    """Wall time per start of the bare worker process (no-op task, no launcher), ``parallel`` in a row at once."""
    from lpsens.launch.synthetic import init_synthetic_project

    with tempfile.TemporaryDirectory() as tmp:
        jobs = list(init_synthetic_project(tmp, [0.0] * parallel))
        loop = "for i in $(seq {n}); do {cmd} || exit 1; done"
        procs, t0 = [], time.perf_counter()
        for job in jobs:
            cmd = [sys.executable, "-m", "lpsens.launch.worker", "--root", tmp, "--job", job.id, "--launch", "bench",
                   "--result", os.path.join(job.path, "r.json"), "--task", "lpsens.launch.synthetic:noop_task"]
            procs.append(subprocess.Popen(["bash", "-c", loop.format(n=n, cmd=" ".join(cmd))]))
        assert all(p.wait() == 0 for p in procs)
        return (time.perf_counter() - t0) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=400, help="no-op tasks, in-process")
    ap.add_argument("--worker-tasks", type=int, default=100, help="no-op tasks, worker processes")
    ap.add_argument("--run", nargs=2, metavar=("ROOT", "ISOLATE"))
    args = ap.parse_args()
    if args.run:
        return run_launch(*args.run)
    from lpsens.launch.synthetic import init_synthetic_project

    mpiexec = Path(sys.executable).parent / "mpiexec"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for ranks in (1, 2):
        start_ms = 1000 * process_start_s(20, ranks)
        print(f"process start (bare worker, no-op task, 20 in a row on {ranks} core(s) at once): {start_ms:.1f} ms")
        per = {}
        for isolate, n in (("0", args.tasks), ("1", args.worker_tasks)):
            with tempfile.TemporaryDirectory() as tmp:
                init_synthetic_project(tmp, [0.0] * n)
                out = subprocess.run([str(mpiexec), "-n", str(ranks), sys.executable, __file__, "--run", tmp, isolate],
                                     env=env, capture_output=True, text=True, check=True).stdout
            res = json.loads(out.strip().splitlines()[-1])
            per[isolate] = 1000 * res["n_ranks"] * res["makespan_s"] / res["done"]
            mode = "worker" if isolate == "1" else "in-process"
            print(f"mpiexec -n {ranks} {mode:10s}: {res['done']} no-op tasks in {res['makespan_s']:.2f} s -> "
                  f"{per[isolate]:.1f} ms per task per rank"
                  + (f"; launcher's own time {1000 * res['dispatch_s'] / res['done']:.1f} ms per task"
                     if isolate == "1" else ""))
        print(f"mpiexec -n {ranks}: dispatch overhead on top of the process start = "
              f"{per['1']:.1f} - {start_ms:.1f} = {per['1'] - start_ms:.1f} ms per task")


if __name__ == "__main__":
    main()
