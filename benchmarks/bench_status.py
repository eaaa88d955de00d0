"""How long does `lpsens status` take on a 10,000-job project? (target: < 1 s)

Builds a 10,000-job project once (cached in a temporary directory unless --root is given),
marks a spread of statuses, then times the API call (`status_report`) and the whole CLI
(`lpsens status`, `--json`, `--detailed`) including Python start-up.

    python benchmarks/bench_status.py [--root DIR] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = """
[campaign]
name = "bench10k"
seed = 1
replicas = 200
constraints = ["none", "frozen_S"]

[potential]
bundled = "demo"

[[material]]
name = "glass"
x_Li2S_mol_pct = 75
temperatures_K = [400, 425, 450, 475, 500, 525, 550, 575, 600, 625, 650, 675, 700, 725, 750, 775, 800, 825, 850, 875, 900, 925, 950, 975, 1000]
"""


def build(root: Path) -> None:
    from lpsens.campaign import load_campaign
    from lpsens.project import init_project, open_project
    from lpsens.status import JobStatus

    spec = root.parent / "bench10k.toml"
    spec.write_text(SPEC)
    t0 = time.perf_counter()
    report = init_project(load_campaign(spec), root)
    print(f"init: {report.added} jobs added in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    states = list(JobStatus)
    for i, job in enumerate(open_project(root)):
        if i % 7 == 0:
            s = states[i % len(states)]
            job.doc.update({"status": s.value, "reason": f"synthetic {s.value}" if s.value != "done" else None})


def time_it(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    root = args.root or Path(tempfile.gettempdir()) / "lpsens_bench10k" / "project"
    if not (root / ".signac").is_dir():
        root.parent.mkdir(parents=True, exist_ok=True)
        build(root)

    from lpsens.project import open_project
    from lpsens.status import status_report

    project = open_project(root)
    n = len(project)
    best, med = time_it(lambda: status_report(project, ("material", "temperature_K", "constraint")), args.repeat)
    print(f"jobs: {n}")
    print(f"status_report (API, warm cache):           best {best:.3f} s  median {med:.3f} s")
    # Drop nothing from the OS page cache (needs root); the CLI runs are warm-cache figures.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for extra in ([], ["--json"], ["--detailed"]):
        cmd = [sys.executable, "-m", "lpsens", "status", "--root", str(root), *extra]
        best, med = time_it(lambda cmd=cmd: subprocess.run(cmd, check=True, capture_output=True, env=env), args.repeat)
        print(f"lpsens status {' '.join(extra):11s} (CLI, incl. start-up): best {best:.3f} s  median {med:.3f} s")
    report = json.loads(subprocess.run([sys.executable, "-m", "lpsens", "status", "--root", str(root), "--json"],
                                       check=True, capture_output=True, text=True).stdout)
    print(f"counts: {report['by_status']}")


if __name__ == "__main__":
    main()
