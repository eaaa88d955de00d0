"""`lpsens run JOB_ID --root DIR`: one job in this process, status in the job document."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(*args):
    return subprocess.run([sys.executable, "-m", "lpsens", *map(str, args)], capture_output=True, text=True, timeout=600)


def test_lpsens_run_completes_a_job_and_records_done(make_job):
    job = make_job()
    proc = _run("run", job.id[:10], "--root", job.project.path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["job_id"] == job.id and out["status"] == "done" and out["n_frames"] > 1
    assert job.doc["status"] == "done" and job.doc["reason"] is None and job.doc["attempts"] == 1
    assert job.doc["provenance"]["backend"] in ("quippy", "native")


def test_lpsens_run_records_the_failure_reason(make_job):
    job = make_job()
    with open(job.fn("initial.extxyz"), "w") as fh:
        fh.write("not a structure\n")
    proc = _run("run", job.id, "--root", job.project.path)
    assert proc.returncode != 0
    assert proc.stderr.startswith("Error: ") and "initial.extxyz" in proc.stderr
    assert job.doc["status"] == "failed" and "initial.extxyz" in job.doc["reason"]


def test_lpsens_run_unknown_job(make_job):
    job = make_job()
    proc = _run("run", "ffffffffff", "--root", job.project.path)
    assert proc.returncode != 0 and "no job" in proc.stderr
