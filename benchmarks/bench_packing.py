"""Packing efficiency of the launcher vs a static split, on this machine under mpiexec -n 2.

Workload: 200 sleeping synthetic tasks with log-normal durations (mean ~0.2 s, sigma 1.0 in log
space), the same set for both policies. Efficiency = (sum of task durations) / (ranks x makespan),
with the makespan measured inside the MPI job (from a barrier after start-up to the end of
``launch``); the dispatch overhead therefore counts as idle time, and so does the start of a
worker process per task (the default, process-isolated launcher), which matters for these
sub-second tasks and not for MD tasks of minutes to hours. Policies, side by side on the same
tasks: dynamic with worker processes (default), dynamic in-process (``--in-process``, the design
before process isolation), static in-process (round-robin split, the bundling baseline).

With ``--before SRC`` (e.g. ``/work/main/src``) the dynamic worker-process run is repeated with
the launcher in ``SRC``, in the same run (before and after alternate over ``--rounds``).

Usage: python benchmarks/bench_packing.py [--tasks 200] [--ranks 2] [--mean-s 0.2] [--before SRC] [--rounds 1]
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def durations(n, seed=2022, mean_s=0.2, sigma=1.0):
    rng = random.Random(seed)
    mu = __import__("math").log(mean_s) - sigma**2 / 2  # so that the mean is mean_s
    return [rng.lognormvariate(mu, sigma) for _ in range(n)]


def worker(root, dispatch, isolate):
    import signac
    from mpi4py import MPI

    from lpsens.launch.launcher import Dispatch, LaunchOptions, launch
    from lpsens.launch.synthetic import sleep_task

    comm = MPI.COMM_WORLD
    project = signac.get_project(root, search=False)
    comm.Barrier()
    t0 = time.perf_counter()
    report = launch(project, comm=comm, task_fn=sleep_task,
                    options=LaunchOptions(dispatch=Dispatch(dispatch), progress_interval_s=0, isolate=isolate == "1"))
    comm.Barrier()
    makespan = time.perf_counter() - t0
    if comm.rank == 0:
        print(json.dumps({"makespan_s": makespan, "counts": report.counts, "n_ranks": comm.size}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--mean-s", type=float, default=0.2, help="mean task duration (s)")
    ap.add_argument("--before", default=None, metavar="SRC", help="src directory of the launcher to compare with")
    ap.add_argument("--rounds", type=int, default=1, help="repetitions of the before/after pair")
    ap.add_argument("--worker", nargs=3, metavar=("ROOT", "DISPATCH", "ISOLATE"))
    args = ap.parse_args()
    if args.worker:
        return worker(*args.worker)
    from lpsens.launch.synthetic import init_synthetic_project

    d = durations(args.tasks, mean_s=args.mean_s)
    # sleep_task sleeps once per segment; with 4 segments the sum is the duration (plus file I/O)
    print(f"workload: {len(d)} tasks, mean {sum(d) / len(d):.3f} s, min {min(d):.3f} s, max {max(d):.2f} s, "
          f"sum {sum(d):.1f} s; {args.ranks} ranks")
    mpiexec = Path(sys.executable).parent / "mpiexec"
    here = str(Path(__file__).resolve().parents[1] / "src")
    runs = []  # (label, dispatch, isolate, src)
    for rnd in range(args.rounds):
        pair = [("dynamic workers" + (" after" if args.before else ""), "dynamic", "1", here)]
        if args.before:
            pair.append(("dynamic workers before", "dynamic", "1", args.before))
        runs += pair if rnd % 2 == 0 else pair[::-1]
    runs += [("dynamic in-process", "dynamic", "0", here), ("static in-process", "static", "0", here)]
    print(f"# load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for label, dispatch, isolate, src in runs:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": src}
        with tempfile.TemporaryDirectory() as tmp:
            init_synthetic_project(tmp, d, segments=4)
            out = subprocess.run([str(mpiexec), "-n", str(args.ranks), sys.executable, __file__, "--worker", tmp,
                                  dispatch, isolate],
                                 env=env, capture_output=True, text=True, check=True).stdout
        res = json.loads(out.strip().splitlines()[-1])
        eff = sum(d) / (res["n_ranks"] * res["makespan_s"])
        ideal = max(sum(d) / args.ranks, max(d))
        print(f"{label:22s} makespan {res['makespan_s']:7.2f} s (lower bound {ideal:.2f} s)  "
              f"packing efficiency {100 * eff:5.1f} %  done {res['counts']['done']}")
    print(f"# load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
