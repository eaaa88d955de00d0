"""The settings of one launch (:class:`LaunchOptions`, validated on construction) and how tasks
reach rank groups (:class:`Dispatch`).

Consumed by :func:`lpsens.launch.launcher.launch`; ``lpsens launch`` builds them from its
arguments (:mod:`lpsens.cli`). Times are in seconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from lpsens.errors import LaunchError
from lpsens.status import JobStatus

__all__ = ["Dispatch", "LaunchOptions", "DEFAULT_ELIGIBLE"]

#: Job states a launch runs unless told otherwise.
DEFAULT_ELIGIBLE = frozenset({JobStatus.PENDING, JobStatus.TIMEOUT, JobStatus.LOST})


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
        Override: every task runs on this many ranks, and the communicator size must be a
        multiple. ``None`` (default): a job runs on ``job.doc["potential"]["ranks_per_task"]``
        ranks (missing: 1), and tasks of mixed sizes are packed together.
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
        In a log (stderr not a terminal): a progress line whenever the counts change, and at
        least every this many seconds (rank 0; 0 disables them).
    isolate
        Run every task in its own worker process (:mod:`lpsens.launch.worker`), so a task's
        process dying (a signal, an exit without finishing) costs only that task; it is retried
        from its checkpoint up to ``max_retries`` times. ``False`` runs tasks inside the
        launcher's ranks (a crash then ends the launch, which resumes where it stopped): no
        start-up per task, a machine-learned reference loaded once; also closures in tests.
    """

    ranks_per_task: int | None = None
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
    progress_interval_s: float = 60.0
    isolate: bool = True

    def __post_init__(self):
        if self.ranks_per_task is not None and (not isinstance(self.ranks_per_task, int) or self.ranks_per_task < 1):
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
            raise LaunchError(f"must be >= 0, got {self.max_retries}", key="max_retries")
        for name in ("stale_after_s", "heartbeat_s"):
            if not getattr(self, name) > 0:
                raise LaunchError(f"must be > 0 s, got {getattr(self, name)}", key=name)
        if self.heartbeat_s * 2 > self.stale_after_s:
            raise LaunchError(f"heartbeat_s = {self.heartbeat_s} must be at most half of stale_after_s = "
                              f"{self.stale_after_s}, or live launches look dead", key="heartbeat_s")
        for name in ("margin_s", "progress_interval_s"):
            if getattr(self, name) < 0:
                raise LaunchError(f"must be >= 0 s, got {getattr(self, name)}", key=name)

    @property
    def eligible(self) -> frozenset[JobStatus]:
        return self.statuses | ({JobStatus.FAILED} if self.retry_failed else frozenset())
