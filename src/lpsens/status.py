"""Job states, their allowed transitions, and the one place that writes them.

State lives in the signac job document (``job.doc``), so ``lpsens status``, the launcher's
journal and plain ``signac find --doc-filter`` queries always agree.
"""

from __future__ import annotations

import enum
import socket
from datetime import UTC, datetime

from lpsens.errors import ProjectError

__all__ = ["JobStatus", "ALLOWED", "set_status", "utcnow", "get_status"]


class JobStatus(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    TIMEOUT = "timeout"
    LOST = "lost"


_S = JobStatus
#: Allowed transitions. ``done`` is final; everything else may be retried.
ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    _S.PENDING: frozenset({_S.RUNNING, _S.FAILED}),
    _S.RUNNING: frozenset({_S.DONE, _S.FAILED, _S.TIMEOUT, _S.LOST, _S.RUNNING}),
    _S.TIMEOUT: frozenset({_S.RUNNING, _S.FAILED, _S.PENDING}),
    _S.LOST: frozenset({_S.RUNNING, _S.FAILED, _S.PENDING}),
    _S.FAILED: frozenset({_S.RUNNING, _S.PENDING}),
    _S.DONE: frozenset(),
}


def utcnow() -> str:
    """ISO 8601 UTC timestamp with seconds resolution."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def get_status(job) -> JobStatus:
    return JobStatus(job.doc.get("status", "pending"))


def set_status(job, new: JobStatus | str, *, reason: str | None = None, force: bool = False, **fields) -> None:
    """Move ``job`` to ``new`` and record ``reason``, host, timestamps and extra ``fields``.

    The whole update is one write of the job document (signac writes it atomically).

    Raises
    ------
    ProjectError
        If the transition is not allowed (e.g. anything out of ``done``) and ``force`` is False.
    """
    new = JobStatus(new)
    old = get_status(job)
    if not force and new not in ALLOWED[old]:
        raise ProjectError(
            f"cannot move from '{old.value}' to '{new.value}'"
            + ("; a done job is final (delete its results to rerun it)" if old is JobStatus.DONE else ""),
            job_id=job.id,
        )
    now = utcnow()
    update = {"status": new.value, "updated": now, "reason": reason, **fields}
    if new is JobStatus.RUNNING:
        update.setdefault("host", socket.gethostname())
        update.setdefault("started", now)
        update["attempts"] = int(job.doc.get("attempts", 0)) + 1
    if new is JobStatus.DONE:
        update.setdefault("finished", now)
    job.doc.update(update)
