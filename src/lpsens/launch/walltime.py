"""When does the allocation end? ``--walltime``, ``SLURM_JOB_END_TIME`` or ``squeue``.

Time strings are read exactly as SLURM reads ``sbatch --time`` (sbatch(1), "-t, --time"):
``minutes``, ``minutes:seconds``, ``hours:minutes:seconds``, ``days-hours``,
``days-hours:minutes`` and ``days-hours:minutes:seconds``. A bare number is *minutes*, as for
SLURM, so the string ``lpsens submit`` writes into ``#SBATCH --time`` and the duration lpsens
checks are the same. ``squeue -o %L`` (time left) prints a subset of these forms, or
``UNLIMITED``/``NOT_SET``/``INVALID``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping

from lpsens.errors import LaunchError

__all__ = ["parse_walltime", "parse_time_left", "allocation_end", "NO_LIMIT"]

#: What squeue prints for a job without a (known) limit.
NO_LIMIT = frozenset({"UNLIMITED", "NOT_SET", "INVALID", "INFINITE"})

_FORMS = "minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (SLURM --time; a bare number is minutes)"
_DAYS = re.compile(r"^(?P<d>\d+)-(?P<rest>\d+(?::\d+){0,2})$")
_PLAIN = re.compile(r"^\d+(?::\d+){0,2}$")


def _slurm_seconds(s: str) -> int | None:
    """Seconds of a SLURM time string, or None if it is not one of SLURM's forms."""
    m = _DAYS.match(s)
    if m:  # days-hours[:minutes[:seconds]]: fields after the dash fill from the left (hours first)
        h, mi, se = ([int(p) for p in m["rest"].split(":")] + [0, 0])[:3]
        return int(m["d"]) * 86400 + h * 3600 + mi * 60 + se
    if _PLAIN.match(s):
        parts = [int(p) for p in s.split(":")]
        if len(parts) == 1:  # minutes
            return parts[0] * 60
        if len(parts) == 2:  # minutes:seconds
            return parts[0] * 60 + parts[1]
        return parts[0] * 3600 + parts[1] * 60 + parts[2]
    return None


def parse_walltime(text: str | float | int) -> float:
    """Seconds in a walltime: a SLURM time string, or a Python number of seconds.

    Strings follow ``sbatch --time`` exactly: ``"90"`` is 90 minutes, ``"90:00"`` 90 minutes,
    ``"01:30:00"`` 1.5 h, ``"1-12"`` 36 h, ``"1-12:30"`` 36.5 h, ``"1-12:30:15"``. An ``int`` or
    ``float`` (Python API only) is seconds.

    Raises
    ------
    LaunchError
        For any other string, or a walltime <= 0.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        seconds = _slurm_seconds(str(text).strip())
        if seconds is None:
            raise LaunchError(f"walltime {text!r} is not a SLURM time: use {_FORMS}", key="walltime")
    if not seconds > 0:
        raise LaunchError(f"walltime must be > 0 s, got {text!r}", key="walltime")
    return float(seconds)


def parse_time_left(text: str) -> float | None:
    """Seconds left from ``squeue -o %L`` output; None for ``UNLIMITED``, ``NOT_SET``, ``INVALID``.

    Raises
    ------
    LaunchError
        For output that is not a SLURM time.
    """
    s = str(text).strip()
    if s.upper() in NO_LIMIT or not s:
        return None
    seconds = _slurm_seconds(s)
    if seconds is None:
        raise LaunchError(f"squeue printed {text!r} as time left, which is not a SLURM time; pass --walltime",
                          key="walltime")
    return float(seconds)


def allocation_end(walltime: str | float | None = None, *, env: Mapping[str, str] | None = None,
                   now: float | None = None, squeue: str | None = "squeue") -> float | None:
    """Epoch seconds at which the allocation ends, or ``None`` when there is no limit.

    Order: an explicit ``walltime`` (counted from ``now``), then ``SLURM_JOB_END_TIME`` (epoch
    seconds, set by SLURM >= 21.08), then ``squeue -h -j $SLURM_JOB_ID -o %L`` (time left).

    Raises
    ------
    LaunchError
        For a walltime that is not a positive SLURM time.
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
        left = parse_time_left(out)
        if left is not None:
            return now + left
    return None
