"""Run many MD tasks packed into one MPI allocation: rank groups, claims, signals.

Every rank runs :func:`launch`. The communicator is split into groups of ``ranks_per_task``
ranks; the leader (group rank 0) of *each* group pulls its next task itself by creating the
job's claim file (:mod:`lpsens.launch.claims`), so no rank is a dedicated scheduler and with
2 ranks, 2 tasks run at once. Rank 0 scans the project once and broadcasts the candidate list;
every leader orders it longest-expected-first with its own :class:`~.scheduler.CostModel`,
refined by the runs it finishes. The leader broadcasts the chosen job to its group, all group
ranks call the task function, and the leader records the outcome (job document, journal) and
releases the claim. See docs/launcher.md.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lpsens.errors import LaunchError, LpsensError
from lpsens.launch.claims import Claim, ClaimState, Owner, break_stale, inspect_claim, try_claim
from lpsens.launch.journal import Journal, journal_path, read_journal
from lpsens.launch.scheduler import CostModel, Scheduler, TaskCost
from lpsens.launch.walltime import allocation_end
from lpsens.status import JobStatus, set_status, utcnow

__all__ = ["Dispatch", "LaunchOptions", "LaunchReport", "launch", "DEFAULT_ELIGIBLE"]

log = logging.getLogger("lpsens.launch")

DEFAULT_ELIGIBLE = frozenset({JobStatus.PENDING, JobStatus.TIMEOUT, JobStatus.LOST})
_LOG_TAIL_LINES = 20


class Dispatch(str, enum.Enum):
    """How tasks reach groups."""

    DYNAMIC = "dynamic"  # free groups pull the longest remaining task (the launcher's way)
    STATIC = "static"    # round-robin split fixed beforehand (the bundling baseline for benchmarks)


@dataclass(frozen=True)
class LaunchOptions:
    """Settings of one launch (validated; times in seconds).

    Attributes
    ----------
    ranks_per_task
        Ranks per group; the communicator size must be a multiple.
    walltime
        Allocation length (seconds or ``[D-]HH:MM:SS``); ``None``: from SLURM, else unlimited.
    statuses
        Job states eligible to run (``running`` jobs whose owner is gone become ``lost``).
    retry_failed
        Also run ``failed`` jobs.
    max_retries
        A job found ``lost`` more often than this is marked ``failed``.
    sp_filter
        signac state-point filter (``{"material": "glass"}``, ``{"temperature_K": {"$gt": 500}}``).
    stale_after_s
        A claim whose heartbeat is older than this belongs to a dead launch.
    heartbeat_s
        Interval of claim heartbeats.
    margin_s
        Time kept free before the end of the allocation (checkpoint, shutdown).
    prior_rate
        Prior throughput in atom-steps per second per rank for the cost model.
    dispatch
        :class:`Dispatch` (dynamic, or static for comparison).
    progress_interval_s
        Interval of progress lines (rank 0; 0 disables them).
    """

    ranks_per_task: int = 1
    walltime: str | float | None = None
    statuses: frozenset[JobStatus] = DEFAULT_ELIGIBLE
    retry_failed: bool = False
    max_retries: int = 3
    sp_filter: dict | None = None
    stale_after_s: float = 300.0
    heartbeat_s: float = 30.0
    margin_s: float = 60.0
    prior_rate: float = 500.0
    dispatch: Dispatch = Dispatch.DYNAMIC
    progress_interval_s: float = 10.0

    def __post_init__(self):
        if not isinstance(self.ranks_per_task, int) or self.ranks_per_task < 1:
            raise LaunchError(f"ranks_per_task must be an integer >= 1, got {self.ranks_per_task!r}",
                              key="ranks_per_task")
        try:
            statuses = frozenset(JobStatus(s) for s in self.statuses)
        except ValueError:
            allowed = ", ".join(s.value for s in JobStatus)
            raise LaunchError(f"unknown status in {sorted(map(str, self.statuses))}; allowed: {allowed}",
                              key="status") from None
        if JobStatus.DONE in statuses or JobStatus.RUNNING in statuses:
            raise LaunchError("'done' and 'running' jobs cannot be selected to run (a done job is final; "
                              "running jobs whose launch died are found and rerun as 'lost')", key="status")
        if JobStatus.FAILED in statuses and not self.retry_failed:
            raise LaunchError("failed jobs run only with --retry-failed", key="status")
        object.__setattr__(self, "statuses", statuses)
        object.__setattr__(self, "dispatch", Dispatch(self.dispatch))
        if self.max_retries < 0:
            raise LaunchError(f"max_retries must be >= 0, got {self.max_retries}", key="max_retries")
        for name in ("stale_after_s", "heartbeat_s"):
            if not getattr(self, name) > 0:
                raise LaunchError(f"{name} must be > 0 s, got {getattr(self, name)}", key=name)
        if self.heartbeat_s * 2 > self.stale_after_s:
            raise LaunchError(f"heartbeat_s = {self.heartbeat_s} must be at most half of stale_after_s = "
                              f"{self.stale_after_s}, or live launches look dead", key="heartbeat_s")
        if self.margin_s < 0 or self.progress_interval_s < 0:
            raise LaunchError("margin_s and progress_interval_s must be >= 0")

    @property
    def eligible(self) -> frozenset[JobStatus]:
        return self.statuses | ({JobStatus.FAILED} if self.retry_failed else frozenset())


@dataclass
class LaunchReport:
    """What a launch did (identical on every rank).

    Attributes
    ----------
    launch_id
        Id of the launch in the journal.
    n_groups
        Rank groups that ran tasks.
    counts
        Tasks per outcome in this launch: ``done``, ``failed`` (including jobs found lost
        more than ``max_retries`` times), ``timeout``, and ``not_run`` (eligible when the
        launch started but not run by it: done meanwhile by a concurrent launch, or left
        for the next launch by the walltime rule or a stop signal).
    """

    launch_id: str
    n_groups: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when no task failed, 1 otherwise."""
        return 1 if self.counts.get("failed", 0) else 0


# --------------------------------------------------------------------------- serial communicator
class _SerialComm:
    """The subset of an mpi4py communicator the launcher uses, for runs without MPI."""

    rank = 0
    size = 1

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def bcast(self, obj, root=0):
        return obj

    def gather(self, obj, root=0):
        return [obj]

    def allgather(self, obj):
        return [obj]

    def allreduce(self, obj, op=None):
        return obj

    def Split(self, color=0, key=0):
        return self

    def Free(self):
        pass

    def Abort(self, errorcode=1):
        os._exit(errorcode)


# --------------------------------------------------------------------------- stop flag
class _StopFlag:
    """Set by SIGTERM / SIGUSR1 (checked at segment boundaries and between tasks)."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self):
        self.signum: int | None = None
        self._old = {}

    def __bool__(self):
        return self.signum is not None

    def _handler(self, signum, frame):
        self.signum = signum

    def install(self):
        if threading.current_thread() is not threading.main_thread():
            return
        for s in self.SIGNALS:
            self._old[s] = signal.signal(s, self._handler)

    def restore(self):
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old.clear()


# --------------------------------------------------------------------------- helpers
def _default_task_fn(project=None):
    # TRAIN-DISPATCH (branch train, issue 10): a training data space runs training tasks. To be
    # replaced by lpsens.tasks.task_function_for(project) from branch launch when both merge.
    if project is not None and project.doc.get("kind") == "training":
        from lpsens.train.tasks import run_train_task

        return run_train_task
    from lpsens.md.task import run_task  # lazily: MD pulls in LAMMPS and quippy

    return run_task


def _n_atoms(job) -> int:
    """Atoms of the job's system: recorded, or the count line of initial.extxyz, or the minimum."""
    doc = job.doc
    if isinstance(doc.get("n_atoms"), int):
        return doc["n_atoms"]
    path = Path(job.fn("initial.extxyz"))
    if path.exists():
        try:
            with open(path) as fh:
                return int(fh.readline().split()[0])
        except (ValueError, IndexError, OSError):
            pass  # a broken structure fails in the task, with a proper message
    system = doc.get("system") or {}
    return max(1, int(system.get("min_atoms") or 0) or 100)


def _task_cost(job, doc: dict, ranks: int) -> TaskCost:
    from lpsens.md.protocol import MDProtocol

    if "train_kind" in job.cached_statepoint:
        # TRAIN-DISPATCH (branch train, issue 10): training tasks state their force calls in
        # doc["cost_steps"] (one checkpoint at the end); not the MD protocol's default length.
        steps = max(1, int(doc.get("cost_steps") or 1))
        return TaskCost(key=job.id, n_atoms=_n_atoms(job), steps_left=steps, steps_to_checkpoint=steps,
                        ranks=ranks, cls="train_" + str(job.cached_statepoint["train_kind"]))
    try:
        protocol = MDProtocol.from_dict(dict(doc.get("protocol") or {}))
        total, eq, seg = protocol.total_steps, protocol.equilibration_steps, protocol.segment_steps
    except LpsensError:
        total, eq, seg = 1, 0, 1  # the task will fail with the protocol's own message
    done = min(int(doc.get("progress_steps") or 0), total)
    to_ckpt = (eq - done + seg) if done < eq else seg
    return TaskCost(key=job.id, n_atoms=_n_atoms(job), steps_left=total - done,
                    steps_to_checkpoint=min(total - done, to_ckpt), ranks=ranks,
                    cls=str(job.cached_statepoint.get("material", "")))


def _log_tail(job, n: int = _LOG_TAIL_LINES) -> str | None:
    path = Path(job.fn("md.log"))
    if not path.exists():
        return None
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 16384))
        lines = fh.read().decode(errors="replace").splitlines()
    return "\n".join(lines[-n:])


def _history(root: Path) -> list[tuple[str, float, float, int]]:
    """(class, atom_steps, wall_s, ranks) of finished runs in the journal (cost-model prior)."""
    out = []
    for rec in read_journal(journal_path(root)):
        if rec.get("event") == "finish" and rec.get("atom_steps") and rec.get("wall_s"):
            out.append((rec.get("cls", ""), float(rec["atom_steps"]), float(rec["wall_s"]), int(rec.get("ranks", 1))))
    return out[-5000:]


# --------------------------------------------------------------------------- the launch
def launch(project, *, comm=None, task_fn: Callable | None = None,
           options: LaunchOptions | None = None, install_signals: bool = True) -> LaunchReport:
    """Run every eligible job of ``project`` on the ranks of ``comm``.

    Parameters
    ----------
    project
        An open :class:`signac.Project` (the same on every rank).
    comm
        mpi4py communicator (all its ranks call this function); ``None`` runs serially without MPI.
    task_fn
        ``task_fn(job, *, comm, should_stop, on_segment)`` returning an object with ``status``
        (``"done"``/``"timeout"``) and ``steps_done`` (MD steps run by this call); default
        :func:`lpsens.md.task.run_task`. Every rank of the group calls it; it must call
        ``should_stop()`` at segment boundaries on its rank 0 and broadcast the answer, and
        ``on_segment(progress_steps, total_steps)`` after each checkpoint. Exceptions mark the
        job ``failed``.
    options
        :class:`LaunchOptions`.
    install_signals
        Handle SIGTERM/SIGUSR1 (main thread only): running tasks stop at their next segment
        boundary as ``timeout``, and no new task starts.

    Returns
    -------
    LaunchReport
        Identical on all ranks; ``report.exit_code`` is non-zero if any task failed.

    Notes
    -----
    An unexpected exception in the launcher itself (not in a task) aborts the whole
    communicator with ``comm.Abort(1)`` so no rank hangs until the walltime.
    """
    options = options or LaunchOptions()
    comm = _SerialComm() if comm is None else comm
    if comm.Get_size() % options.ranks_per_task:
        raise LaunchError(f"{comm.Get_size()} ranks cannot be split into groups of {options.ranks_per_task}; "
                          "use a number of ranks that is a multiple of --ranks-per-task", key="ranks_per_task")
    stop = _StopFlag()
    if install_signals:
        stop.install()
    ase_comm = _serial_ase()
    try:
        return _Launch(project, comm, task_fn or _default_task_fn(project), options, stop).run()
    except BaseException:
        if comm.Get_size() > 1:
            sys.stderr.write(f"lpsens launch: rank {comm.Get_rank()} failed, aborting all ranks\n"
                             + traceback.format_exc())
            sys.stderr.flush()
            comm.Abort(1)
        raise
    finally:
        stop.restore()
        _restore_ase(ase_comm)


_NOT_SET = object()


def _serial_ase():
    """Make ASE serial in this process for the duration of the launch.

    When mpi4py is loaded, ``ase.io.read``/``write`` (``ase.parallel.parallel_function``) read on
    rank 0 of COMM_WORLD and broadcast the result -- or the exception -- to all ranks. Packed
    tasks are independent, so two groups reading different files at the same time would receive
    each other's structures or errors (seen: a good job failing with the XYZError of a broken
    one). Tasks do their own communication on their group communicator.
    """
    try:
        import ase.parallel
    except ImportError:
        return _NOT_SET
    old = ase.parallel.world.__dict__.get("comm", _NOT_SET)
    ase.parallel.world.comm = ase.parallel.DummyMPI()
    return old


def _restore_ase(old) -> None:
    if old is _NOT_SET:
        return
    import ase.parallel

    ase.parallel.world.comm = old


class _Launch:
    def __init__(self, project, comm, task_fn, options: LaunchOptions, stop: _StopFlag):
        self.project = project
        self.root = Path(project.path)
        self.world = comm
        self.task_fn = task_fn
        self.opt = options
        self.stop = stop
        self.rank = comm.Get_rank()
        self.k = options.ranks_per_task
        self.n_groups = comm.Get_size() // self.k
        self.counts = {"done": 0, "failed": 0, "timeout": 0}
        self.started: list[str] = []
        self._claim: Claim | None = None
        self._lock = threading.Lock()
        self._finished = threading.Event()

    # ------------------------------------------------------------------ setup (rank 0 scans)
    def _scan(self) -> tuple[list[TaskCost], list[tuple]]:
        eligible = self.opt.eligible
        tasks = []
        for job in self.project.find_jobs(self.opt.sp_filter or None):
            doc = job.doc()  # one read of the document
            status = JobStatus(doc.get("status", "pending"))
            if status is JobStatus.RUNNING:
                state, info = inspect_claim(job.path, stale_after_s=self.opt.stale_after_s)
                if state is ClaimState.LIVE:
                    continue  # another launch runs it
                if state is ClaimState.STALE:
                    break_stale(job.path, info, stale_after_s=self.opt.stale_after_s)
            elif status not in eligible:
                continue
            tasks.append(_task_cost(job, doc, self.k))
        return tasks, _history(self.root)

    def run(self) -> LaunchReport:
        w = self.world
        launch_id = w.bcast(f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}" if self.rank == 0 else None)
        self.journal = Journal(journal_path(self.root), launch_id, self.rank)
        setup = None
        if self.rank == 0:
            end_s = allocation_end(self.opt.walltime)
            tasks, history = self._scan()
            setup = (end_s, tasks, history)
            self.journal.write("launch_start", n_ranks=w.Get_size(), ranks_per_task=self.k,
                               n_candidates=len(tasks), end_time=end_s,
                               slurm_job_id=os.environ.get("SLURM_JOB_ID"),
                               options={k: (sorted(v) if isinstance(v, frozenset) else v)
                                        for k, v in dataclasses.asdict(self.opt).items()})
        self.end_s, self.tasks, history = w.bcast(setup)
        self.launch_id = launch_id
        self.model = CostModel(prior_rate=self.opt.prior_rate)
        for cls, atom_steps, wall_s, ranks in history:
            self.model.observe(cls, atom_steps, wall_s, ranks)
        group = w.Split(color=self.rank // self.k, key=self.rank)
        self.group = group
        self.leader = group.Get_rank() == 0
        self.group_index = self.rank // self.k
        threads = []
        if self.leader:
            threads.append(threading.Thread(target=self._heartbeat, daemon=True, name="lpsens-heartbeat"))
        if self.rank == 0 and self.opt.progress_interval_s > 0:
            threads.append(threading.Thread(target=self._progress, daemon=True, name="lpsens-progress"))
        for t in threads:
            t.start()
        try:
            self._loop()
        finally:
            self._finished.set()
            for t in threads:
                t.join(timeout=5)
        gathered = w.allgather((self.counts, self.started))
        total = {k: sum(c[k] for c, _ in gathered) for k in self.counts}
        started = {key for _, keys in gathered for key in keys}
        total["not_run"] = sum(1 for t in self.tasks if t.key not in started)
        if self.rank == 0:
            self.journal.write("launch_end", counts=total, slurm_job_id=os.environ.get("SLURM_JOB_ID"),
                               stopped_by_signal=self.stop.signum)
            log.info("lpsens launch %s: %s", launch_id, ", ".join(f"{v} {k}" for k, v in total.items()))
        if group is not w:
            group.Free()
        return LaunchReport(launch_id=launch_id, n_groups=self.n_groups, counts=total)

    # ------------------------------------------------------------------ main loop
    def _loop(self) -> None:
        if self.leader:
            if self.opt.dispatch is Dispatch.STATIC:
                mine = [t for i, t in enumerate(self.tasks) if i % self.n_groups == self.group_index]
                picker = self._static_picker(mine)
            else:
                picker = self._dynamic_picker(Scheduler(self.tasks, self.model, end_s=self.end_s,
                                                        margin_s=self.opt.margin_s))
        while True:
            pick = None
            if self.leader:
                pick = None if self.stop else next(picker, None)
            pick = self.group.bcast(pick)
            if pick is None:
                break
            self.started.append(pick[0])
            self._run_one(*pick)

    def _dynamic_picker(self, sched: Scheduler) -> Iterable[tuple]:
        """Yield (job id, cost, steps at start) for each task this leader claims."""
        while True:
            got = None
            for task in sched.candidates(time.time(), free_ranks=self.k):
                sched.discard(task.key)
                got = self._claim_job(task)
                if got is not None:
                    break
            if got is None:
                return  # what is left does not fit the walltime, or others hold it
            yield got

    def _static_picker(self, mine: list[TaskCost]) -> Iterable[tuple]:
        for task in mine:
            if self.end_s is not None and time.time() + self.model.checkpoint_s(task) + self.opt.margin_s > self.end_s:
                continue
            got = self._claim_job(task)
            if got is not None:
                yield got

    # ------------------------------------------------------------------ claiming (leader)
    def _claim_job(self, task: TaskCost) -> tuple | None:
        job = self.project.open_job(id=task.key)
        claim = try_claim(job.path, Owner.here(self.launch_id, self.rank))
        if claim is None:
            return None
        keep = False
        try:
            doc = job.doc()
            status = JobStatus(doc.get("status", "pending"))
            if status is JobStatus.RUNNING:
                # We hold the claim, so whoever set 'running' is gone.
                lost = int(doc.get("lost_count", 0)) + 1
                reason = "its launch ended while it ran (killed, node lost or walltime); resumes from its checkpoint"
                set_status(job, JobStatus.LOST, reason=reason, lost_count=lost)
                self.journal.write("lost", job=job.id, lost_count=lost, previous_host=doc.get("host"))
                log.warning("job %s was lost (%d time(s)); %s", job.id, lost, reason)
                if lost > self.opt.max_retries:
                    set_status(job, JobStatus.FAILED, reason=f"lost {lost} times, more than --max-retries "
                               f"{self.opt.max_retries}; rerun with --retry-failed after checking md.log")
                    self.counts["failed"] += 1
                    return None
                status = JobStatus.LOST
            if status not in self.opt.eligible:
                return None
            steps0 = int(doc.get("progress_steps") or 0)
            set_status(job, JobStatus.RUNNING, reason=None, host=socket.gethostname(), started=utcnow(),
                       launch=self.launch_id)
            with self._lock:
                self._claim = claim
            keep = True
            self.journal.write("claim", job=job.id, group=self.group_index, est_s=self.model.estimate_s(task))
            return job.id, task, steps0
        finally:
            if not keep:
                claim.release()

    # ------------------------------------------------------------------ running (all group ranks)
    def _run_one(self, job_id: str, task: TaskCost, steps0: int) -> None:
        job = self.project.open_job(id=job_id)
        t0 = time.time()
        if self.leader:
            self.journal.write("start", job=job_id, group=self.group_index, ranks=self.k)
        seg = {"last": t0}

        def should_stop() -> bool:
            # Called at segment boundaries: the last interval is the best estimate of the next
            # segment (the first one includes setup and equilibration, so it errs early).
            now = time.time()
            per_seg, seg["last"] = now - seg["last"], now
            # Local decision: the task asks on its rank 0 and broadcasts the answer to its ranks.
            stop = bool(self.stop)
            if self.end_s is not None:
                stop = stop or now + per_seg + self.opt.margin_s > self.end_s
            return stop

        def on_segment(*args, **kwargs) -> None:
            if self.leader:
                with self._lock:
                    if self._claim is not None:
                        self._claim.heartbeat()
                info = {k: v for k, v in kwargs.items() if isinstance(v, (int, float, str, bool))}
                if args and isinstance(args[0], (int, float)):
                    info.setdefault("steps", args[0])
                self.journal.write("checkpoint", job=job_id, **info)

        try:
            outcome = self.task_fn(job, comm=None if isinstance(self.group, _SerialComm) else self.group,
                                   should_stop=should_stop, on_segment=on_segment)
            status = JobStatus(getattr(outcome, "status", "done"))
            if status not in (JobStatus.DONE, JobStatus.TIMEOUT):
                raise LaunchError(f"task returned status {status.value!r}; expected 'done' or 'timeout'")
            result = (True, status.value, int(getattr(outcome, "steps_done", 0) or 0), None)
        except Exception as exc:  # noqa: BLE001 -- fault isolation: any task error fails only this job
            log.debug("job %s failed", job_id, exc_info=True)
            reason = f"{type(exc).__name__}: {exc}"
            result = (False, "failed", None, reason)
        results = self.group.gather(result)
        if self.leader:
            self._record(job, task, steps0, t0, time.time(), results)

    def _record(self, job, task: TaskCost, steps0: int, t0: float, t1: float, results: list) -> None:
        failures = [r[3] for r in results if not r[0]]
        wall_s = t1 - t0
        doc = job.doc()
        # TaskOutcome.steps_done counts the MD steps of this call
        steps_run = max([0] + [r[2] for r in results if r[0] and r[2]])
        record = {"launch": self.launch_id, "host": socket.gethostname(), "ranks": self.k,
                  "start": _iso(t0), "end": _iso(t1), "wall_s": round(wall_s, 3), "from_step": steps0, "steps": steps_run,
                  "steps_per_s": round(steps_run / wall_s, 3) if wall_s > 0 else None}
        runs = list(doc.get("runs") or [])
        if failures:
            reason = failures[0] if len(set(failures)) == 1 else "; ".join(sorted(set(failures)))
            tail = _log_tail(job)
            record.update(exit="failed", reason=reason)
            set_status(job, JobStatus.FAILED, reason=reason, log_tail=tail, runs=runs + [record])
            self.counts["failed"] += 1
            log.error("job %s failed: %s", job.id, reason)
        else:
            status = JobStatus(results[0][1])
            record["exit"] = status.value
            if status is JobStatus.TIMEOUT:
                reason = (f"stopped by signal {signal.Signals(self.stop.signum).name}" if self.stop
                          else "stopped before the walltime") + "; resumes from its checkpoint"
            else:
                reason = None
            set_status(job, status, reason=reason, runs=runs + [record], log_tail=None,
                       **({"finished": utcnow()} if status is JobStatus.DONE else {}))
            self.counts[status.value] += 1
            if steps_run > 0:
                self.model.observe(task.cls, float(task.n_atoms) * steps_run, wall_s, self.k)
        with self._lock:
            claim, self._claim = self._claim, None
        if claim is not None:
            claim.release()
        self.journal.write("finish", job=job.id, outcome=record["exit"], reason=record.get("reason"),
                           wall_s=wall_s, atom_steps=float(task.n_atoms) * steps_run, cls=task.cls,
                           ranks=self.k, t_start=t0, t_end=t1)

    # ------------------------------------------------------------------ threads
    def _heartbeat(self) -> None:
        while not self._finished.wait(self.opt.heartbeat_s):
            with self._lock:
                if self._claim is not None:
                    self._claim.heartbeat()

    def _progress(self) -> None:
        from lpsens.launch.progress import ProgressReporter

        ProgressReporter(journal_path(self.root), self.launch_id, self.tasks, self.n_groups,
                         CostModel(prior_rate=self.opt.prior_rate)).run(self._finished, self.opt.progress_interval_s)


def _iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- command line
def add_arguments(p) -> None:
    """The ``lpsens launch`` options (shared by the CLI and test/benchmark drivers)."""
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
    p.add_argument("--ranks-per-task", "-k", type=int, default=1, metavar="K",
                   help="MPI ranks per task; the number of ranks must be a multiple (default: 1)")
    p.add_argument("--walltime", default=None,
                   help="allocation length, seconds or [D-]HH:MM:SS (default: SLURM_JOB_END_TIME, squeue, or none)")
    p.add_argument("-f", "--filter", type=_json, default=None, metavar="JSON",
                   help='signac state-point filter, e.g. \'{"material": "glass", "temperature_K": {"$gte": 600}}\'')
    p.add_argument("--status", default="pending,timeout,lost",
                   help="comma-separated eligible states (default: pending,timeout,lost)")
    p.add_argument("--retry-failed", action="store_true", help="also run failed jobs")
    p.add_argument("--max-retries", type=int, default=3,
                   help="a job found lost more often than this is marked failed (default: 3)")
    p.add_argument("--stale-after", type=float, default=300.0, metavar="S",
                   help="a claim without heartbeat for S seconds belongs to a dead launch (default: 300)")
    p.add_argument("--heartbeat", type=float, default=30.0, metavar="S", help="claim heartbeat interval (default: 30)")
    p.add_argument("--margin", type=float, default=60.0, metavar="S",
                   help="seconds kept free before the walltime (default: 60)")
    p.add_argument("--prior-rate", type=float, default=500.0, metavar="ATOM_STEPS_PER_S",
                   help="throughput assumed per rank before any run finished (default: 500)")
    p.add_argument("--progress-interval", type=float, default=10.0, metavar="S",
                   help="seconds between progress lines; 0 disables (default: 10)")


def options_from_args(args) -> LaunchOptions:
    statuses = [s.strip() for s in str(args.status).split(",") if s.strip()]
    if args.retry_failed and "failed" not in statuses:
        statuses.append("failed")
    return LaunchOptions(
        ranks_per_task=args.ranks_per_task, walltime=args.walltime, statuses=frozenset(statuses),
        retry_failed=args.retry_failed, max_retries=args.max_retries, sp_filter=args.filter,
        stale_after_s=args.stale_after, heartbeat_s=args.heartbeat, margin_s=args.margin,
        prior_rate=args.prior_rate, progress_interval_s=args.progress_interval)


def run_from_args(args, task_fn: Callable | None = None) -> int:
    """``lpsens launch``: every rank of ``MPI.COMM_WORLD`` calls this; returns the exit status."""
    from mpi4py import MPI  # before LAMMPS, so libmpi resolves from the mpich wheel

    from lpsens.project import open_project

    options = options_from_args(args)
    project = open_project(args.root)
    report = launch(project, comm=MPI.COMM_WORLD, task_fn=task_fn, options=options)
    return report.exit_code
