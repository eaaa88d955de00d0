#!/usr/bin/env python
"""How well a training campaign's tasks packed: per launch, tasks, span, busy rank-seconds, efficiency.

Reads the launcher journal of a training campaign (``lpsens train`` + ``lpsens launch``) and
prints, per launch, the number of tasks by kind, the span from the first task start to the last
task end, the summed task wall time and the packing efficiency = busy / (ranks x span). The
labelling launches are the ones that matter (hundreds of independent reference calculations);
a fit is one task, so a 2-rank launch of it is 50 % by construction.

Usage::

    /work/venv/bin/python benchmarks/bench_train_packing.py ROOT [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lpsens.launch.journal import journal_path, read_journal


def packing(root: Path) -> list[dict]:
    launches: dict[str, dict] = {}
    for rec in read_journal(journal_path(root)):
        lid = rec.get("launch")
        entry = launches.setdefault(lid, {"launch": lid, "ranks": None, "finish": []})
        if rec.get("event") == "launch_start":
            entry["ranks"] = rec["n_ranks"]
        elif rec.get("event") == "finish":
            entry["finish"].append(rec)
    out = []
    for entry in launches.values():
        fin = entry["finish"]
        if not fin or not entry["ranks"]:
            continue
        span = max(r["t_end"] for r in fin) - min(r["t_start"] for r in fin)
        busy = sum(r["wall_s"] for r in fin)
        kinds: dict[str, int] = {}
        for r in fin:
            kinds[r.get("cls") or "task"] = kinds.get(r.get("cls") or "task", 0) + 1
        out.append({"launch": entry["launch"], "ranks": entry["ranks"], "tasks": kinds, "span_s": round(span, 1),
                    "busy_s": round(busy, 1), "efficiency": round(busy / (entry["ranks"] * span), 4) if span > 0 else None})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", type=Path)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    rows = packing(args.root)
    for r in rows:
        print(f"{r['launch']}  ranks {r['ranks']}  tasks {r['tasks']}  span {r['span_s']:.0f} s  "
              f"busy {r['busy_s']:.0f} s  efficiency {r['efficiency']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
