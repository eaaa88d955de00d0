"""Progress of a launch, read from the journal by rank 0 (a thread; no MPI calls).

On a terminal a live line (rich). In a log (stderr not a terminal, e.g. a SLURM output file)
a plain line whenever the counts change, and otherwise at most every ``interval_s`` seconds, so a
long task does not fill the log with identical lines. The time left is estimated when a task
starts or finishes and counts down in between.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from lpsens.launch.scheduler import CostModel, TaskCost

__all__ = ["ProgressReporter"]


class ProgressReporter:
    """Counts ``start``/``finish`` events of one launch and estimates the time left.

    Parameters
    ----------
    path
        The journal file.
    launch_id
        The launch to follow.
    tasks
        The launch's candidate tasks (for the estimate of the remaining work).
    n_ranks
        Ranks working in parallel (a task of ``k`` ranks uses ``k`` of them).
    model
        A cost model, fed with the finished runs read from the journal.
    """

    def __init__(self, path: Path, launch_id: str, tasks: Sequence[TaskCost], n_ranks: int,
                 model: CostModel, clock=time.monotonic):
        self.path = Path(path)
        self.launch_id = launch_id
        self.tasks = {t.key: t for t in tasks}
        self.n_ranks = max(1, n_ranks)
        self.model = model
        self.clock = clock
        self._eta_at: tuple[float, float] | None = None  # (clock time, estimate then)
        self._offset = 0
        self.running: set[str] = set()
        self.finished: dict[str, str] = {}

    def poll(self) -> None:
        """Read the journal lines appended since the last poll."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1  # leave a line being written for the next poll
        self._offset += end
        for line in data[:end].splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("launch") != self.launch_id:
                continue
            if rec["event"] in ("start", "finish"):
                self._eta_at = None  # re-estimate from the new state
            if rec["event"] == "start":
                self.running.add(rec["job"])
            elif rec["event"] == "finish" and rec.get("outcome") == "crashed":
                self.running.discard(rec["job"])  # retried: not finished
            elif rec["event"] == "finish":
                self.running.discard(rec["job"])
                self.finished[rec["job"]] = rec.get("outcome", "")
                if rec.get("atom_steps") and rec.get("wall_s"):
                    self.model.observe(rec.get("cls", ""), rec["atom_steps"], rec["wall_s"], rec.get("ranks", 1))

    def counts(self) -> str:
        """The state without the estimate (what decides whether a log line is new)."""
        outcomes = list(self.finished.values())
        return (f"{outcomes.count('done')}/{len(self.tasks)} done, {len(self.running)} running, "
                f"{outcomes.count('failed')} failed, {outcomes.count('timeout')} timeout")

    def eta_s(self) -> float:
        """Time left: estimated at the last start/finish, minus the time since (counts down)."""
        now = self.clock()
        if self._eta_at is None:
            left = [t for k, t in self.tasks.items() if k not in self.finished]
            self._eta_at = (now, sum(self.model.estimate_s(t) * t.ranks for t in left) / self.n_ranks)
        t, eta = self._eta_at
        return max(0.0, eta - (now - t))

    def line(self) -> str:
        return f"lpsens launch: {self.counts()}, ~{_hms(self.eta_s())} left"

    def run(self, finished: threading.Event, interval_s: float, stream=None, poll_s: float = 1.0) -> None:
        """Report until ``finished`` is set: on a terminal a live line; in a log a line on every
        change of the counts and otherwise every ``interval_s`` (the journal is read every ``poll_s``)."""
        stream = stream or sys.stderr
        if stream.isatty():
            from rich.console import Console
            from rich.live import Live

            with Live(console=Console(file=stream), refresh_per_second=2, transient=False) as live:
                while not finished.wait(min(interval_s, 0.5)):
                    self.poll()
                    live.update(self.line())
                self.poll()
                live.update(self.line())
            return
        last_counts, last_t = None, -float("inf")
        while True:
            done = finished.wait(min(poll_s, interval_s))
            self.poll()
            now = self.clock()
            if done or self.counts() != last_counts or now - last_t >= interval_s:
                print(self.line(), file=stream, flush=True)
                last_counts, last_t = self.counts(), now
            if done:
                return


def _hms(seconds: float) -> str:
    s = int(round(max(0.0, seconds)))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"
