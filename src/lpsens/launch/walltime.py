"""When does the allocation end? ``--walltime``, ``SLURM_JOB_END_TIME`` or ``squeue``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping

from lpsens.errors import LaunchError

__all__ = ["parse_walltime", "allocation_end"]

_CLOCK = re.compile(r"^(?:(?P<d>\d+)-)?(?P<rest>\d+(?::\d+){0,2})$")


def parse_walltime(text: str | float | int) -> float:
    """Seconds in a walltime given as seconds or SLURM time (``[D-]HH:MM:SS``, ``MM:SS``).

    ``"5400"``, ``5400``, ``"01:30:00"``, ``"90:00"``, ``"1-00:00:00"`` are all accepted.

    Raises
    ------
    LaunchError
        For anything else, or a walltime <= 0.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        s = str(text).strip()
        try:
            seconds = float(s)
        except ValueError:
            m = _CLOCK.match(s)
            if not m:
                raise LaunchError(
                    f"walltime {text!r} is not seconds or [D-]HH:MM:SS (e.g. 5400 or 01:30:00)",
                    key="walltime",
                ) from None
            parts = [int(p) for p in m["rest"].split(":")]
            if m["d"] is not None and len(parts) == 1:  # "D-HH"
                parts = [parts[0], 0, 0]
            while len(parts) < 3:
                # SLURM reads "MM" as minutes and "MM:SS" as minutes:seconds
                parts = [0, *parts] if len(parts) == 2 else [0, parts[0], 0]
            h, mi, se = parts
            seconds = int(m["d"] or 0) * 86400 + h * 3600 + mi * 60 + se
    if not seconds > 0:
        raise LaunchError(f"walltime must be > 0 s, got {text!r}", key="walltime")
    return seconds


def allocation_end(walltime: str | float | None = None, *, env: Mapping[str, str] | None = None,
                   now: float | None = None, squeue: str | None = "squeue") -> float | None:
    """Epoch seconds at which the allocation ends, or ``None`` when there is no limit.

    Order: an explicit ``walltime`` (counted from ``now``), then ``SLURM_JOB_END_TIME`` (epoch
    seconds, set by SLURM >= 21.08), then ``squeue -h -j $SLURM_JOB_ID -o %L`` (time left).
    """
    env = os.environ if env is None else env
    now = time.time() if now is None else now
    if walltime is not None:
        return now + parse_walltime(walltime)
    end = env.get("SLURM_JOB_END_TIME")
    if end:
        try:
            return float(end)
        except ValueError:
            raise LaunchError(f"SLURM_JOB_END_TIME={end!r} is not epoch seconds; pass --walltime") from None
    job_id = env.get("SLURM_JOB_ID")
    if job_id and squeue and shutil.which(squeue):
        try:
            out = subprocess.run([squeue, "-h", "-j", job_id, "-o", "%L"], capture_output=True,
                                 text=True, timeout=30, check=True).stdout.strip()
        except (subprocess.SubprocessError, OSError) as exc:
            raise LaunchError(f"cannot ask squeue for the time left of job {job_id} ({exc}); pass --walltime") from None
        if out and out not in ("UNLIMITED", "NOT_SET", "INVALID"):
            return now + parse_walltime(out)
    return None
