"""Status transitions and reports (grouping, JSON, failures)."""

import json

import pytest
from lpsens_testing import run_cli

from lpsens.errors import ProjectError
from lpsens.project import open_project
from lpsens.status import JobStatus, set_status


@pytest.fixture
def project(mini_spec, tmp_path):
    run_cli("init", mini_spec, "--root", tmp_path / "p", check=True)
    return open_project(tmp_path / "p")


def test_transitions(project):
    job = next(iter(project))
    set_status(job, JobStatus.RUNNING)
    assert job.doc["attempts"] == 1 and job.doc["host"]
    set_status(job, JobStatus.DONE)
    assert job.doc["finished"]
    with pytest.raises(ProjectError, match="done job is final"):
        set_status(job, JobStatus.RUNNING)
    other = list(project)[1]
    with pytest.raises(ProjectError, match="cannot move"):
        set_status(other, JobStatus.DONE)  # pending -> done skips running


def test_status_json_grouping(project, tmp_path):
    jobs = sorted(project, key=lambda j: j.id)
    set_status(jobs[0], "running")
    set_status(jobs[0], "failed", reason="LAMMPS: Lost atoms: original 16 current 15")
    proc = run_cli("status", "--root", tmp_path / "p", "--json", "--group-by", "material,temperature_K")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["total"] == 8
    assert report["by_status"]["failed"] == 1 and report["by_status"]["pending"] == 7
    keys = [(g["key"]["material"], g["key"]["temperature_K"]) for g in report["groups"]]
    assert sorted(keys) == [("gamma_Li3PS4", 600), ("gamma_Li3PS4", 700), ("glass", 600)]
    glass = next(g for g in report["groups"] if g["key"]["material"] == "glass")
    assert sum(glass["counts"].values()) == 4
    assert report["failures"][0]["id"] == jobs[0].id
    assert "Lost atoms" in report["failures"][0]["reason"]


def test_status_text_lists_failures(project, tmp_path):
    job = next(iter(project))
    set_status(job, "running")
    set_status(job, "failed", reason="exploding temperature")
    proc = run_cli("status", "--root", tmp_path / "p", "--detailed")
    assert proc.returncode == 0
    assert "exploding temperature" in proc.stdout
    assert "8 jobs" in proc.stdout
    assert proc.stdout.count("pending") >= 7


def test_status_bad_group_key(project, tmp_path):
    proc = run_cli("status", "--root", tmp_path / "p", "--group-by", "colour")
    assert proc.returncode != 0
    assert proc.stderr.startswith("Error:") and "colour" in proc.stderr and "temperature_K" in proc.stderr


def test_status_without_project(tmp_path):
    proc = run_cli("status", "--root", tmp_path)
    assert proc.returncode != 0 and "lpsens init" in proc.stderr


def test_status_flags_done_jobs_with_broken_chemistry(project, tmp_path):
    jobs = sorted(project, key=lambda j: j.id)
    for job in jobs[:2]:
        set_status(job, "running")
        set_status(job, "done")
    reason = "broken at 12.4 ps (frame 124, 3% of frames broken): P 17 has 5 S within 2.6 Å"
    jobs[0].doc["analysis"] = {"integrity_broken": True, "integrity_reason": reason}
    jobs[1].doc["analysis"] = {"integrity_broken": False, "integrity_reason": None}
    proc = run_cli("status", "--root", tmp_path / "p")
    assert proc.returncode == 0, proc.stderr
    assert "1 analysed job(s) have broken chemistry" in proc.stdout
    assert f"{jobs[0].id[:10]} done     " in proc.stdout and f"integrity: {reason}" in proc.stdout
    assert jobs[1].id[:10] not in proc.stdout
    report = json.loads(run_cli("status", "--root", tmp_path / "p", "--json").stdout)
    assert report["integrity_broken"] == 1
