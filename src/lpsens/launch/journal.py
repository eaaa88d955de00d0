"""The launch journal: one JSON object per line in ``<root>/.lpsens/journal.jsonl``.

Every launch appends what it does (``launch_start``, ``claim``, ``start``, ``checkpoint``,
``finish``, ``lost``, ``launch_end``; ``unreadable``/``skipped`` jobs, ``relaunch`` by the job
script's safety net) with its launch id, rank, host, pid and time. Lines are
written with one ``write(2)`` on a descriptor opened with ``O_APPEND``, so lines of
concurrent writers (ranks, launches) never interleave on a local or POSIX file system.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from lpsens.errors import LaunchError

__all__ = ["Journal", "journal_path", "read_journal"]

#: Events a journal line can record.
EVENTS = frozenset({"launch_start", "claim", "start", "checkpoint", "finish", "lost", "launch_end",
                    "unreadable", "skipped", "relaunch"})


def journal_path(root: str | Path) -> Path:
    return Path(root) / ".lpsens" / "journal.jsonl"


class Journal:
    """Appender for one launch and one rank.

    Parameters
    ----------
    path
        The journal file (created with its directory).
    launch_id
        Identifies the launch (shared by all its ranks).
    rank
        World rank of the writer.
    """

    def __init__(self, path: str | Path, launch_id: str, rank: int = 0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.launch_id = launch_id
        self.rank = int(rank)
        self.host = socket.gethostname()
        self.pid = os.getpid()

    def write(self, event: str, **fields) -> dict:
        """Append one line; returns the record written.

        Raises
        ------
        LaunchError
            For an unknown event, or a short write to the journal file.
        """
        if event not in EVENTS:
            raise LaunchError(f"unknown journal event {event!r}; known: {', '.join(sorted(EVENTS))}")
        record = {"event": event, "time": time.time(), "launch": self.launch_id, "rank": self.rank,
                  "host": self.host, "pid": self.pid, **fields}
        data = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, data)
        finally:
            os.close(fd)
        if written != len(data):  # a full disk; the line is partial and will be skipped on read
            raise LaunchError(f"short write to the journal ({written} of {len(data)} bytes)", file=self.path)
        return record


def read_journal(root_or_path: str | Path, *, launch: str | None = None) -> Iterator[dict]:
    """Records of the journal, oldest first (optionally of one launch).

    A torn last line (a writer killed mid-write) is skipped.
    """
    p = Path(root_or_path)
    if p.is_dir():
        p = journal_path(p)
    if not p.exists():
        return
    with open(p, encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if launch is None or rec.get("launch") == launch:
                yield rec
