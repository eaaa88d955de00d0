"""The ``lpsens`` command line: a thin layer over the Python API.

One ``_add_<cmd>(sub)`` and one ``main_<cmd>(args) -> int`` per subcommand; no logic here.
Human text goes to stderr, data (tables, JSON) to stdout. An :class:`LpsensError` becomes one
``Error: ...`` line on stderr and a non-zero exit status (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from lpsens import __version__
from lpsens.errors import LpsensError

log = logging.getLogger("lpsens")


# --------------------------------------------------------------------------- init
def _add_init(sub):
    p = sub.add_parser("init", help="create or extend a signac project from a campaign spec")
    p.add_argument("spec", type=Path, help="campaign spec (TOML)")
    p.add_argument("--root", type=Path, default=Path("."), help="project directory (default: .)")
    p.set_defaults(func=main_init)


def main_init(args) -> int:
    from lpsens.campaign import load_campaign
    from lpsens.project import init_project

    campaign = load_campaign(args.spec)
    report = init_project(campaign, args.root)
    print(
        f"{report.root}: {report.added} job(s) added, {report.existing} already present "
        f"({report.total} in campaign '{campaign.name}')",
        file=sys.stderr,
    )
    return 0


# --------------------------------------------------------------------------- status
def _add_status(sub):
    p = sub.add_parser("status", help="job counts grouped by state-point keys, and failures")
    p.add_argument("--root", type=Path, default=Path("."))
    p.add_argument("--group-by", default="material,constraint", help="comma-separated state-point keys")
    p.add_argument("--json", action="store_true", help="print JSON to stdout")
    p.add_argument("--detailed", action="store_true", help="list every job")
    p.set_defaults(func=main_status)


def main_status(args) -> int:
    import json

    from lpsens.project import open_project
    from lpsens.status import format_report, status_report

    project = open_project(args.root)
    keys = tuple(k.strip() for k in args.group_by.split(",") if k.strip())
    report = status_report(project, keys, detailed=args.detailed)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(format_report(report))
    return 0


# --------------------------------------------------------------------------- run (one job, in this process)
def _add_run(sub):
    p = sub.add_parser("run", help="run one job's MD task in this process (debugging)")
    p.add_argument("job_id", help="signac job id (or a unique prefix)")
    p.add_argument("--root", type=Path, default=Path("."))
    p.set_defaults(func=main_run)


def main_run(args) -> int:
    raise NotImplementedError


# --------------------------------------------------------------------------- launch
def _add_launch(sub):
    p = sub.add_parser("launch", help="run all eligible jobs in this MPI allocation")
    p.add_argument("--root", type=Path, default=Path("."))
    p.set_defaults(func=main_launch)


def main_launch(args) -> int:
    raise NotImplementedError


# --------------------------------------------------------------------------- submit
def _add_submit(sub):
    p = sub.add_parser("submit", help="render an sbatch script from jobscripts/ and submit it")
    p.add_argument("--root", type=Path, default=Path("."))
    p.set_defaults(func=main_submit)


def main_submit(args) -> int:
    raise NotImplementedError


# --------------------------------------------------------------------------- analyze
def _add_analyze(sub):
    p = sub.add_parser("analyze", help="analyse a trajectory file or every finished job")
    p.add_argument("--root", type=Path, default=Path("."))
    p.set_defaults(func=main_analyze)


def main_analyze(args) -> int:
    raise NotImplementedError


# --------------------------------------------------------------------------- gather
def _add_gather(sub):
    p = sub.add_parser("gather", help="consolidated HDF5, tables and figures")
    p.add_argument("--root", type=Path, default=Path("."))
    p.set_defaults(func=main_gather)


def main_gather(args) -> int:
    raise NotImplementedError


# --------------------------------------------------------------------------- demo
def _add_demo(sub):
    p = sub.add_parser("demo", help="the end-to-end demo campaign on the bundled GAP")
    p.add_argument("--root", type=Path, default=None, help="fresh directory (default: ./lpsens-demo-<time>)")
    p.add_argument("--quick", action="store_true", help="shorter runs (about 3 min on 2 cores), for CI")
    p.add_argument("--ranks", type=int, default=2, help="MPI ranks for the launcher (default: 2)")
    p.set_defaults(func=main_demo)


def main_demo(args) -> int:
    import time

    from lpsens.demo import run_demo

    root = args.root or Path(f"lpsens-demo-{time.strftime('%Y%m%d-%H%M%S')}")
    run_demo(root, quick=args.quick, ranks=args.ranks)
    return 0


# --------------------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lpsens", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"lpsens {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_init, _add_status, _add_run, _add_launch, _add_submit, _add_analyze, _add_gather, _add_demo):
        add(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2) if not args.debug else logging.DEBUG
    logging.basicConfig(level=min(level, logging.INFO), format="%(message)s", stream=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except LpsensError as exc:
        if args.debug:
            raise
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
