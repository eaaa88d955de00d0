"""The embedded-default pipeline: ``lpsens demo``.

Builds the demo campaign (the bundled ``demo.toml`` on the bundled demo GAP) in a fresh
directory, runs it through the real launcher under ``mpiexec -n 2``, analyses every job,
gathers the results into HDF5, tables and figures, and says where they are. Each stage is the
same command a user would type, so the demo exercises exactly the product.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from importlib import resources
from pathlib import Path

from lpsens.campaign import parse_campaign
from lpsens.errors import DemoError, ProjectError
from lpsens.launch.communicator import find_mpiexec
from lpsens.project import init_project

__all__ = ["demo_spec", "run_demo", "find_mpiexec", "check_targets"]

#: What ``--quick`` changes in the demo protocol: the same jobs, 10x shorter (README quotes the time).
QUICK_PROTOCOL = {"equilibration_ps": 1.0, "production_ps": 10.0, "segment_ps": 2.0, "sampling_interval_fs": 50.0}
#: ... and in the analysis: 4 blocks of 2.5 ps, fitted from 0.5 ps to half a block (16 lags).
QUICK_ANALYSIS = {"fit_start_ps": 0.5, "n_blocks": 4}


def demo_spec(*, quick: bool = False) -> dict:
    """The demo campaign as a TOML dict (``quick`` shortens the protocol)."""
    text = resources.files("lpsens").joinpath("data/campaigns/demo.toml").read_text()
    data = tomllib.loads(text)
    if quick:
        data["campaign"]["name"] = "demo-quick"
        data["protocol"] = {**data.get("protocol", {}), **QUICK_PROTOCOL}
        data["analysis"] = {**data.get("analysis", {}), **QUICK_ANALYSIS}
    return data


def _stage(title: str, cmd: list[str], *, env, ok=(0,)) -> int:
    print(f"\n== {title}\n$ {' '.join(cmd)}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env)
    dt = time.perf_counter() - t0
    if proc.returncode not in ok:
        raise DemoError(f"stage '{title}' failed (exit status {proc.returncode}) after {dt:.0f} s; rerun: {' '.join(cmd)}")
    print(f"-- {title}: {dt:.0f} s", file=sys.stderr, flush=True)
    return proc.returncode


def run_demo(root: Path, *, quick: bool = False, ranks: int = 2, spec: dict | None = None) -> Path:
    """Run the whole demo in ``root`` (must not exist or be empty). Returns the results file.

    ``spec`` replaces the demo campaign (a TOML dict like :func:`demo_spec`'s; the tests run a
    smaller selection of it this way). Raises :class:`DemoError` when a stage fails and
    :class:`~lpsens.errors.ProjectError` when ``root`` is not empty.
    """
    root = Path(root)
    if isinstance(ranks, bool) or not isinstance(ranks, int) or ranks < 1:
        raise DemoError(f"must be a whole number >= 1, got {ranks!r}", option="--ranks")
    if root.exists() and any(root.iterdir()):
        raise ProjectError(f"{root} exists and is not empty; the demo needs a fresh directory (give --root NEW_DIR)")
    t0 = time.perf_counter()
    campaign = parse_campaign(demo_spec(quick=quick) if spec is None else spec,
                              file=Path("lpsens/data/campaigns/demo.toml"))
    report = init_project(campaign, root)
    n_steps = sum(p.total_steps for _, p in campaign.state_points())
    print(
        f"lpsens demo: {report.added} jobs ({n_steps} MD steps in all) in {root.resolve()}",
        file=sys.stderr,
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    py = sys.executable
    # exit 1 = some jobs failed (e.g. stopped for broken chemistry): the others are still a result
    if _stage(
        f"MD: {report.total} jobs on {ranks} MPI ranks",
        [find_mpiexec(), "-n", str(ranks), py, "-m", "lpsens", "launch", "--root", str(root)],
        env=env, ok=(0, 1),
    ):
        from lpsens.project import open_project

        docs = [job.doc() for job in open_project(root)]
        failed = [d.get("reason") for d in docs if d.get("status") == "failed"]
        if failed:
            print(f"-- {len(failed)} of {len(docs)} jobs failed (lpsens status --root {root} lists each); "
                  f"one of them: {failed[0]}", file=sys.stderr, flush=True)
        if not any(d.get("status") == "done" for d in docs):
            check_targets(root, root / "results")  # what went wrong, target by target
            raise DemoError(f"no MD job finished; see lpsens status --root {root}")
    _stage("analysis", [py, "-m", "lpsens", "analyze", "--root", str(root)], env=env)
    results = root / "results" / "results.h5"  # tables next to it, figures in results/figures
    _stage("gather", [py, "-m", "lpsens", "gather", "--root", str(root), "-o", str(results)], env=env)
    check_targets(root, results.parent)
    print(
        f"\nlpsens demo finished in {time.perf_counter() - t0:.0f} s.\n"
        f"  project:  {root.resolve()}   (lpsens status --root {root})\n"
        f"  results:  {results.resolve()}\n"
        f"  tables:   {results.parent.resolve()}/*.csv   (the demo's targets: demo_targets.csv/.txt)\n"
        f"  figures:  {(results.parent / 'figures').resolve()}",
        file=sys.stderr,
    )
    return results


def check_targets(root: Path, out_dir: Path) -> list[dict]:
    """The demo's targets (:func:`lpsens.analysis.targets.demo_targets`) on the project at ``root``.

    Prints them on stdout and writes ``demo_targets.csv`` (every column) and
    ``demo_targets.txt`` (as printed) into ``out_dir``. Jobs with broken chemistry are left out
    of the tables, as ``lpsens gather`` does by default. Returns the rows.
    """
    from lpsens.analysis.ensemble import build_tables
    from lpsens.analysis.targets import demo_targets, format_targets
    from lpsens.gather import load_records, write_csv
    from lpsens.project import open_project

    records, _ = load_records(root)
    tables, _ = build_tables(records)
    jobs = [{"job_id": job.id, "statepoint": dict(job.sp()), "status": doc.get("status"), "reason": doc.get("reason")}
            for job in open_project(root) for doc in (job.doc(),)]
    rows = demo_targets(tables, jobs)
    text = format_targets(rows)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(out_dir / "demo_targets.csv", rows)
    (out_dir / "demo_targets.txt").write_text(text)
    print("\n" + text, flush=True)
    return rows
