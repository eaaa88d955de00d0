"""One job's lifecycle, claim -> run -> record, shared by ``lpsens launch`` and ``lpsens run``.

* **claim**: the job's claim file (:mod:`lpsens.launch.claims`) is held while the task runs and
  heart-beaten (:class:`Heartbeat`), so a concurrent launch neither runs the job nor takes it
  for lost; :func:`start_job` moves the job to ``running``.
* **run**: the task function (:mod:`lpsens.tasks`) is called with ``should_stop`` (a
  :class:`StopFlag` set by signals, plus the walltime rule of a launch) and ``on_segment``;
  ASE I/O is serial meanwhile (:func:`serial_ase`). What the task returns is held to the task
  contract by :func:`task_result`.
* **record**: :func:`finish_job` writes the outcome (``done``/``timeout``/``failed``), its
  reason and one entry of ``runs`` (:func:`run_record`) to the job document in one write.

The launcher (:mod:`lpsens.launch.launcher`, many jobs on MPI rank groups, with worker
processes) and :func:`run_job` (one job in this process, ``lpsens run``) are built from these
pieces; the worker process (:mod:`lpsens.launch.worker`) uses the same stop flag, task contract
and serial ASE.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from lpsens.errors import LaunchError, LpsensError, ProjectError
from lpsens.launch.claims import Claim, Owner, inspect_claim, try_claim
from lpsens.status import JobStatus, get_status, set_status, utcnow

__all__ = ["StopFlag", "Heartbeat", "serial_ase", "make_ase_serial", "task_result", "start_job", "finish_job",
           "run_record", "log_tail", "run_job", "FINAL_TASK_STATES"]

log = logging.getLogger("lpsens.launch")

#: Lines of ``md.log`` kept in the document of a failed job.
LOG_TAIL_LINES = 20

#: What a task may report: it finished (``done``) or stopped at a segment boundary (``timeout``).
FINAL_TASK_STATES = (JobStatus.DONE, JobStatus.TIMEOUT)


# --------------------------------------------------------------------------- run: stop flag
class StopFlag:
    """Set by a signal (checked by the task at segment boundaries, by a launch between tasks).

    Parameters
    ----------
    signals
        Signals that set the flag while it is installed (default: SIGTERM and SIGUSR1, which
        SLURM sends before the walltime).
    on_signal
        Optional ``callback(signum)`` called from the handler (e.g. to log).
    """

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self, signals: Iterable[int] | None = None, on_signal: Callable[[int], None] | None = None):
        self.signals = tuple(self.SIGNALS if signals is None else signals)
        self.signum: int | None = None
        self._on_signal = on_signal
        self._old = {}

    def __bool__(self):
        return self.signum is not None

    def __repr__(self) -> str:
        return f"StopFlag(signals={[signal.Signals(s).name for s in self.signals]}, signum={self.signum})"

    def _handler(self, signum, frame):  # noqa: ARG002
        self.signum = signum
        if self._on_signal is not None:
            self._on_signal(signum)

    def install(self) -> StopFlag:
        """Handle the signals (main thread only: elsewhere Python cannot install handlers)."""
        if threading.current_thread() is threading.main_thread():
            for s in self.signals:
                self._old[s] = signal.signal(s, self._handler)
        return self

    def restore(self) -> None:
        """Put the previous handlers back."""
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old.clear()


# --------------------------------------------------------------------------- claim: heartbeat
class Heartbeat:
    """A daemon thread that heart-beats the claims of running jobs every ``interval_s`` seconds.

    Parameters
    ----------
    claims
        Called at every beat; returns the claims held now.
    interval_s
        Seconds between beats (a claim older than ``stale_after_s`` belongs to a dead launch).
    """

    def __init__(self, claims: Callable[[], Iterable[Claim]], interval_s: float):
        self._claims = claims
        self.interval_s = float(interval_s)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="lpsens-heartbeat")

    def __repr__(self) -> str:
        return f"Heartbeat(interval_s={self.interval_s:g}, running={self._thread.is_alive()})"

    def _beat(self) -> None:
        while not self._stopped.wait(self.interval_s):
            for claim in list(self._claims()):
                claim.heartbeat()

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)


# --------------------------------------------------------------------------- run: serial ASE I/O
def make_ase_serial():
    """Make ASE I/O serial in this process; returns what to give :func:`restore_ase`.

    With mpi4py loaded, ``ase.io.read``/``write`` (``ase.parallel.parallel_function``) read on
    rank 0 of COMM_WORLD and broadcast the result -- or the exception -- to all ranks: a
    collective the other ranks of a task (or other tasks) never join when only one rank does
    I/O, which deadlocks, and packed tasks reading different files at the same time would
    receive each other's structures or errors (seen: a good job failing with the XYZError of a
    broken one). Tasks are independent and do their own communication, so every rank does its
    own ASE I/O.
    """
    try:
        import ase.parallel
    except ImportError:
        return _NOT_SET
    old = ase.parallel.world.__dict__.get("comm", _NOT_SET)
    ase.parallel.world.comm = ase.parallel.DummyMPI()
    return old


def restore_ase(old) -> None:
    """Undo :func:`make_ase_serial` (``old``: its return value)."""
    try:
        import ase.parallel
    except ImportError:
        return
    if old is _NOT_SET:
        ase.parallel.world.__dict__.pop("comm", None)
    else:
        ase.parallel.world.comm = old


@contextlib.contextmanager
def serial_ase():
    """Context in which ASE I/O is serial (see :func:`make_ase_serial` for why)."""
    old = make_ase_serial()
    try:
        yield
    finally:
        restore_ase(old)


_NOT_SET = object()


# --------------------------------------------------------------------------- run: the task contract
def task_result(outcome) -> tuple[JobStatus, int]:
    """The (status, MD steps run) a task function returned, held to the task contract.

    A task returns an object with ``status`` (``"done"``, or ``"timeout"`` when it stopped at a
    segment boundary) and ``steps_done`` (an integer >= 0: the steps this call ran), e.g.
    :class:`lpsens.md.task.TaskOutcome`.

    Raises
    ------
    LaunchError
        If the task returned nothing, another status, or no valid ``steps_done``: a task that
        does not say what it did must not count as done.
    """
    if outcome is None:
        raise LaunchError("task returned None; a task must return an object with 'status' ('done' or "
                          "'timeout') and 'steps_done' (e.g. lpsens.md.task.TaskOutcome)")
    status = getattr(outcome, "status", None)
    try:
        status = JobStatus(status)
    except ValueError:
        status = None
    if status not in FINAL_TASK_STATES:
        raise LaunchError(f"task returned status {getattr(outcome, 'status', None)!r}; expected 'done' or 'timeout'")
    steps = getattr(outcome, "steps_done", None)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise LaunchError(f"task returned steps_done = {steps!r}; expected an integer >= 0")
    return status, steps


# --------------------------------------------------------------------------- record
def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def run_record(launch_id: str, ranks: int, t0: float, t1: float, from_step: int, steps: int) -> dict:
    """One entry of ``job.doc["runs"]``: who ran the job when, from which step, how fast.

    ``t0``/``t1`` are epoch seconds; the caller adds ``exit`` (and ``reason``).
    """
    wall_s = t1 - t0
    return {"launch": launch_id, "host": socket.gethostname(), "ranks": ranks, "start": _iso(t0), "end": _iso(t1),
            "wall_s": round(wall_s, 3), "from_step": from_step, "steps": steps,
            "steps_per_s": round(steps / wall_s, 3) if wall_s > 0 else None}


def log_tail(job, n: int = LOG_TAIL_LINES) -> str | None:
    """The last ``n`` lines of the job's ``md.log`` (from its last 16 kB), None without one; kept
    in the job document of a failed job."""
    path = Path(job.fn("md.log"))
    if not path.exists():
        return None
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 16384))
        lines = fh.read().decode(errors="replace").splitlines()
    return "\n".join(lines[-n:])


def start_job(job, launch_id: str) -> None:
    """Move a claimed job to ``running`` (host, start time and the launch that runs it).

    Raises
    ------
    ProjectError
        If the job may not move to ``running`` (a ``done`` job).
    """
    set_status(job, JobStatus.RUNNING, reason=None, host=socket.gethostname(), started=utcnow(), launch=launch_id)


def finish_job(job, status: JobStatus, *, reason: str | None, run: dict, runs: list | None = None,
               log_tail: str | None = None) -> None:
    """Record a task's end in one write: status, reason and ``run`` appended to ``runs``.

    ``run`` gets ``exit`` (the status) and, with a reason, ``reason``; ``runs`` are the earlier
    entries (default: read from the job document); ``log_tail`` is kept for a failure only.

    Raises
    ------
    ProjectError
        If the job is not ``running`` (someone else moved it).
    """
    status = JobStatus(status)
    run = {**run, "exit": status.value}
    if status is JobStatus.FAILED:
        run["reason"] = reason
    runs = list(job.doc.get("runs") or []) if runs is None else list(runs)
    fields = {"runs": runs + [run], "log_tail": log_tail if status is JobStatus.FAILED else None}
    if status is JobStatus.DONE:
        fields["finished"] = utcnow()
    set_status(job, status, reason=reason, **fields)


# --------------------------------------------------------------------------- one job in this process
def _claimed_by(job) -> ProjectError:
    _, info = inspect_claim(job.path, stale_after_s=float("inf"))
    return ProjectError(
        f"job is claimed by launch {info.get('launch')} on {info.get('host')} (pid {info.get('pid')}); "
        "wait for it, or remove .lpsens_claim.json from the job directory if that process is gone",
        job_id=job.id,
    )


#: reason of a job that ``lpsens run`` stopped at a segment boundary
RUN_STOPPED_REASON = "stopped by a signal at a segment boundary; resume with `lpsens run`"


def run_job(job, task_fn: Callable, *, on_segment: Callable | None = None,
            signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT), heartbeat_s: float = 30.0, **task_kwargs):
    """Run (or resume) one job in this process: claim -> running -> task -> recorded outcome.

    The claim is the one a launcher holds, so a concurrent launch neither runs this job nor
    mistakes it for lost. ``signals`` stop the task at its next segment boundary (status
    ``timeout``).

    Parameters
    ----------
    job
        signac job.
    task_fn
        Task function (:func:`lpsens.tasks.task_function_for`).
    on_segment
        Passed to the task (``callback(progress_steps, total_steps)``).
    signals
        Signals that stop the task at its next segment boundary.
    heartbeat_s
        Interval of claim heartbeats, s.
    **task_kwargs
        Passed to the task (e.g. ``backend``).

    Returns
    -------
    object or None
        What the task returned (its ``status`` is ``done`` or ``timeout``); None if the job was
        already done.

    Raises
    ------
    ProjectError
        Unreadable job document, or the job is claimed by a launch.
    LpsensError, Exception
        What the task raised (the job is then ``failed`` with the reason), or a
        :class:`~lpsens.errors.LaunchError` when the task broke the task contract.
    """
    try:
        status = get_status(job)
    except ValueError as exc:  # an empty or cut job document (JSONDecodeError)
        raise ProjectError(f"cannot read the job document {Path(job.path) / 'signac_job_document.json'} ({exc}); "
                           "restore the file (e.g. from a backup) so that it holds the job's JSON document",
                           job_id=job.id) from None
    if status is JobStatus.DONE:
        log.warning("job %s is already done", job.id)
        return None
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    claim = try_claim(job.path, Owner.here(run_id, 0))
    if claim is None:
        raise _claimed_by(job)

    def said(signum):
        log.warning("signal %d: stopping at the next segment boundary", signum)

    stop = StopFlag(signals, on_signal=said).install()
    beat = Heartbeat(lambda: [claim], heartbeat_s).start()
    try:
        steps0 = int(job.doc.get("progress_steps") or 0)
        runs = list(job.doc.get("runs") or [])
        start_job(job, run_id)
        t0 = time.time()
        try:
            outcome = task_fn(job, should_stop=lambda: bool(stop), on_segment=on_segment, **task_kwargs)
            status, steps = task_result(outcome)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, LpsensError) else f"{type(exc).__name__}: {exc}"
            finish_job(job, JobStatus.FAILED, reason=reason, runs=runs,
                       run=run_record(run_id, 1, t0, time.time(), steps0, 0))
            raise
        finish_job(job, status, reason=None if status is JobStatus.DONE else RUN_STOPPED_REASON, runs=runs,
                   run=run_record(run_id, 1, t0, time.time(), steps0, steps))
    finally:
        beat.stop()
        claim.release()
        stop.restore()
    return outcome
