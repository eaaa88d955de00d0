"""One job's lifecycle (claim -> run -> record): the task contract, run_job, stop flag, serial ASE."""

import os
import signal
from types import SimpleNamespace

import pytest

from lpsens.errors import LaunchError, MDError, ProjectError
from lpsens.launch.claims import CLAIM_NAME, Owner, try_claim
from lpsens.launch.launcher import LaunchOptions, launch
from lpsens.launch.lifecycle import StopFlag, run_job, serial_ase, task_result
from lpsens.launch.synthetic import init_synthetic_project, sleep_task
from lpsens.status import JobStatus


@pytest.fixture
def project(tmp_path):
    return init_synthetic_project(tmp_path / "proj", [0.02], segments=2)


def test_task_result_accepts_done_and_timeout():
    assert task_result(SimpleNamespace(status="done", steps_done=20)) == (JobStatus.DONE, 20)
    assert task_result(SimpleNamespace(status="timeout", steps_done=0)) == (JobStatus.TIMEOUT, 0)


@pytest.mark.parametrize("outcome, match", [
    (None, "returned None"),
    (SimpleNamespace(steps_done=3), "status None"),
    (SimpleNamespace(status="running", steps_done=3), "status 'running'"),
    (SimpleNamespace(status="done"), "steps_done = None"),
    (SimpleNamespace(status="done", steps_done=-1), "steps_done = -1"),
    (SimpleNamespace(status="done", steps_done=2.5), "steps_done = 2.5"),
])
def test_task_result_refuses_what_breaks_the_contract(outcome, match):
    with pytest.raises(LaunchError, match=match):
        task_result(outcome)


def test_a_task_returning_nothing_fails_its_job_in_a_launch(project):
    def silent(job, **kw):
        sleep_task(job, **kw)  # the work is done, but the task does not say so

    report = launch(project, task_fn=silent, options=LaunchOptions(isolate=False, progress_interval_s=0))
    job = next(iter(project))
    assert report.counts["failed"] == 1 and report.counts["done"] == 0 and report.exit_code == 1
    assert job.doc["status"] == "failed" and "returned None" in job.doc["reason"]


def test_run_job_claims_runs_and_records(project):
    job = next(iter(project))
    outcome = run_job(job, sleep_task)
    assert outcome.status == "done"
    assert job.doc["status"] == "done" and job.doc["reason"] is None and job.doc["attempts"] == 1
    (run,) = job.doc["runs"]
    assert run["exit"] == "done" and run["steps"] == 20 and run["launch"].startswith("run-")
    assert not os.path.exists(os.path.join(job.path, CLAIM_NAME))  # the claim is released
    assert run_job(job, sleep_task) is None  # a done job is not run again


def test_run_job_records_a_task_error_as_failed(tmp_path):
    project = init_synthetic_project(tmp_path / "p", [0.02], segments=2, fail=frozenset({0}))
    job = next(iter(project))
    with pytest.raises(MDError, match="synthetic failure"):
        run_job(job, sleep_task)
    assert job.doc["status"] == "failed" and "synthetic failure of job 0" in job.doc["reason"]
    assert job.doc["runs"][-1]["exit"] == "failed"
    assert not os.path.exists(os.path.join(job.path, CLAIM_NAME))


def test_run_job_refuses_a_job_claimed_by_a_launch(project):
    job = next(iter(project))
    claim = try_claim(job.path, Owner.here("launch-under-test", 0))
    try:
        with pytest.raises(ProjectError, match="launch-under-test"):
            run_job(job, sleep_task)
    finally:
        claim.release()
    assert job.doc["status"] == "pending"


def test_run_job_stops_at_a_segment_boundary_on_a_signal(project):
    job = next(iter(project))

    def interrupted(job, **kw):
        first = kw["on_segment"]

        def on_segment(steps, *rest):
            if first is not None:
                first(steps, *rest)
            if steps == 10:
                os.kill(os.getpid(), signal.SIGTERM)
        return sleep_task(job, **{**kw, "on_segment": on_segment})

    outcome = run_job(job, interrupted)
    assert outcome.status == "timeout"
    assert job.doc["status"] == "timeout" and "lpsens run" in job.doc["reason"]
    assert job.doc["progress_steps"] == 10
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is put back


def test_stop_flag_is_set_by_its_signals_only_while_installed():
    flag = StopFlag([signal.SIGUSR1]).install()
    try:
        assert not flag
        os.kill(os.getpid(), signal.SIGUSR1)
        assert flag and flag.signum == signal.SIGUSR1
    finally:
        flag.restore()
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL


def test_serial_ase_is_undone_on_exit():
    import ase.parallel

    before = ase.parallel.world.__dict__.get("comm")
    with serial_ase():
        assert isinstance(ase.parallel.world.comm, ase.parallel.DummyMPI)
    assert ase.parallel.world.__dict__.get("comm") is before
