"""A worker process that died: why (:func:`death_reason`), and what it costs its job (:func:`record_crash`).

A worker that ends without writing its result (a signal, a segfault, an exit without finishing;
quippy exits 0 on a bad XML) leaves its job ``running``. Its group leader records the crash on the
job: one ``runs`` entry with ``exit = "crashed"`` and the reason, ``crash_count`` + 1, and the job
``lost`` (retried from its checkpoint in the same launch) until the crashes exceed
``--max-retries``, then ``failed`` with every attempt's reason and the tail of ``md.log``.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from lpsens.launch.lifecycle import log_tail, run_record
from lpsens.status import JobStatus, set_status

__all__ = ["death_reason", "record_crash", "Crash"]


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def death_reason(returncode: int, doc: dict | None, *, nested: bool) -> str:
    """Why a worker that wrote no result ended, e.g. "killed by signal 9 (SIGKILL) at step 41,200 (segment 3)".

    ``returncode`` is ``Popen.returncode`` (negative: killed by that signal). A nested MPICH
    ``mpiexec`` (hydra) exits with the signal number ``s`` when a rank was killed by signal
    ``s`` (and ``128 + s`` from a shell), which cannot be told from a rank exiting with status
    ``s``, so both readings are given. The step is the job document's ``progress_steps`` (the
    last checkpoint) and the segment the one that was running.
    """
    if returncode < 0 or (nested and 128 < returncode < 128 + 65):
        signum = -returncode if returncode < 0 else returncode - 128
        what = f"killed by signal {signum} ({_signal_name(signum)})"
    elif nested and 0 < returncode < 65:
        what = (f"worker's mpiexec exited with status {returncode} (a rank killed by signal {returncode} "
                f"({_signal_name(returncode)}) or exiting with status {returncode})")
    elif returncode == 0:
        what = "worker exited with status 0 without finishing the task"
    else:
        what = f"worker exited with status {returncode} without finishing the task"
    return f"{what} {_where(doc or {})}"


def _where(doc: dict) -> str:
    steps = int(doc.get("progress_steps") or 0)
    protocol = doc.get("protocol")
    if not protocol:
        return f"after step {steps:,}"
    try:
        from lpsens.md.protocol import MDProtocol

        p = MDProtocol.from_dict(dict(protocol))
        eq, seg = p.equilibration_steps, p.segment_steps
    except Exception:  # noqa: BLE001 -- a bad protocol only loses the segment number
        return f"after step {steps:,}"
    if steps < eq:
        return f"after step {steps:,} (equilibration)"
    return f"after step {steps:,} (segment {(steps - eq) // max(1, seg) + 1})"


@dataclass(frozen=True)
class Crash:
    """What :func:`record_crash` wrote: ``outcome`` (``"crashed"``: retried, or ``"failed"``),
    ``reason`` (why the worker died), ``crash_count`` (crashes of the job so far) and ``retry``
    (the job is ``lost`` and may run again in this launch)."""

    outcome: str
    reason: str
    crash_count: int

    @property
    def retry(self) -> bool:
        return self.outcome == "crashed"


def record_crash(job, *, launch_id: str, ranks: int, t0: float, t1: float, steps0: int, returncode: int,
                 max_retries: int) -> Crash:
    """Record on ``job`` that its worker died (exit status ``returncode``) between ``t0`` and ``t1``.

    The job becomes ``lost`` (to be retried from its checkpoint) or, past ``max_retries``
    crashes, ``failed`` with the reasons of every attempt.

    Parameters
    ----------
    job
        signac job (``running``).
    launch_id, ranks
        The launch and the ranks of the task (a nested ``mpiexec`` when ``ranks > 1``).
    t0, t1
        Start and end of the worker, epoch seconds.
    steps0
        ``progress_steps`` when the task started.
    returncode
        ``Popen.returncode`` of the worker.
    max_retries
        Crashes allowed before the job fails.

    Raises
    ------
    ProjectError
        If the job may not move to the new status.
    """
    try:
        doc = job.doc()
    except Exception:  # noqa: BLE001 -- a worker killed mid-write; the reason loses its step
        doc = {}
    reason = death_reason(returncode, doc, nested=ranks > 1)
    crashes = int(doc.get("crash_count", 0)) + 1
    steps_now = int(doc.get("progress_steps") or 0)
    record = {**run_record(launch_id, ranks, t0, t1, steps0, max(0, steps_now - steps0)),
              "steps_per_s": None, "exit": "crashed", "reason": reason}
    runs = list(doc.get("runs") or []) + [record]
    if crashes > max_retries:
        reasons = [r["reason"] for r in runs if r.get("exit") == "crashed"][-crashes:]
        final = (f"its worker process died {crashes} times, more than --max-retries {max_retries}: "
                 + "; ".join(f"attempt {i + 1}: {r}" for i, r in enumerate(reasons))
                 + "; check md.log, then rerun with --retry-failed")
        set_status(job, JobStatus.FAILED, reason=final, crash_count=crashes, runs=runs, log_tail=log_tail(job))
        return Crash("failed", reason, crashes)
    set_status(job, JobStatus.LOST, reason=f"{reason}; retried from its checkpoint", crash_count=crashes, runs=runs)
    return Crash("crashed", reason, crashes)
