"""sbatch scripts from ``jobscripts/`` templates and cluster profiles; submissions and their fate.

A profile (``jobscripts/profiles/<name>.toml``) holds the resources and site settings; the base
template ``jobscripts/base.sbatch.in`` is filled with :class:`string.Template`. Rendered scripts go
to ``<root>/.lpsens/submit/`` and every submission is appended to
``<root>/.lpsens/submissions.jsonl``. :func:`unfinished_submissions` lists submissions whose
allocation has ended without their launch finishing its work (for ``lpsens status``).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import shlex
import shutil
import string
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from lpsens.errors import LaunchError, SubmitError, check_keys
from lpsens.launch.journal import read_journal
from lpsens.launch.walltime import parse_walltime

__all__ = ["MpiLauncher", "Profile", "find_jobscripts", "load_profile", "render_script", "submit",
           "read_submissions", "unfinished_submissions", "submissions_path"]

TEMPLATE_NAME = "base.sbatch.in"


class MpiLauncher(str, enum.Enum):
    SRUN = "srun"
    MPIEXEC = "mpiexec"


@dataclass(frozen=True)
class Profile:
    """Resources and site settings of one cluster (``jobscripts/profiles/<name>.toml``).

    Attributes
    ----------
    name, description
        Profile name (the file stem) and a one-line description.
    partition, account, qos
        SLURM ``--partition``, ``--account``, ``--qos`` (empty: not set).
    nodes, ranks_per_node, cpus_per_task
        Allocation shape; ``nodes * ranks_per_node`` MPI ranks in all.
    walltime
        SLURM time limit ``[D-]HH:MM:SS``.
    signal_lead_s
        Seconds before the end at which SLURM sends USR1 (``--signal=B:USR1@...``).
    mpi_launcher, mpi_launcher_args
        ``srun`` or ``mpiexec`` and its extra arguments.
    ranks_per_task
        ``lpsens launch --ranks-per-task`` (every task on this many ranks); must divide the number
        of ranks. Unset (default): each job's ``potential.ranks_per_task``, mixed sizes packed.
    relaunch_limit
        The job script's safety net: how often it starts the launch again within the same
        allocation after the launch itself died (not after a normal end), while at least
        ``signal_lead_s`` seconds are left.
    python
        Python interpreter that has lpsens installed.
    modules, setup, extra_sbatch
        ``module load`` names, shell lines run before the launch, extra ``#SBATCH`` options.
    """

    name: str
    description: str = ""
    partition: str = ""
    account: str = ""
    qos: str = ""
    nodes: int = 1
    ranks_per_node: int = 1
    cpus_per_task: int = 1
    walltime: str = "01:00:00"
    signal_lead_s: int = 300
    mpi_launcher: MpiLauncher = MpiLauncher.SRUN
    mpi_launcher_args: tuple[str, ...] = ()
    ranks_per_task: int | None = None
    relaunch_limit: int = 3
    python: str = "python"
    modules: tuple[str, ...] = ()
    setup: tuple[str, ...] = ()
    extra_sbatch: tuple[str, ...] = ()

    def __post_init__(self):
        for key in ("nodes", "ranks_per_node", "cpus_per_task", "ranks_per_task", "signal_lead_s", "relaunch_limit"):
            value = getattr(self, key)
            if key == "ranks_per_task" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key in ("nodes", "ranks_per_node",
                                                                                               "cpus_per_task", "ranks_per_task") else 0):
                raise SubmitError(f"must be a positive integer, got {value!r}", key=key, file=self.name)
        try:
            walltime_s = parse_walltime(self.walltime)
        except LaunchError as exc:
            raise SubmitError(exc.reason, key="walltime", file=self.name) from None
        if self.signal_lead_s >= walltime_s:
            raise SubmitError(f"signal_lead_s = {self.signal_lead_s} is not shorter than the walltime "
                              f"{self.walltime}", key="signal_lead_s", file=self.name)
        try:
            object.__setattr__(self, "mpi_launcher", MpiLauncher(self.mpi_launcher))
        except ValueError:
            raise SubmitError(f"unknown MPI launcher {self.mpi_launcher!r}; allowed: srun, mpiexec",
                              key="mpi_launcher", file=self.name) from None
        for key in ("mpi_launcher_args", "modules", "setup", "extra_sbatch"):
            value = getattr(self, key)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise SubmitError(f"must be a list of strings, got {value!r}", key=key, file=self.name)
            object.__setattr__(self, key, tuple(value))
        if self.ranks_per_task is not None and self.n_ranks % self.ranks_per_task:
            raise SubmitError(f"{self.n_ranks} ranks ({self.nodes} nodes x {self.ranks_per_node}) are not a "
                              f"multiple of ranks_per_task = {self.ranks_per_task}", key="ranks_per_task",
                              file=self.name)

    @property
    def n_ranks(self) -> int:
        return self.nodes * self.ranks_per_node

    def with_overrides(self, **overrides) -> Profile:
        """A copy with the non-``None`` ``overrides`` applied (command-line options)."""
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})


def find_jobscripts(explicit: str | Path | None = None, root: str | Path | None = None) -> Path:
    """The ``jobscripts/`` directory: ``explicit``, ``$LPSENS_JOBSCRIPTS``, ``<root>/jobscripts``,
    or the one of the lpsens source tree.

    Raises
    ------
    SubmitError
        If no directory with ``base.sbatch.in`` is found.
    """
    candidates = [explicit, os.environ.get("LPSENS_JOBSCRIPTS"),
                  None if root is None else Path(root) / "jobscripts",
                  Path.cwd() / "jobscripts", Path(__file__).resolve().parents[2] / "jobscripts",
                  Path(sys.prefix) / "share" / "lpsens" / "jobscripts"]  # installed with the package
    for c in candidates:
        if c and (Path(c) / TEMPLATE_NAME).is_file():
            return Path(c)
    raise SubmitError(f"no {TEMPLATE_NAME} found in --jobscripts, $LPSENS_JOBSCRIPTS, <root>/jobscripts or the "
                      "lpsens source tree; copy jobscripts/ from the lpsens repository into the project")


def load_profile(name: str, *, jobscripts: str | Path | None = None, root: str | Path | None = None) -> Profile:
    """Read ``profiles/<name>.toml`` (or a path to a TOML file).

    Raises
    ------
    SubmitError
        For an unknown profile, an unreadable file or invalid values (the key names them).
    """
    path = Path(name)
    if path.suffix != ".toml":
        path = find_jobscripts(jobscripts, root) / "profiles" / f"{name}.toml"
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.toml")) if path.parent.is_dir() else []
        raise SubmitError(f"no profile '{name}'; available: {', '.join(available) or 'none'}", file=path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SubmitError(f"not valid TOML: {exc}", file=path) from None
    fields = {f.name for f in dataclasses.fields(Profile)} - {"name"}
    check_keys(data, fields, file=path, error=SubmitError)
    try:
        return Profile(name=path.stem, **data)
    except SubmitError as exc:  # name the profile's file, not just its name
        raise SubmitError(exc.reason, file=path, key=exc.key) from None


def _in_double_quotes(word: str) -> str:
    """``word`` (already shell-quoted) made safe inside a double-quoted shell string."""
    return "".join("\\" + c if c in '\\"$`' else c for c in word)


def render_script(profile: Profile, *, root: str | Path, launch_args: list[str] | tuple[str, ...] = (),
                  jobscripts: str | Path | None = None, job_name: str = "lpsens",
                  python_env: str | Path | None = None, train_spec: str | Path | None = None) -> str:
    """The sbatch script text for ``profile`` running ``lpsens launch`` on the project ``root``.

    ``root`` is used as given (absolute paths make the script independent of the submit
    directory); ``launch_args`` are extra ``lpsens launch`` options (filters, --max-retries...).
    With ``train_spec`` the script runs a whole training campaign in the allocation instead:
    ``lpsens train SPEC --root ROOT --run --launch "<the launch command>"`` advances the
    campaign and runs each stage's tasks with the same packed launch (docs/training.md).

    Raises
    ------
    SubmitError
        For a project path a ``#SBATCH --output`` line cannot take, or a template placeholder problem.
    """
    template = string.Template((find_jobscripts(jobscripts, root) / TEMPLATE_NAME).read_text())
    q = shlex.quote
    root_s = str(root)
    if q(root_s) != root_s:  # #SBATCH lines are not shell: no quoting there
        raise SubmitError(f"project path {root_s!r} has spaces or shell characters, which #SBATCH --output "
                          "cannot take; move the project to a plain path")
    sbatch = [f"#SBATCH --{k}={v}" for k, v in (("partition", profile.partition), ("account", profile.account),
                                                 ("qos", profile.qos)) if v]
    sbatch += [f"#SBATCH {opt}" for opt in profile.extra_sbatch]
    # ${python_env} in a setup line: the Python environment lpsens runs from (the venv with the
    # mpich wheel), so the job uses the same installation as the submitting shell.
    env = q(str(python_env if python_env is not None else sys.prefix))
    setup = [f"module load {q(m)}" for m in profile.modules] + [
        line.replace("${python_env}", env) for line in profile.setup]
    if profile.mpi_launcher is MpiLauncher.SRUN:
        mpi = ["srun", *profile.mpi_launcher_args]
    else:  # mpiexec: as many ranks as SLURM allocated (or the profile's count outside SLURM)
        mpi = ["mpiexec", "-n", f'"${{SLURM_NTASKS:-{profile.n_ranks}}}"', *profile.mpi_launcher_args]
    command = [*mpi[:1], *(a if a.startswith('"${') else q(a) for a in mpi[1:]),
               q(profile.python), "-m", "lpsens", "launch", "--root", q(root_s),
               *(["--ranks-per-task", str(profile.ranks_per_task)] if profile.ranks_per_task else []),
               *(q(a) for a in launch_args)]
    if train_spec is not None:
        # the launch command becomes one argument of `lpsens train --launch`, expanded by this shell
        inner = " ".join(a[1:-1] if a.startswith('"${') else _in_double_quotes(a) for a in command)
        command = [q(profile.python), "-m", "lpsens", "train", q(str(train_spec)), "--root", q(root_s), "--run",
                   "--launch", f'"{inner}"']
    try:
        return template.substitute(
            profile=profile.name, description=profile.description or "", job_name=q(job_name),
            nodes=profile.nodes, ranks_per_node=profile.ranks_per_node, cpus_per_task=profile.cpus_per_task,
            walltime=profile.walltime, signal_lead_s=profile.signal_lead_s,
            log_dir=str(Path(root_s) / ".lpsens" / "submit"), sbatch_lines="\n".join(sbatch),
            setup_lines="\n".join(setup), root=q(root_s), mpi_launcher=profile.mpi_launcher.value,
            launch_command=" ".join(command), relaunch_limit=profile.relaunch_limit,
            walltime_s=int(parse_walltime(profile.walltime)),
        ).replace("\n\n\n", "\n\n")
    except (KeyError, ValueError) as exc:
        raise SubmitError(f"template placeholder problem: {exc}", file=TEMPLATE_NAME) from None


def _check_training(spec_path: Path, root: Path) -> None:
    """Refuse now what the job would refuse when it starts: a bad spec, or a root that holds an MD
    project or another campaign (raises the spec's or the project's own error)."""
    import importlib.util

    from lpsens.train.generations import check_campaign
    from lpsens.train.spec import load_training_spec

    spec = load_training_spec(spec_path)
    check_campaign(spec, root)
    # the module is looked up, not imported (a torch model would load on the login node)
    module = spec.reference.calculator.partition(":")[0]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise SubmitError(f"no module {module!r} of calculator {spec.reference.calculator!r} in this Python "
                          "environment, which the job uses; install the package that provides it or fix the import "
                          "path", file=spec_path, option="--train")


def submissions_path(root: str | Path) -> Path:
    return Path(root) / ".lpsens" / "submissions.jsonl"


def _append(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)


def submit(root: str | Path, profile: Profile, *, launch_args=(), jobscripts=None, dry_run: bool = False,
           sbatch: str = "sbatch", train_spec: str | Path | None = None) -> tuple[str, Path | None, str | None]:
    """Render, write and ``sbatch`` the script; returns ``(text, script path, SLURM job id)``.

    With ``dry_run`` nothing is written or submitted (path and id are ``None``). With
    ``train_spec`` the job runs the training campaign of that spec in ``root`` (see
    :func:`render_script`); the spec path is made absolute.

    Raises
    ------
    SubmitError
        If sbatch is not on PATH, fails, or answers without a job id.
    """
    root = Path(root).resolve()
    if train_spec is not None:
        train_spec = Path(train_spec).resolve()
        if not train_spec.is_file():
            raise SubmitError(("is a directory" if train_spec.is_dir() else "no such training spec")
                              + "; give the TOML file of the campaign", file=train_spec, option="--train")
        _check_training(train_spec, root)
    text = render_script(profile, root=root, launch_args=launch_args, jobscripts=jobscripts,
                         job_name="lpsens-train" if train_spec is not None else "lpsens", train_spec=train_spec)
    if dry_run:
        return text, None, None
    exe = shutil.which(sbatch)
    if exe is None:
        raise SubmitError(f"'{sbatch}' not found on PATH; run on a SLURM login node, or use --dry-run to "
                          "only print the script")
    out_dir = root / ".lpsens" / "submit"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path = out_dir / f"{stamp}-{profile.name}.sbatch"
    n = 1
    while path.exists():
        n += 1
        path = out_dir / f"{stamp}-{profile.name}-{n}.sbatch"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    try:
        proc = subprocess.run([exe, "--parsable", str(path)], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SubmitError(f"sbatch failed: {exc}", file=path) from None
    if proc.returncode != 0:
        raise SubmitError(f"sbatch exited with {proc.returncode}: {proc.stderr.strip()}", file=path)
    job_id = proc.stdout.strip().split(";")[0]
    if not job_id.isdigit():
        raise SubmitError(f"unexpected sbatch output {proc.stdout.strip()!r}", file=path)
    _append(submissions_path(root), {"time": time.time(), "slurm_job_id": job_id, "script": str(path),
                                     "profile": profile.name, "n_ranks": profile.n_ranks,
                                     "walltime": profile.walltime, "launch_args": list(launch_args),
                                     **({"train_spec": str(train_spec)} if train_spec is not None else {})})
    return text, path, job_id


def read_submissions(root: str | Path) -> list[dict]:
    path = submissions_path(root)
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


#: SLURM job states in which the allocation is still alive.
_ACTIVE = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED", "STOPPED"}


def _ask_slurm(cmd: list[str]) -> subprocess.CompletedProcess:
    """Run a SLURM query; a tool that cannot be started or hangs is a :class:`SubmitError`."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise SubmitError(f"'{' '.join(cmd)}' did not answer within 60 s; is the SLURM controller reachable? "
                          "(try again, or ask your cluster's support)") from None
    except OSError as exc:
        raise SubmitError(f"cannot run '{cmd[0]}' ({exc}); check that it is the SLURM tool on PATH") from None


def _slurm_state(job_id: str, squeue: str, sacct: str) -> str | None:
    """The job's state, or None when no SLURM tool can tell.

    Raises
    ------
    SubmitError
        If ``squeue``/``sacct`` exists but cannot be run or does not answer within 60 s.
    """
    if shutil.which(squeue):
        out = _ask_slurm([squeue, "-h", "-j", job_id, "-o", "%T"])
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().split()[0]
    if shutil.which(sacct):
        out = _ask_slurm([sacct, "-X", "-n", "-P", "-j", job_id, "-o", "State"])
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().split()[0]  # e.g. "CANCELLED by 123" -> "CANCELLED"
    return None


def unfinished_submissions(root: str | Path, *, squeue: str = "squeue", sacct: str = "sacct") -> list[dict]:
    """Submissions whose allocation has ended without their launch finishing its work.

    An ended submission is reported when the journal has no ``launch_end`` for it (the
    allocation was killed: its running jobs will be found ``lost``), or its launch ended with
    jobs failed, stopped (``timeout``) or not run (walltime). Submissions still queued or
    running, or whose state no SLURM tool reports, are skipped.

    Returns
    -------
    list of dict
        ``slurm_job_id``, ``script``, ``state`` (SLURM), ``reason``.

    Raises
    ------
    SubmitError
        If ``squeue``/``sacct`` exists but cannot be run or does not answer.
    """
    ends: dict[str, list[dict]] = {}
    starts: set[str] = set()
    for rec in read_journal(root):
        sid = rec.get("slurm_job_id")
        if sid and rec.get("event") == "launch_end":
            ends.setdefault(str(sid), []).append(rec)
        elif sid and rec.get("event") == "launch_start":
            starts.add(str(sid))
    out = []
    for sub in read_submissions(root):
        sid = str(sub["slurm_job_id"])
        state = _slurm_state(sid, squeue, sacct)
        if state is None or state in _ACTIVE:
            continue
        if sid not in ends:
            reason = ("the launch never started" if sid not in starts
                      else "the allocation ended before the launch finished (killed, node failure or walltime); "
                           "its running jobs will be marked lost and resumed by the next launch")
        else:
            counts = ends[sid][-1].get("counts", {})
            left = {k: counts.get(k, 0) for k in ("failed", "timeout", "not_run") if counts.get(k, 0)}
            if not left:
                continue
            reason = "the launch ended with " + ", ".join(f"{v} {k}" for k, v in left.items())
        out.append({"slurm_job_id": sid, "script": sub.get("script"), "state": state, "reason": reason})
    return out
