"""Progress of a launch, read from the journal by rank 0 (a thread; no MPI calls).

On a terminal a live line (rich); otherwise a plain line on stderr every interval.
"""

from __future__ import annotations

import json
import sys
import threading
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
    n_groups
        Rank groups working in parallel.
    model
        A cost model, fed with the finished runs read from the journal.
    """

    def __init__(self, path: Path, launch_id: str, tasks: Sequence[TaskCost], n_groups: int,
                 model: CostModel):
        self.path = Path(path)
        self.launch_id = launch_id
        self.tasks = {t.key: t for t in tasks}
        self.n_groups = max(1, n_groups)
        self.model = model
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
            if rec["event"] == "start":
                self.running.add(rec["job"])
            elif rec["event"] == "finish":
                self.running.discard(rec["job"])
                self.finished[rec["job"]] = rec.get("outcome", "")
                if rec.get("atom_steps") and rec.get("wall_s"):
                    self.model.observe(rec.get("cls", ""), rec["atom_steps"], rec["wall_s"], rec.get("ranks", 1))

    def line(self) -> str:
        outcomes = list(self.finished.values())
        left = [t for k, t in self.tasks.items() if k not in self.finished]
        eta_s = sum(self.model.estimate_s(t) for t in left) / self.n_groups
        return (f"lpsens launch: {outcomes.count('done')}/{len(self.tasks)} done, {len(self.running)} running, "
                f"{outcomes.count('failed')} failed, {outcomes.count('timeout')} timeout, ~{_hms(eta_s)} left")

    def run(self, finished: threading.Event, interval_s: float, stream=None) -> None:
        """Report until ``finished`` is set."""
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
        while not finished.wait(interval_s):
            self.poll()
            print(self.line(), file=stream, flush=True)


def _hms(seconds: float) -> str:
    s = int(round(max(0.0, seconds)))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"
