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
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lpsens.errors import LaunchError
from lpsens.launch.claims import Claim, ClaimState, Owner, break_stale, inspect_claim, try_claim
from lpsens.launch.communicator import SerialComm, find_mpiexec
from lpsens.launch.costs import finished_runs, job_ranks, task_cost
from lpsens.launch.crashes import record_crash
from lpsens.launch.journal import Journal, journal_path
from lpsens.launch.lifecycle import (
    Heartbeat,
    StopFlag,
    finish_job,
    log_tail,
    make_ase_serial,
    restore_ase,
    run_record,
    start_job,
    task_result,
)
from lpsens.launch.options import DEFAULT_ELIGIBLE, Dispatch, LaunchOptions
from lpsens.launch.scheduler import CostModel, Scheduler, TaskCost
from lpsens.launch.walltime import allocation_end
from lpsens.status import JobStatus, set_status

# Earlier homes of names other code imports from here: _task_cost (lpsens.train; now
# launch/costs.task_cost), the options (launch/options.py), find_mpiexec and the serial
# communicator (launch/communicator.py).
_task_cost = task_cost
_SerialComm = SerialComm

__all__ = ["Dispatch", "LaunchOptions", "LaunchReport", "launch", "find_mpiexec", "DEFAULT_ELIGIBLE"]

log = logging.getLogger("lpsens.launch")

#: exit status of a launch aborted by an error in the launcher itself (EX_SOFTWARE): the job
#: script's safety net relaunches on it, unlike 1 (a task failed)
LAUNCHER_ERROR_EXIT = 70
ABORT_GRACE_S = 1.0  # time for mpiexec to forward the abort message
#: seconds a worker may take to exit after reporting its result before it is killed
TEARDOWN_LIMIT_S = 60.0


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
        or whose worker died more than ``max_retries`` times), ``timeout``, ``not_run``
        (eligible when the launch started but not run by it: done meanwhile by a concurrent
        launch, or left for the next launch by the walltime rule or a stop signal), and
        ``unreadable`` (jobs skipped because their job document could not be read).
    stopped_by
        Name of the stop signal (SIGTERM, SIGUSR1) this rank received, or None.
    """

    launch_id: str
    n_groups: int
    counts: dict[str, int] = field(default_factory=dict)
    stopped_by: str | None = None

    @property
    def exit_code(self) -> int:
        """0 when no task failed and every job document was readable, 1 otherwise."""
        return 1 if self.counts.get("failed", 0) or self.counts.get("unreadable", 0) else 0


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
        (``"done"``/``"timeout"``) and ``steps_done`` (MD steps run by this call; the task
        contract, :func:`lpsens.launch.lifecycle.task_result`: returning anything else, None
        included, fails the job); default
        (``None``): :func:`lpsens.tasks.task_function_for` the project (MD:
        :func:`lpsens.md.task.run_task`). Every rank of the task calls it; it must call
        ``should_stop()`` at segment boundaries on its rank 0 and broadcast the answer, and
        ``on_segment(progress_steps, total_steps)`` after each checkpoint. Exceptions mark the
        job ``failed``. With ``options.isolate`` (default) it runs in a worker process and must
        be importable by name (``module:function``).
    options
        :class:`LaunchOptions`.
    install_signals
        Handle SIGTERM/SIGUSR1 (main thread only): running tasks stop at their next segment
        boundary as ``timeout``, and no new task starts.

    Returns
    -------
    LaunchReport
        Identical on all ranks; ``report.exit_code`` is non-zero if any task failed or a job
        document was unreadable.

    Raises
    ------
    LaunchError
        Bad options, a communicator size that is not a multiple of ``ranks_per_task``, or a
        ``task_fn`` that a worker process cannot import.

    Notes
    -----
    An unexpected exception in the launcher itself (not in a task) aborts the whole
    communicator with ``comm.Abort(70)`` so no rank hangs until the walltime.
    """
    options = options or LaunchOptions()
    comm = SerialComm() if comm is None else comm
    if options.isolate and task_fn is not None:
        from lpsens.tasks import name_of

        name_of(task_fn)  # refuse a closure before any rank starts
    if options.ranks_per_task is not None and comm.Get_size() % options.ranks_per_task:
        raise LaunchError(f"{comm.Get_size()} ranks cannot be split into groups of {options.ranks_per_task}; "
                          "use a number of ranks that is a multiple of --ranks-per-task", key="ranks_per_task")
    stop = StopFlag()
    if install_signals:
        stop.install()
    ase_comm = make_ase_serial()
    try:
        return _Launch(project, comm, task_fn, options, stop).run()
    except BaseException:
        if comm.Get_size() > 1:
            sys.stderr.write(f"lpsens launch: rank {comm.Get_rank()} failed, aborting all ranks\n"
                             + traceback.format_exc())
            sys.stderr.flush()
            # mpiexec (hydra) tears the job down on Abort without draining the ranks' stderr pipes:
            # without this pause the reason above was lost in 1 of ~40 CI runs (exit 70, no message)
            time.sleep(ABORT_GRACE_S)
            comm.Abort(LAUNCHER_ERROR_EXIT)
        raise
    finally:
        stop.restore()
        restore_ase(ase_comm)


@dataclass
class _Worker:
    """A task running in a worker process, supervised by its group leader."""

    job_id: str
    task: TaskCost
    steps0: int
    t0: float
    proc: object
    result: Path
    pidfd: int | None = None
    signalled: bool = False
    status_fd: int | None = None  # read end of the worker's status pipe (R: imports done, D: result written)
    ready: bool = False
    done: bool = False
    t_end: float | None = None  # when the leader saw the result (or the end of the process)

    def read_status(self) -> None:
        """Take the status bytes that arrived (called when ``status_fd`` is readable)."""
        data = os.read(self.status_fd, 64)
        self.ready = self.ready or bool(data)
        self.done = self.done or b"D" in data
        if not data or self.done:  # end of the pipe, or nothing more to hear
            self.close_status()

    def close_status(self) -> None:
        if self.status_fd is not None:
            os.close(self.status_fd)
            self.status_fd = None


@dataclass
class _Spare:
    """A worker started ahead of its task: imports done when ``ready``; reads its job from stdin."""

    proc: object
    status_fd: int | None
    t0: float
    ready: bool = False


class _Launch:
    def __init__(self, project, comm, task_fn, options: LaunchOptions, stop: StopFlag):
        self.project = project
        self.root = Path(project.path)
        self.world = comm
        self.task_fn = task_fn
        self.opt = options
        self.stop = stop
        self.rank = comm.Get_rank()
        self.k = options.ranks_per_task or 1  # group size; set from the tasks in run()
        self.n_groups = comm.Get_size() // self.k
        self.counts = {"done": 0, "failed": 0, "timeout": 0}
        self.started: list[str] = []
        self.dispatch_s = 0.0  # leader time spent picking, starting and recording worker tasks
        self.dispatch_cpu_s = 0.0  # the same as CPU time of the leader's thread (robust to other load)
        self._claims: dict[str, Claim] = {}
        self._retries: set[str] = set()
        self._lock = threading.Lock()
        self._finished = threading.Event()

    # ------------------------------------------------------------------ setup (rank 0 scans)
    def _unreadable(self, job, exc: BaseException) -> None:
        path = Path(job.path) / "signac_job_document.json"
        msg = (f"Error: cannot read the job document {path} ({type(exc).__name__}: {exc}); job {job.id} "
               "is skipped and the launch runs the other jobs. Fix: restore the file (e.g. from a backup "
               "or an earlier copy) so that it holds the job's JSON document, then launch again.")
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()
        self.journal.write("unreadable", job=job.id, path=str(path), error=f"{type(exc).__name__}: {exc}")

    def _scan(self) -> tuple[list[TaskCost], list[tuple], int]:
        eligible = self.opt.eligible
        tasks, unreadable, failed_left = [], 0, 0
        for job in self.project.find_jobs(self.opt.sp_filter or None):
            try:
                doc = job.doc()  # one read of the document
                status = JobStatus(doc.get("status", "pending"))
            except Exception as exc:  # noqa: BLE001 -- one bad document must not stop the allocation
                self._unreadable(job, exc)
                unreadable += 1
                continue
            if status is JobStatus.RUNNING:
                state, info = inspect_claim(job.path, stale_after_s=self.opt.stale_after_s)
                if state is ClaimState.LIVE:
                    continue  # another launch runs it
                if state is ClaimState.STALE:
                    break_stale(job.path, info, stale_after_s=self.opt.stale_after_s)
            elif status not in eligible:
                failed_left += status is JobStatus.FAILED
                continue
            try:
                ranks = job_ranks(doc, self.opt.ranks_per_task)
            except LaunchError as exc:
                sys.stderr.write(f"Error: {exc} in the job document of {job.id} ({job.path}); job skipped. "
                                 "Fix: set potential.ranks_per_task to a positive integer.\n")
                self.journal.write("skipped", job=job.id, reason=str(exc))
                unreadable += 1
                continue
            if ranks > self.world.Get_size():
                sys.stderr.write(f"Error: job {job.id} needs {ranks} ranks (potential.ranks_per_task) but the "
                                 f"launch has {self.world.Get_size()}; job skipped. Fix: start the launch with at "
                                 f"least {ranks} ranks.\n")
                self.journal.write("skipped", job=job.id, reason=f"needs {ranks} ranks")
                continue
            tasks.append(task_cost(job, doc, ranks))
        if failed_left:
            sys.stderr.write(f"note: {failed_left} failed job(s) are not run again; after fixing the cause "
                             "('lpsens status' lists each reason) launch with --retry-failed\n")
        return tasks, finished_runs(journal_path(self.root)), unreadable

    def run(self) -> LaunchReport:
        w = self.world
        launch_id = w.bcast(f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}" if self.rank == 0 else None)
        self.journal = Journal(journal_path(self.root), launch_id, self.rank)
        setup = None
        if self.rank == 0:
            end_s = allocation_end(self.opt.walltime)
            self._note_relaunch()
            tasks, history, unreadable = self._scan()
            group = self.opt.ranks_per_task or max([1] + [t.ranks for t in tasks])
            setup = (end_s, tasks, history, unreadable, group)
            self.journal.write("launch_start", n_ranks=w.Get_size(), ranks_per_task=self.opt.ranks_per_task,
                               group_size=group, n_candidates=len(tasks), end_time=end_s,
                               slurm_job_id=os.environ.get("SLURM_JOB_ID"),
                               relaunch=int(os.environ.get("LPSENS_RELAUNCH", "0") or 0),
                               options={k: (sorted(v) if isinstance(v, frozenset) else v)
                                        for k, v in dataclasses.asdict(self.opt).items()})
        self.end_s, self.tasks, history, unreadable, self.k = w.bcast(setup)
        self.n_groups = -(-w.Get_size() // self.k)
        self.launch_id = launch_id
        self.model = CostModel(prior_rate=self.opt.prior_rate)
        for cls, atom_steps, wall_s, ranks in history:
            self.model.observe(cls, atom_steps, wall_s, ranks)
        self.group_index = self.rank // self.k
        if self.opt.isolate:
            group = None
            self.leader = self.rank % self.k == 0
            self.slots = self._bind_group(w) if self.k > 1 else int(self.leader)
        else:
            group = w.Split(color=self.group_index, key=self.rank)
            self.group = group
            self.leader = group.Get_rank() == 0
        threads = []
        heartbeat = Heartbeat(self._held_claims, self.opt.heartbeat_s).start() if self.leader else None
        if self.rank == 0 and self.opt.progress_interval_s > 0:
            threads.append(threading.Thread(target=self._progress, daemon=True, name="lpsens-progress"))
        for t in threads:
            t.start()
        try:
            if not self.opt.isolate:
                self._loop()
            elif self.leader:
                self._supervise()
            # Ranks without work wait here without spinning a core (MPICH's blocking
            # collectives busy-poll), while other groups' workers run.
            request, pause = w.Ibarrier(), 0.001
            while not request.Test():
                time.sleep(pause)
                pause = min(0.02, 2 * pause)  # prompt when the others are about done, idle otherwise
        finally:
            self._finished.set()
            if heartbeat is not None:
                heartbeat.stop()
            for t in threads:
                t.join(timeout=5)
        gathered = w.allgather((self.counts, self.started, (self.dispatch_s, self.dispatch_cpu_s)))
        total = {k: sum(c[k] for c, _, _ in gathered) for k in self.counts}
        started = {key for _, keys, _ in gathered for key in keys}
        dispatch_s = sum(d[0] for _, _, d in gathered)
        dispatch_cpu_s = sum(d[1] for _, _, d in gathered)
        total["not_run"] = sum(1 for t in self.tasks if t.key not in started)
        total["unreadable"] = unreadable
        if self.rank == 0:
            self.journal.write("launch_end", counts=total, slurm_job_id=os.environ.get("SLURM_JOB_ID"),
                               stopped_by_signal=self.stop.signum, dispatch_s=round(dispatch_s, 6),
                               dispatch_cpu_s=round(dispatch_cpu_s, 6),
                               n_started=len(started))
            log.info("lpsens launch %s: %s", launch_id, ", ".join(f"{v} {k}" for k, v in total.items()))
            if total["not_run"] and not self.stop.signum:
                left = "no time limit" if self.end_s is None else f"{max(0.0, self.end_s - time.time()):.0f} s left"
                sys.stderr.write(
                    f"note: {total['not_run']} eligible job(s) not started ({left}): the cost model expected each to "
                    "run past the end of the allocation before its next checkpoint (until runs are observed it "
                    f"assumes --prior-rate {self.opt.prior_rate:g} atom-steps/s per rank; uf3 runs ~1e5); give "
                    "a longer --walltime, a --prior-rate measured on this machine, or a shorter [protocol] segment_ps\n")
        if group is not None and group is not w:
            group.Free()
        return LaunchReport(launch_id=launch_id, n_groups=self.n_groups, counts=total,
                            stopped_by=signal.Signals(self.stop.signum).name if self.stop.signum else None)

    def _bind_group(self, w) -> int:
        """The leader takes the cores of its group's ranks on its node; returns its slots (0: not a leader).

        Under ``srun --cpu-bind=cores`` (or ``mpiexec -bind-to core``) every rank is bound to one
        core, and a worker inherits its leader's binding: a k-rank worker would put all k ranks on
        the leader's core. So the leader widens its own affinity to the union of its group's cores
        (it only sleeps; its workers inherit the union). Ranks of the group on another node cannot
        host the leader's workers and are not counted as slots.
        """
        here = (socket.gethostname(), sorted(os.sched_getaffinity(0)))
        everyone = w.allgather(here)
        if not self.leader:
            return 0
        members = everyone[self.rank:self.rank + self.k]
        local = [cpus for host, cpus in members if host == here[0]]
        if len(local) < len(members):
            sys.stderr.write(f"lpsens launch: rank {self.rank}: {len(members) - len(local)} rank(s) of its group of "
                             f"{len(members)} are on another node; they stay idle. Fix: use a number of ranks per "
                             f"node that is a multiple of the group size {self.k}\n")
        os.sched_setaffinity(0, set().union(*map(set, local)))
        return len(local)

    def _note_relaunch(self) -> None:
        """A relaunch by the job script's safety net: say so in the journal and the output file."""
        n = int(os.environ.get("LPSENS_RELAUNCH", "0") or 0)
        if n > 0:
            after = os.environ.get("LPSENS_RELAUNCH_AFTER_STATUS")
            self.journal.write("relaunch", relaunch=n, after_exit_status=after,
                               slurm_job_id=os.environ.get("SLURM_JOB_ID"))
            sys.stderr.write(f"lpsens launch: relaunch {n} in this allocation (the previous launch ended with "
                             f"exit status {after}); lost jobs resume from their checkpoints\n")
            sys.stderr.flush()

    # ------------------------------------------------------------------ picking (leader)
    def _picker(self):
        """``pick(free_ranks)`` returning (job id, cost, steps at start) or None, and the queue
        (its ``add(task)`` puts a task back, e.g. a retry; ``remaining()`` lists what is left)."""
        if self.opt.dispatch is Dispatch.STATIC:
            from collections import deque

            mine = deque(t for i, t in enumerate(self.tasks) if i % self.n_groups == self.group_index)

            class _Queue:
                add = mine.append

                def __len__(self):
                    return len(mine)

                @staticmethod
                def remaining():
                    return list(mine)

            def pick_static(free: int):
                while mine:
                    task = mine.popleft()
                    if self.end_s is not None and time.time() + self.model.checkpoint_s(task) + self.opt.margin_s > self.end_s:
                        continue
                    got = self._claim_job(task)
                    if got is not None:
                        return got
                return None

            return pick_static, _Queue()
        sched = Scheduler(self.tasks, self.model, end_s=self.end_s, margin_s=self.opt.margin_s)

        def pick_dynamic(free: int):
            for task in sched.candidates(time.time(), free_ranks=free):
                sched.discard(task.key)
                got = self._claim_job(task)
                if got is not None:
                    return got
            return None  # what is left does not fit the free ranks or the walltime, or others hold it

        return pick_dynamic, sched

    # ------------------------------------------------------------------ main loop (in-process tasks)
    def _loop(self) -> None:
        if self.leader:
            pick, _ = self._picker()
        while True:
            got = None
            if self.leader:
                got = None if self.stop else pick(self.k)
            got = self.group.bcast(got)
            if got is None:
                break
            self.started.append(got[0])
            self._run_one(*got)

    # ------------------------------------------------------------------ supervising worker processes
    def _supervise(self) -> None:
        """Leader of ``self.slots`` ranks: keep them busy with worker processes until no task fits."""
        pick, sched = self._picker()
        running: dict[int, _Worker] = {}
        ended: list[_Worker] = []
        self._exiting: list = []  # (proc, job, kill deadline): result reported, still tearing down
        free = self.slots
        try:
            while True:
                t, c = time.perf_counter(), time.thread_time()
                if self.stop:
                    self._drop_spare()
                    for wk in running.values():
                        if not wk.signalled:  # the worker checkpoints at its next segment boundary
                            wk.signalled = True
                            _signal(wk.proc, self.stop.signum)
                else:
                    while free > 0:
                        got = pick(free)
                        if got is None:
                            break
                        wk = self._start_worker(*got)
                        running[wk.proc.pid] = wk
                        free -= wk.task.ranks
                # The ended tasks' bookkeeping (job document, journal, claim release) comes after
                # their slots got the next tasks: it is not on the next task's critical path.
                retried = False
                for wk in ended:
                    retry = self._finish_worker(wk)
                    if retry is not None and sched is not None:
                        sched.add(retry)
                        retried = True
                ended = []
                self._reap()
                if not self.stop:
                    self._keep_spare(running, sched)
                self.dispatch_s += time.perf_counter() - t
                self.dispatch_cpu_s += time.thread_time() - c
                if retried and free > 0 and not self.stop:
                    continue  # a retry may take a slot that is free now
                if not running:
                    return  # nothing runs and nothing more fits all our ranks
                for pid in self._wait_any(running, timeout_s=0.5):
                    wk = running.pop(pid)
                    free += wk.task.ranks
                    ended.append(wk)
        finally:
            self._drop_spare()
            for wk in running.values():  # only on an error in the launcher itself
                wk.proc.kill()
                self._exiting.append((wk.proc, wk.job_id, time.time()))
            self._reap(final=True)

    def _wait_any(self, running: dict, timeout_s: float) -> list[int]:
        """Pids of workers that reported their result or ended, waiting up to ``timeout_s``
        without spinning: ``select`` on their status pipes and pidfds (Linux)."""
        import select

        fds = {}
        for wk in running.values():
            if wk.status_fd is not None:
                fds[wk.status_fd] = wk
        pidfds = [wk.pidfd for wk in running.values() if wk.pidfd is not None]
        if len(pidfds) == len(running):
            readable, _, _ = select.select(list(fds) + pidfds, [], [], timeout_s)
        else:
            readable, _, _ = select.select(list(fds), [], [], min(timeout_s, 0.005))
        for fd in readable:
            if fd in fds:
                fds[fd].read_status()
        now = time.time()
        ended = [pid for pid, wk in running.items() if wk.done or wk.proc.poll() is not None]
        for pid in ended:
            running[pid].t_end = now
        return ended

    def _reap(self, final: bool = False) -> None:
        """Collect workers that reported their result and have exited since (no zombies).

        One still there :data:`TEARDOWN_LIMIT_S` after its result is stuck in its teardown (e.g.
        in ``MPI_Finalize``) and would take a core from the next tasks: it is killed (its
        result stands). ``final``: wait for each up to that limit (the end of the launch).
        """
        import subprocess

        left = []
        for proc, job_id, deadline in self._exiting:
            if proc.poll() is None and final:
                try:
                    proc.wait(timeout=max(0.0, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    pass
            if proc.returncode is None and time.time() >= deadline:
                sys.stderr.write(f"lpsens launch: the worker of job {job_id} had not exited "
                                 f"{TEARDOWN_LIMIT_S:g} s after its result; killed (the result stands)\n")
                proc.kill()
                proc.wait()
            if proc.returncode is None:
                left.append((proc, job_id, deadline))
        self._exiting = left

    def _worker_command(self, job_id: str | None, task: TaskCost | None, result: Path | None) -> tuple[list[str], dict]:
        """The worker's command line and environment (``job_id`` None: a spare that reads its job from stdin)."""
        cmd = [sys.executable, "-m", "lpsens.launch.worker", "--root", str(self.root),
               "--launch", self.launch_id, "--rank", str(self.rank),
               "--parent-pid", str(os.getpid()), "--margin", str(self.opt.margin_s)]
        if job_id is not None:
            cmd += ["--job", job_id, "--result", str(result)]
        if self.end_s is not None:
            cmd += ["--end", repr(float(self.end_s))]
        if self.task_fn is not None:
            from lpsens.tasks import name_of

            cmd += ["--task", name_of(self.task_fn)]
        extra = {}
        if task is not None and task.ranks > 1:
            # Its own process manager on this node: COMM_WORLD of the worker = the task's ranks.
            # "-hosts localhost": hydra must not take its host list from an enclosing SLURM
            # allocation (SLURM_NODELIST, SLURM_TASKS_PER_NODE, inherited under srun).
            cmd = [find_mpiexec(), "-launcher", "fork", "-hosts", "localhost", "-n", str(task.ranks), *cmd]
            extra["LPSENS_WORKER_MPI"] = "1"
        from lpsens.launch.worker import worker_env

        return cmd, worker_env(extra)

    def _popen(self, cmd: list[str], env: dict, **kw) -> tuple:
        """Start a worker with a status pipe; returns (Popen, read end of the pipe)."""
        import subprocess

        r, w = os.pipe()
        try:
            proc = subprocess.Popen([*cmd, "--status-fd", str(w)], env=env, pass_fds=(w,), **kw)
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
        return proc, r

    def _keep_spare(self, running: dict, sched) -> None:
        """Start a spare worker (imports done, waiting on stdin) for the next 1-rank task.

        Only when a 1-rank task may still come and none of this leader's workers is still
        importing: a spare started next to a worker that is itself starting up would take the
        cores from it (two interpreters importing per leader, 2 x the ranks on the cores), and a
        spare started when the queue is empty only costs CPU.
        """
        import subprocess

        spare = getattr(self, "_spare", None)
        if spare is not None:
            if spare.proc.poll() is None:
                return
            self._drop_spare()  # died while waiting (killed from outside): start another
        if sched is None or not len(sched):
            return
        if self.k > 1 and not any(t.ranks == 1 for t in sched.remaining()):  # with k = 1 all are 1-rank
            return
        now = time.time()
        # A worker whose "R" never comes (status pipe not passed on) counts as started after 2 s.
        if any(not (wk.ready or wk.done) and now - wk.t0 < 2.0 for wk in running.values()):
            return
        cmd, env = self._worker_command(None, None, None)
        proc, fd = self._popen(cmd, env, stdin=subprocess.PIPE, text=True)
        self._spare = _Spare(proc, fd, now)

    def _take_spare(self, job_id: str, result: Path) -> _Spare | None:
        spare, self._spare = getattr(self, "_spare", None), None
        if spare is None:
            return None
        if spare.proc.poll() is None:
            try:
                spare.proc.stdin.write(json.dumps({"job": job_id, "result": str(result)}) + "\n")
                spare.proc.stdin.close()
                return spare
            except OSError:  # the spare died while waiting: start the task in a fresh worker
                pass
        self._spare = spare
        self._drop_spare()
        return None

    def _drop_spare(self) -> None:
        """End the spare at once: it holds no job (killing it loses nothing, and it need not
        finish its imports first)."""
        spare, self._spare = getattr(self, "_spare", None), None
        if spare is not None:
            spare.proc.kill()
            spare.proc.wait()
            if spare.proc.stdin is not None:
                try:
                    spare.proc.stdin.close()
                except OSError:
                    pass
            if spare.status_fd is not None:
                os.close(spare.status_fd)

    def _start_worker(self, job_id: str, task: TaskCost, steps0: int) -> _Worker:
        job = self.project.open_job(id=job_id)
        result = Path(job.fn(f".lpsens_result.{self.launch_id}.json"))
        result.unlink(missing_ok=True)
        t0 = time.time()
        spare = self._take_spare(job_id, result) if task.ranks == 1 else None
        if spare is not None:
            proc, status_fd = spare.proc, spare.status_fd
        else:
            cmd, env = self._worker_command(job_id, task, result)
            proc, status_fd = self._popen(cmd, env)
        try:
            pidfd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            pidfd = None
        self.started.append(job_id)
        self.journal.write("start", job=job_id, group=self.group_index, ranks=task.ranks, worker_pid=proc.pid)
        return _Worker(job_id, task, steps0, t0, proc, result, pidfd, status_fd=status_fd,
                       ready=spare is not None and spare.ready)

    def _finish_worker(self, wk: _Worker) -> TaskCost | None:
        """Record a worker's end; returns the task to retry when its worker died and retries are left."""
        if wk.pidfd is not None:
            os.close(wk.pidfd)
        t1 = wk.t_end or time.time()
        job = self.project.open_job(id=wk.job_id)
        try:
            data = json.loads(wk.result.read_text())
            wk.result.unlink(missing_ok=True)
        except (OSError, ValueError):
            data = None
        if data is None and wk.proc.returncode is None:
            wk.proc.wait()  # "D" without a readable result (cannot happen): judge by the exit
        wk.close_status()
        if wk.proc.returncode is None:  # its result is in; the teardown overlaps the next task
            self._exiting.append((wk.proc, wk.job_id, time.time() + TEARDOWN_LIMIT_S))
        if data is not None:
            results = [(r["ok"], r.get("status", "failed"), r.get("steps_done"), r.get("reason"))
                       for r in data["results"]]
            self._record(job, wk.task, wk.steps0, wk.t0, t1, results, signum=data.get("signal"))
            return None
        # The worker died: a signal, or an exit without a result (quippy exits 0 on bad XML).
        crash = record_crash(job, launch_id=self.launch_id, ranks=wk.task.ranks, t0=wk.t0, t1=t1, steps0=wk.steps0,
                             returncode=wk.proc.returncode, max_retries=self.opt.max_retries)
        log.error("job %s: %s", wk.job_id, crash.reason)
        retry = None
        if crash.retry:
            self._retries.add(wk.job_id)
            retry = task_cost(job, job.doc(), wk.task.ranks)
        else:
            self.counts["failed"] += 1
        with self._lock:
            claim = self._claims.pop(wk.job_id, None)
        if claim is not None:
            claim.release()
        self.journal.write("finish", job=wk.job_id, outcome=crash.outcome, reason=crash.reason, wall_s=t1 - wk.t0,
                           atom_steps=0.0, cls=wk.task.cls, ranks=wk.task.ranks, t_start=wk.t0, t_end=t1,
                           exit_status=wk.proc.returncode, crash_count=crash.crash_count)
        return retry

    # ------------------------------------------------------------------ claiming (leader)
    def _claim_job(self, task: TaskCost) -> tuple | None:
        job = self.project.open_job(id=task.key)
        claim = try_claim(job.path, Owner.here(self.launch_id, self.rank))
        if claim is None:
            return None
        keep = False
        try:
            try:
                doc = job.doc()
                status = JobStatus(doc.get("status", "pending"))
            except Exception as exc:  # noqa: BLE001 -- a document broken since the scan
                self._unreadable(job, exc)
                return None
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
            if status not in self.opt.eligible and not (status is JobStatus.LOST and job.id in self._retries):
                return None
            if status is JobStatus.FAILED and doc.get("launch") == self.launch_id:
                return None  # failed in this very launch: --retry-failed means once per launch, not until it works
            steps0 = int(doc.get("progress_steps") or 0)
            start_job(job, self.launch_id)
            with self._lock:
                self._claims[job.id] = claim
            keep = True
            self.journal.write("claim", job=job.id, group=self.group_index, est_s=self.model.estimate_s(task))
            return job.id, task, steps0
        finally:
            if not keep:
                claim.release()

    # ------------------------------------------------------------------ running in-process (all group ranks)
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
                    claim = self._claims.get(job_id)
                if claim is not None:
                    claim.heartbeat()
                info = {k: v for k, v in kwargs.items() if isinstance(v, (int, float, str, bool))}
                if args and isinstance(args[0], (int, float)):
                    info.setdefault("steps", args[0])
                self.journal.write("checkpoint", job=job_id, **info)

        task_fn = self.task_fn
        if task_fn is None:
            from lpsens.tasks import task_function_for

            task_fn = task_function_for(self.project)
        try:
            outcome = task_fn(job, comm=None if isinstance(self.group, SerialComm) else self.group,
                              should_stop=should_stop, on_segment=on_segment)
            status, steps = task_result(outcome)
            result = (True, status.value, steps, None)
        except Exception as exc:  # noqa: BLE001 -- fault isolation: any task error fails only this job
            log.debug("job %s failed", job_id, exc_info=True)
            reason = f"{type(exc).__name__}: {exc}"
            result = (False, "failed", None, reason)
        results = self.group.gather(result)
        if self.leader:
            self._record(job, task, steps0, t0, time.time(), results, signum=self.stop.signum)

    def _record(self, job, task: TaskCost, steps0: int, t0: float, t1: float, results: list,
                signum: int | None = None) -> None:
        failures = [r[3] for r in results if not r[0]]
        if not failures:
            for r in results:
                if r[1] not in (JobStatus.DONE.value, JobStatus.TIMEOUT.value):
                    failures.append(f"LaunchError: task returned status {r[1]!r}; expected 'done' or 'timeout'")
        wall_s = t1 - t0
        # TaskOutcome.steps_done counts the MD steps of this call
        steps_run = max([0] + [r[2] for r in results if r[0] and r[2]])
        record = run_record(self.launch_id, task.ranks, t0, t1, steps0, steps_run)
        if failures:
            status = JobStatus.FAILED
            reason = failures[0] if len(set(failures)) == 1 else "; ".join(sorted(set(failures)))
            finish_job(job, status, reason=reason, run=record, log_tail=log_tail(job))
            self.counts["failed"] += 1
            log.error("job %s failed: %s", job.id, reason)
        else:
            status = JobStatus(results[0][1])
            if status is JobStatus.TIMEOUT:
                signum = signum or self.stop.signum
                reason = (f"stopped by signal {signal.Signals(signum).name}" if signum
                          else "stopped before the walltime") + "; resumes from its checkpoint"
            else:
                reason = None
            finish_job(job, status, reason=reason, run=record)
            self.counts[status.value] += 1
            if steps_run > 0:
                self.model.observe(task.cls, float(task.n_atoms) * steps_run, wall_s, task.ranks)
        with self._lock:
            claim = self._claims.pop(job.id, None)
        if claim is not None:
            claim.release()
        self.journal.write("finish", job=job.id, outcome=status.value, reason=reason if failures else None,
                           wall_s=wall_s, atom_steps=float(task.n_atoms) * steps_run, cls=task.cls,
                           ranks=task.ranks, t_start=t0, t_end=t1)

    # ------------------------------------------------------------------ threads
    def _held_claims(self) -> list[Claim]:
        with self._lock:
            return list(self._claims.values())

    def _progress(self) -> None:
        from lpsens.launch.progress import ProgressReporter

        ProgressReporter(journal_path(self.root), self.launch_id, self.tasks, self.world.Get_size(),
                         CostModel(prior_rate=self.opt.prior_rate)).run(self._finished, self.opt.progress_interval_s)


def _signal(proc, signum: int) -> None:
    try:
        proc.send_signal(signum)
    except ProcessLookupError:
        pass
