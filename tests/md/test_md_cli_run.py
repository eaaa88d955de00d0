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


def test_lpsens_run_refuses_a_job_claimed_by_a_launch(make_job):
    from lpsens.launch.claims import Owner, try_claim

    job = make_job()
    claim = try_claim(job.path, Owner.here("launch-under-test", 0))
    try:
        proc = _run("run", job.id, "--root", job.project.path)
    finally:
        claim.release()
    assert proc.returncode != 0
    assert "launch-under-test" in proc.stderr and ".lpsens_claim.json" in proc.stderr
    assert job.doc["status"] == "pending"  # nothing was written


def test_lpsens_run_uses_the_campaign_backend_and_backend_overrides_it(make_job, toy_uf3):
    job = make_job(uf3=toy_uf3)
    proc = _run("run", job.id, "--root", job.project.path)
    assert proc.returncode == 0, proc.stderr
    assert job.doc["provenance"]["backend"] == "uf3"
    plain = make_job(replica=1)  # no compiled file: --backend uf3 cannot run it
    proc = _run("run", plain.id, "--root", plain.project.path, "--backend", "uf3")
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert err[-1].startswith("Error: ") and "compiled GAP" in err[-1], proc.stderr
    assert plain.doc["status"] == "failed"
