"""Scheduling beyond this machine: 10,000 tasks of 1-8 ranks on 1,024 ranks, simulated clock.

The same Scheduler the launcher uses (lpsens.launch.scheduler) is driven by an event loop.
Task sizes follow a campaign's spread (96-768 atoms, 25-200 ps, widths 1-8 ranks growing with
the atom count); the true duration deviates from the cost model's estimate (which knows
nothing of parallel efficiency) by a log-normal factor (sigma 0.25), and the model learns from
finished tasks per atom-count class, as in the launcher. Each dispatch costs the overhead
measured by bench_dispatch.py (default 5 ms). Makespan efficiency = busy rank-seconds /
(ranks x makespan); the static split cuts the ranks into fixed lanes per width, sized by the
estimated work, and deals tasks round-robin in state-point order (signac-flow bundles,
LAMMPS -partition).

Usage: python benchmarks/bench_scale_sim.py [--tasks 10000] [--ranks 1024] [--dispatch-ms 5]
"""

import argparse
import math
import random
import time

from lpsens.launch.scheduler import CostModel, SimTask, TaskCost, simulate, static_split


def workload(n, seed=7, noise=0.25):
    """Campaign-like tasks: supercells of 96-768 atoms, production of 25-200 ps (2 fs steps),
    ranks growing with the atom count (1-8), parallel efficiency 90 % per doubling."""
    rng = random.Random(seed)
    tasks = []
    for i in range(n):
        atoms = rng.choice((96, 128, 192, 288, 384, 576, 768))
        steps = rng.choice((12_500, 25_000, 50_000, 100_000)) + 2_500  # + equilibration
        ranks = min(8, 2 ** int(math.log2(max(1, atoms // 96))))
        ranks = rng.choice((ranks, max(1, ranks // 2)))  # users do not always pick the best width
        est = TaskCost(f"t{i}", atoms, steps, min(steps, 7_500), ranks=ranks, cls=str(atoms))
        speedup = ranks * 0.9 ** math.log2(ranks)
        true_s = atoms * steps / (500.0 * speedup) * rng.lognormvariate(0.0, noise)
        tasks.append(SimTask(est, true_s))
    return tasks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--ranks", type=int, default=1024)
    ap.add_argument("--dispatch-ms", type=float, default=5.0)
    args = ap.parse_args()
    tasks = workload(args.tasks)
    work = sum(t.true_s * t.cost.ranks for t in tasks)
    print(f"{len(tasks)} tasks, widths 1-8 ranks, {work / 3600:.0f} rank-hours on {args.ranks} ranks "
          f"(lower bound on makespan {work / args.ranks / 3600:.2f} h)")
    t0 = time.perf_counter()
    dyn = simulate(tasks, args.ranks, model=CostModel(prior_rate=500.0), dispatch_s=args.dispatch_ms / 1000)
    t_dyn = time.perf_counter() - t0
    sta = static_split(tasks, args.ranks, dispatch_s=args.dispatch_ms / 1000)
    for name, r in (("dynamic (lpsens)", dyn), ("static split", sta)):
        print(f"{name:17s} makespan {r.makespan_s / 3600:6.2f} h  efficiency {100 * r.efficiency:5.1f} %")
    print(f"scheduler time for {len(tasks)} dispatches: {t_dyn:.2f} s ({1e3 * t_dyn / len(tasks):.2f} ms each)")


if __name__ == "__main__":
    main()
