"""Job states, their allowed transitions, and the one place that writes them.

State lives in the signac job document (``job.doc``), so ``lpsens status``, the launcher's
journal and plain ``signac find --doc-filter`` queries always agree.
"""

from __future__ import annotations

import enum
import socket
from datetime import UTC, datetime

from lpsens.errors import LpsensError, ProjectError
from lpsens.vocabulary import INTEGRITY_KEYS, STATEPOINT_KEYS, describe

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


# ----------------------------------------------------------------------------- reports
#: State-point keys that ``--group-by`` accepts.
GROUP_KEYS = STATEPOINT_KEYS


def _read_json(path):
    import json

    with open(path, "rb") as fh:
        return json.loads(fh.read())


#: The one fix offered for an unreadable job document (never "delete": the document holds the seed,
#: the protocol and the run records, and the job's trajectory and checkpoint are still good).
DOCUMENT_FIX = ("restore it from a backup or file-system snapshot; the job's trajectory.h5 and checkpoint.h5 "
                "are untouched, and the job is skipped until then")


def read_job_document(job_dir) -> dict:
    """The job document of the job directory ``job_dir`` (``{}`` if it has none yet).

    The one safe reader for every command that walks the data space (``status``, ``analyze``,
    ``gather``, the launcher): an empty or half-written file (disk quota, node crash) is reported
    for this job only, so callers can skip it and go on with the rest.

    Raises
    ------
    DocumentError
        The file exists but is empty, truncated or not a JSON object; the message is one line
        naming the file and the fix.
    """
    import os

    from lpsens.errors import DocumentError

    path = os.path.join(os.fspath(job_dir), "signac_job_document.json")
    try:
        doc = _read_json(path)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        size = os.path.getsize(path) if os.path.exists(path) else 0
        what = "empty" if size == 0 else f"unreadable ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
        raise DocumentError(f"job document is {what}; {DOCUMENT_FIX}", file=path) from None
    if not isinstance(doc, dict):
        raise DocumentError(f"job document is not a JSON object; {DOCUMENT_FIX}", file=path)
    return doc


def iter_job_records(project):
    """Yield ``(job_id, statepoint, document)`` for every job, reading the files once.

    Reads signac's own files directly (``signac_statepoint.json``, ``signac_job_document.json``
    in the workspace): that is signac's documented on-disk layout, and skipping the synced
    collection machinery keeps ``lpsens status`` fast on 10,000 jobs.
    """
    import os

    ws = project.workspace
    try:
        entries = os.scandir(ws)
    except FileNotFoundError:
        return
    with entries:
        for entry in entries:
            if not entry.is_dir():
                continue
            try:
                sp = _read_json(os.path.join(entry.path, "signac_statepoint.json"))
            except (OSError, ValueError):
                continue  # not a job directory
            try:
                doc = read_job_document(entry.path)
            except LpsensError as exc:
                doc = {"status": "failed", "reason": str(exc), "unreadable_document": True}
            yield entry.name, sp, doc


def status_report(project, group_by=("material", "constraint"), *, detailed=False) -> dict:
    """Counts of jobs per status, grouped by state-point keys, plus every failure's reason.

    Returns
    -------
    dict
        ``{"total": int, "by_status": {...}, "groups": [{"key": {...}, "counts": {...}}],
        "failures": [{"id", "statepoint", "status", "reason"}], "integrity_broken": int,
        "jobs": [...] (if detailed)}``. Done jobs whose analysis found broken chemistry are
        listed among the failures with the reason ``integrity: broken at ... ps: ...``.

    Raises
    ------
    ProjectError
        For a ``group_by`` key that is not a state-point key.
    """
    from collections import Counter, defaultdict

    bad = [k for k in group_by if k not in GROUP_KEYS]
    if bad:
        raise ProjectError(f"cannot group by {bad}; allowed keys: {', '.join(GROUP_KEYS)}", option="--group-by")
    totals = Counter()
    groups: dict[tuple, Counter] = defaultdict(Counter)
    failures, jobs = [], []
    n_broken = 0
    for job_id, sp, doc in iter_job_records(project):
        status = doc.get("status", JobStatus.PENDING.value)
        totals[status] += 1
        groups[tuple(sp.get(k) for k in group_by)][status] += 1
        if status in (JobStatus.FAILED.value, JobStatus.LOST.value, JobStatus.TIMEOUT.value):
            failures.append({"id": job_id, "statepoint": sp, "status": status, "reason": doc.get("reason")})
        analysis = doc.get("analysis")
        broken, why = (analysis.get(k) for k in INTEGRITY_KEYS) if isinstance(analysis, dict) else (None, None)
        if broken:
            # done, but the analysis found broken chemistry: its numbers are excluded from the tables
            n_broken += 1
            failures.append({"id": job_id, "statepoint": sp, "status": status, "reason": f"integrity: {why}"})
        if detailed:
            runs = doc.get("runs") or []
            jobs.append(
                {
                    "id": job_id,
                    "statepoint": sp,
                    "status": status,
                    "progress_steps": doc.get("progress_steps", 0),
                    "total_steps": doc.get("total_steps"),
                    "attempts": doc.get("attempts", 0),
                    "host": doc.get("host"),
                    "updated": doc.get("updated"),
                    "reason": doc.get("reason"),
                    "last_run": runs[-1] if runs else None,
                }
            )

    def _sort_key(item):
        return tuple((v is None, str(type(v)), v) for v in item[0])

    report = {
        "root": str(project.path),
        "total": sum(totals.values()),
        "by_status": {s.value: totals.get(s.value, 0) for s in JobStatus},
        "group_by": list(group_by),
        "groups": [
            {"key": dict(zip(group_by, key, strict=True)), "counts": {s.value: c.get(s.value, 0) for s in JobStatus}}
            for key, c in sorted(groups.items(), key=_sort_key)
        ],
        "failures": sorted(failures, key=lambda f: f["id"]),
        "integrity_broken": n_broken,
    }
    if detailed:
        report["jobs"] = sorted(jobs, key=lambda j: j["id"])
    return report


def format_columns(header: list[str], rows: list[list[str]], *, left: int = 0) -> list[str]:
    """Fixed-width text lines of a table: the header line, then one line per row.

    Every column is as wide as its widest cell; the first ``left`` columns are left-aligned
    (labels), the others right-aligned (numbers); columns are separated by two spaces. The one
    text-table layout of lpsens (``lpsens status``, the ``lpsens gather`` tables).
    """
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r):
        return "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))

    return [line(r) for r in [header, *rows]]


def format_report(report: dict) -> str:
    """A readable text table of a :func:`status_report`."""
    states = [s.value for s in JobStatus]
    keys = report["group_by"]
    header = [*keys, *states, "total"]
    rows = []
    for g in report["groups"]:
        counts = g["counts"]
        rows.append([*(str(g["key"][k]) for k in keys), *(str(counts[s]) for s in states), str(sum(counts.values()))])
    tot = report["by_status"]
    rows.append(["all", *([""] * (len(keys) - 1)), *(str(tot[s]) for s in states), str(report["total"])])
    rule = ["-" * max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    head, *body = format_columns(header, [rule, *rows], left=len(keys))
    out = [f"{report['total']} jobs in {report['root']}", head, *body]
    if report.get("integrity_broken"):
        out.append(f"{report['integrity_broken']} analysed job(s) have broken chemistry (excluded from 'lpsens gather')")
    if report["failures"]:
        out.append("")
        out.append("Jobs that need attention:")
        for f in report["failures"]:
            out.append(f"  {f['id'][:10]} {f['status']:8s} {describe(f['statepoint'])}: {f['reason']}")
    if report.get("unfinished_submissions"):
        out.append("")
        out.append("SLURM allocations that ended without finishing their jobs:")
        for sub in report["unfinished_submissions"]:
            out.append(f"  {sub['slurm_job_id']} ({sub.get('state')}): {sub.get('reason')}")
    if "jobs" in report:
        out.append("")
        out.append("Jobs:")
        for j in report["jobs"]:
            prog = f"{j['progress_steps']}/{j['total_steps']}"
            last = j["last_run"] or {}
            extra = ""
            if last:
                sps = last.get("steps_per_s")
                extra = f" last run: {last.get('host', '?')} {last.get('exit', '')}" + (
                    f" {sps:.1f} steps/s" if isinstance(sps, (int, float)) else ""
                )
            out.append(f"  {j['id'][:10]} {j['status']:8s} {prog:>15s} {describe(j['statepoint'])}{extra}")
    return "\n".join(out)

