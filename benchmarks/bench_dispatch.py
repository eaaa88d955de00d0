"""Dispatch overhead per task: no-op tasks through the full launcher path, side by side.

Each task goes through everything a real one does: claim file (O_EXCL), job-document reads
and status writes (signac), journal lines (claim, start, finish), release. Per task per rank =
ranks x makespan / tasks. Measured in interleaved rounds on 1 and 2 ranks:

- ``process start``: the bare worker command (``python -m lpsens.launch.worker`` with the no-op
  task and ``--parent-pid``, no launcher), ``20`` in a row on each of ``ranks`` cores at once;
- ``worker``: every task in its own worker process (the default) through ``mpiexec -n ranks``,
  with this tree's launcher and, with ``--before SRC``, with the launcher in ``SRC`` (e.g. the
  main tree's ``src``) in the same round, so both are measured under the same load;
- ``in-process`` (once): the task inside the launcher's rank (``--in-process``).

Dispatch overhead on top of the process start, per round: ``worker - process start`` (wall
clock; the medians over rounds are printed), and the leaders' own time per task (picking,
claiming, starting workers, reading results, job documents and journal: ``dispatch_s`` of
the journal's ``launch_end``). CPU per task (user + sys of the whole process tree, from
``getrusage``, minus the CPU of a launch that runs nothing) is printed too: it is little
affected by other jobs on a shared machine, whereas the wall-clock difference is not (under
load the launch, with more processes, gets a larger share of the cores than the bare loop).

No-op tasks are shorter than a process start, so the spare worker cannot hide it. What a real
task (minutes) sees is the **hand-off gap**: the idle time of a slot from the end of one task
function to the start of the next one on the same leader, measured with tasks of
``--gap-task-s`` seconds (the spare is ready by then) that stamp their begin and end; this is
the dispatch overhead on top of the (hidden) process start.

Usage: python benchmarks/bench_dispatch.py [--tasks 400] [--worker-tasks 100] [--rounds 3]
       [--gap-tasks 12] [--gap-task-s 1.5] [--before /work/main/src]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lpsens.launch.synthetic import (
    SyntheticOutcome,  # imported with this module, as an MD task's are
)

HERE_SRC = str(Path(__file__).resolve().parents[1] / "src")


def stamped_task(job, *, comm=None, should_stop=None, backend="auto", on_segment=None):
    """Sleeps ``job.doc["sleep_s"]`` and stamps when the task function began and ended (``stamps.json``)."""
    t_begin = time.time()
    time.sleep(float(job.doc.get("sleep_s", 1.0)))
    t_end = time.time()
    Path(job.fn("stamps.json")).write_text(json.dumps([t_begin, t_end]))
    return SyntheticOutcome("done", 0, t_end - t_begin, 0.0, 0)


def run_launch(root, isolate, task="noop"):
    import signac
    from mpi4py import MPI

    from lpsens.launch.launcher import LaunchOptions, launch
    from lpsens.launch.synthetic import noop_task

    if task == "stamped":
        import bench_dispatch  # by module name, so that worker processes can import it

        task_fn = bench_dispatch.stamped_task
    else:
        task_fn = noop_task
    comm = MPI.COMM_WORLD
    project = signac.get_project(root, search=False)
    comm.Barrier()
    t0 = time.perf_counter()
    report = launch(project, comm=comm, task_fn=task_fn,
                    options=LaunchOptions(progress_interval_s=0, isolate=isolate == "1"))
    comm.Barrier()
    if comm.rank == 0:
        from lpsens.launch.journal import read_journal

        end = [r for r in read_journal(root, launch=report.launch_id) if r["event"] == "launch_end"][-1]
        print(json.dumps({"makespan_s": time.perf_counter() - t0, "done": report.counts["done"], "n_ranks": comm.size,
                          "dispatch_s": end.get("dispatch_s"), "dispatch_cpu_s": end.get("dispatch_cpu_s")}))


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def process_start(n: int, parallel: int, env: dict) -> tuple[float, float]:
    """(wall, CPU) per start of the bare worker process (no-op task, no launcher), ``parallel`` loops at once."""
    from lpsens.launch.synthetic import init_synthetic_project

    with tempfile.TemporaryDirectory() as tmp:
        jobs = list(init_synthetic_project(tmp, [0.0] * parallel))
        loop = "for i in $(seq {n}); do {cmd} || exit 1; done"
        procs, cpu0, t0 = [], _cpu_children(), time.perf_counter()
        for job in jobs:
            # --parent-pid: the worker watches its parent (prctl via ctypes, a thread) as under a launcher
            cmd = [sys.executable, "-m", "lpsens.launch.worker", "--root", tmp, "--job", job.id, "--launch", "bench",
                   "--result", os.path.join(job.path, "r.json"), "--task", "lpsens.launch.synthetic:noop_task",
                   "--parent-pid", "$$"]
            procs.append(subprocess.Popen(["bash", "-c", loop.format(n=n, cmd=" ".join(cmd))], env=env))
        assert all(p.wait() == 0 for p in procs)
        return (time.perf_counter() - t0) / n, (_cpu_children() - cpu0) / (n * parallel)


def launch_once(ranks: int, n: int, isolate: str, env: dict) -> dict:
    """One launch of ``n`` no-op tasks on ``ranks`` ranks; per-task wall (x ranks), leader time and CPU."""
    from lpsens.launch.synthetic import init_synthetic_project

    mpiexec = Path(sys.executable).parent / "mpiexec"
    with tempfile.TemporaryDirectory() as tmp:
        init_synthetic_project(tmp, [0.0] * n)
        cpu0 = _cpu_children()
        out = subprocess.run([str(mpiexec), "-n", str(ranks), sys.executable, __file__, "--run", tmp, isolate],
                             env=env, capture_output=True, text=True, check=True).stdout
        cpu = _cpu_children() - cpu0
    res = json.loads(out.strip().splitlines()[-1])
    done = max(1, res["done"])
    own_cpu = res.get("dispatch_cpu_s")
    return {"wall_ms": 1000 * res["n_ranks"] * res["makespan_s"] / done, "makespan_s": res["makespan_s"],
            "done": res["done"], "own_ms": 1000 * (res["dispatch_s"] or 0.0) / done, "cpu_ms": 1000 * cpu / done,
            "cpu_s": cpu, "own_cpu_ms": None if own_cpu is None else 1000 * own_cpu / done}


def handoff_gaps(ranks: int, n: int, sleep_s: float, env: dict) -> list[float]:
    """Idle time of a slot between two tasks (ms): from the end of one task function to the
    start of the next on the same leader, with tasks long enough for the spare to be ready."""
    from lpsens.launch.journal import read_journal
    from lpsens.launch.synthetic import init_synthetic_project

    mpiexec = Path(sys.executable).parent / "mpiexec"
    with tempfile.TemporaryDirectory() as tmp:
        project = init_synthetic_project(tmp, [0.0] * n)
        for job in project:
            job.doc["sleep_s"] = sleep_s
        env = {**env, "PYTHONPATH": env["PYTHONPATH"] + os.pathsep + str(Path(__file__).resolve().parent)}
        subprocess.run([str(mpiexec), "-n", str(ranks), sys.executable, __file__, "--run", tmp, "1", "stamped"],
                       env=env, capture_output=True, text=True, check=True)
        rank_of = {r["job"]: r["rank"] for r in read_journal(tmp) if r["event"] == "start"}
        stamps = {job.id: json.loads(Path(job.fn("stamps.json")).read_text()) for job in project}
    gaps = []
    for rank in set(rank_of.values()):
        mine = sorted(stamps[j] for j, r in rank_of.items() if r == rank)
        gaps += [1000 * (b[0] - a[1]) for a, b in zip(mine, mine[1:], strict=False)]
    return gaps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=400, help="no-op tasks, in-process")
    ap.add_argument("--worker-tasks", type=int, default=100, help="no-op tasks, worker processes")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (bare start, before, after)")
    ap.add_argument("--before", default=None, metavar="SRC",
                    help="src directory of the launcher to compare with (e.g. /work/main/src), run in the same rounds")
    ap.add_argument("--gap-tasks", type=int, default=12, help="tasks per launch for the hand-off gap")
    ap.add_argument("--gap-task-s", type=float, default=1.5, help="duration of those tasks (s)")
    ap.add_argument("--run", nargs="+", metavar="ROOT ISOLATE [TASK]")
    args = ap.parse_args()
    if args.run:
        return run_launch(*args.run)

    def env_for(src):
        return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": src}

    trees = [("after", HERE_SRC)] if args.before is None else [("before", args.before), ("after", HERE_SRC)]
    med = statistics.median
    print(f"# {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.2f}; trees: "
          + ", ".join(f"{name} = {src}" for name, src in trees))
    for ranks in (1, 2):
        inproc = launch_once(ranks, args.tasks, "0", env_for(HERE_SRC))
        print(f"mpiexec -n {ranks} in-process: {inproc['done']} no-op tasks in {inproc['makespan_s']:.2f} s -> "
              f"{inproc['wall_ms']:.1f} ms per task per rank")
        # CPU of a launch that runs nothing (mpiexec, the ranks' start, scan, end): not per task
        fixed = {name: launch_once(ranks, 0, "1", env_for(src))["cpu_s"] for name, src in trees}
        rows = {name: [] for name, _ in trees}
        starts = []
        for rnd in range(args.rounds):
            start_ms, start_cpu = (1000 * x for x in process_start(20, ranks, env_for(HERE_SRC)))
            starts.append((start_ms, start_cpu))
            line = [f"round {rnd + 1}: process start {start_ms:.1f} ms (CPU {start_cpu:.1f})"]
            order = trees if rnd % 2 == 0 else trees[::-1]  # alternate, so no tree always runs first
            for name, src in order:
                r = launch_once(ranks, args.worker_tasks, "1", env_for(src))
                r["over_ms"] = r["wall_ms"] - start_ms
                r["over_cpu_ms"] = r["cpu_ms"] - 1000 * fixed[name] / r["done"] - start_cpu
                rows[name].append(r)
                line.append(f"{name} {r['wall_ms']:.1f} ms ({r['over_ms']:+.1f}; own {r['own_ms']:.1f}; "
                            f"CPU {r['over_cpu_ms']:+.1f})")
            print(f"mpiexec -n {ranks} " + " | ".join(line))
        print(f"mpiexec -n {ranks} process start (bare worker, 20 in a row on {ranks} core(s) at once): "
              f"median {med(s for s, _ in starts):.1f} ms, CPU {med(c for _, c in starts):.1f} ms per start")
        for name, _ in trees:
            rs = rows[name]
            own_cpu = [r["own_cpu_ms"] for r in rs if r["own_cpu_ms"] is not None]
            print(f"mpiexec -n {ranks} worker {name:6s}: {rs[0]['done']} no-op tasks, median "
                  f"{med(r['wall_ms'] for r in rs):.1f} ms per task per rank; on top of the process start "
                  f"{med(r['over_ms'] for r in rs):+.1f} ms wall (median of per-round differences), "
                  f"{med(r['over_cpu_ms'] for r in rs):+.1f} ms CPU (launch fixed cost {fixed[name]:.2f} s CPU "
                  f"excluded); launcher's own time {med(r['own_ms'] for r in rs):.1f} ms"
                  + (f" ({med(own_cpu):.1f} ms CPU)" if own_cpu else "") + " per task")
    print(f"# hand-off gap: idle time of a slot between the end of one task and the start of the next "
          f"({args.gap_tasks} tasks of {args.gap_task_s:g} s per launch, spare ready; {args.rounds} rounds)")
    for ranks in (1, 2):
        gaps = {name: [] for name, _ in trees}
        for rnd in range(args.rounds):
            for name, src in (trees if rnd % 2 == 0 else trees[::-1]):
                gaps[name] += handoff_gaps(ranks, args.gap_tasks, args.gap_task_s, env_for(src))
        for name, _ in trees:
            g = sorted(gaps[name])
            print(f"mpiexec -n {ranks} hand-off gap {name:6s}: median {med(g):.1f} ms, mean {statistics.fmean(g):.1f} ms, "
                  f"90th percentile {g[int(0.9 * (len(g) - 1))]:.1f} ms ({len(g)} hand-offs)")
    print(f"# load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
