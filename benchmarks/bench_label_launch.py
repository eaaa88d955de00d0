#!/usr/bin/env python
"""Labelling tasks through the launcher: one worker process per task (default) vs ``--in-process``.

Two identical generation-0 data spaces (a 60-atom x = 75 glass: bulk, distorted and compressed
copies, and Li-S / P-S dimers; no reference MD) are labelled with SevenNet-0 under
``mpiexec -n 2 lpsens launch``: one with the default isolated workers (each task a fresh
process that imports torch and loads the model), one with ``--in-process`` (the ranks keep the
calculator). Runs alternate (isolated, in-process, isolated, in-process) so load changes hit
both alike. Prints tasks, span and mean task time per mode and the ratio. Needs the `train`
extra (torch + sevenn).

Usage::

    /work/venv/bin/python benchmarks/bench_label_launch.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SPEC = """
[training]
name = "bench_label"
seed = 7
max_generations = 0

[configurations]
glass_x_mol_pct = [75]
glass_min_atoms = 60
crystals = []
n_distorted = 3
rattle_A = [0.05, 0.1]
compress_scale = [0.92, 0.85]
md_temperatures_K = []
scan_pairs = ["Li-S", "P-S"]
scan_distances_A = [1.6, 2.0, 2.4, 2.8, 3.2]

[reference]
name = "SevenNet-0"
calculator = "sevenn.calculator:SevenNetCalculator"
kwargs = { model = "7net-0", device = "cpu" }
cores = 1
"""


def _spans(root: Path) -> dict:
    starts, ends, durations = {}, [], []
    for line in (root / ".lpsens" / "journal.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("event") == "start":
            starts[rec["job"]] = rec["time"]
        elif rec.get("event") == "finish" and rec.get("job") in starts:
            ends.append(rec["time"])
            durations.append(rec["time"] - starts[rec["job"]])
    return {"tasks": len(durations), "span_s": max(ends) - min(starts.values()),
            "mean_task_s": sum(durations) / len(durations)}


def run(mode: str, workdir: Path, k: int) -> dict:
    spec = workdir / "spec.toml"
    root = workdir / f"{mode}{k}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    lpsens = [sys.executable, "-m", "lpsens"]
    subprocess.run([*lpsens, "train", str(spec), "--root", str(root)], check=True, capture_output=True, env=env)
    mpiexec = Path(sys.executable).with_name("mpiexec")
    extra = ["--in-process"] if mode == "in_process" else []
    subprocess.run([str(mpiexec), "-n", "2", *lpsens, "launch", "--root", str(root), *extra], check=True,
                   capture_output=True, env=env)
    return {"mode": mode, **_spans(root)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "spec.toml").write_text(SPEC)
        results = [run(mode, workdir, k) for k in range(args.rounds) for mode in ("isolated", "in_process")]
    for r in results:
        print(f"{r['mode']:>10}: {r['tasks']} tasks, span {r['span_s']:.1f} s, mean task {r['mean_task_s']:.2f} s")
    iso = min(r["span_s"] for r in results if r["mode"] == "isolated")
    inp = min(r["span_s"] for r in results if r["mode"] == "in_process")
    print(f"best span: isolated {iso:.1f} s, in-process {inp:.1f} s; ratio {iso / inp:.2f}")


if __name__ == "__main__":
    main()
