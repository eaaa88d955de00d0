"""Claim files: who runs a job right now, with no master rank.

A group leader owns a job while ``<job dir>/.lpsens_claim.json`` exists and names it. The
file is created with ``O_CREAT | O_EXCL``, which is atomic on local file systems, NFSv3+ and
Lustre/GPFS: of two leaders (of one launch or two concurrent launches) exactly one succeeds.
Every status change of a job happens while its claim is held, and the claim is removed only
after the final status is written, so a job is never run twice.

The owner refreshes the file's mtime (a heartbeat) while the task runs. A claim is *stale*
when its owner is gone: on the same host, its pid no longer exists; on any host, its
heartbeat is older than ``stale_after_s``. A stale claim is removed under an ``fcntl`` lock
on ``<job dir>/.lpsens_claim.lock`` after re-reading it, so two launches cleaning up the same
dead claim cannot remove a fresh claim by mistake.
"""

from __future__ import annotations

import enum
import fcntl
import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["CLAIM_NAME", "Owner", "Claim", "ClaimState", "try_claim", "inspect_claim", "break_stale"]

CLAIM_NAME = ".lpsens_claim.json"
LOCK_NAME = ".lpsens_claim.lock"


@dataclass(frozen=True)
class Owner:
    """Identity written into a claim file."""

    launch: str
    host: str
    pid: int
    rank: int
    nonce: str
    time: float

    @classmethod
    def here(cls, launch: str, rank: int) -> Owner:
        return cls(launch=launch, host=socket.gethostname(), pid=os.getpid(), rank=int(rank),
                   nonce=uuid.uuid4().hex, time=time.time())


class ClaimState(str, enum.Enum):
    FREE = "free"    # no claim file
    LIVE = "live"    # owned by a running launch
    STALE = "stale"  # owner gone (dead pid on this host, or no heartbeat for stale_after_s)


class Claim:
    """A claim held by this process."""

    def __init__(self, job_dir: Path, owner: Owner):
        self.path = Path(job_dir) / CLAIM_NAME
        self.owner = owner

    def heartbeat(self) -> None:
        """Refresh the mtime so other launches see the owner is alive."""
        try:
            os.utime(self.path)
        except FileNotFoundError:
            pass

    def release(self) -> None:
        """Remove the claim if it is still ours."""
        info = _read(self.path)
        if info is not None and info.get("nonce") == self.owner.nonce:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass


def try_claim(job_dir: str | Path, owner: Owner) -> Claim | None:
    """Create the claim file atomically; ``None`` if someone else holds the job."""
    path = Path(job_dir) / CLAIM_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return None
    try:
        os.write(fd, json.dumps(asdict(owner)).encode())
    finally:
        os.close(fd)
    return Claim(Path(job_dir), owner)


def _read(path: Path) -> dict | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}  # being written right now


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is dead for our purpose
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def inspect_claim(job_dir: str | Path, *, stale_after_s: float, now: float | None = None,
                  host: str | None = None) -> tuple[ClaimState, dict | None]:
    """The state of a job's claim and its content (``None`` when free)."""
    path = Path(job_dir) / CLAIM_NAME
    now = time.time() if now is None else now
    host = socket.gethostname() if host is None else host
    info = _read(path)
    if info is None:
        return ClaimState.FREE, None
    try:
        age = now - path.stat().st_mtime
    except FileNotFoundError:
        return ClaimState.FREE, None
    if info.get("host") == host and isinstance(info.get("pid"), int) and not _pid_alive(info["pid"]):
        return ClaimState.STALE, info
    if age > stale_after_s:
        return ClaimState.STALE, info
    return ClaimState.LIVE, info


def break_stale(job_dir: str | Path, seen: dict | None, *, stale_after_s: float) -> bool:
    """Remove a stale claim whose content was ``seen``; False if it changed or came back to life."""
    job_dir = Path(job_dir)
    with open(job_dir / LOCK_NAME, "a") as lock:
        fcntl.lockf(lock, fcntl.LOCK_EX)
        try:
            state, info = inspect_claim(job_dir, stale_after_s=stale_after_s)
            if state is not ClaimState.STALE or (info or {}).get("nonce") != (seen or {}).get("nonce"):
                return False
            try:
                (job_dir / CLAIM_NAME).unlink()
            except FileNotFoundError:
                return False
            return True
        finally:
            fcntl.lockf(lock, fcntl.LOCK_UN)
