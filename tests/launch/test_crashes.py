"""A worker that died: the reason recorded, and the job lost (retried) or failed past max_retries."""

import time

from lpsens.launch.crashes import death_reason, record_crash
from lpsens.launch.lifecycle import start_job
from lpsens.launch.synthetic import init_synthetic_project

DOC = {"progress_steps": 41200, "protocol": {"timestep_fs": 2.0, "equilibration_ps": 20.0, "production_ps": 200.0,
                                             "sampling_interval_fs": 100.0, "segment_ps": 20.0}}


def test_death_reasons():
    # 10,000 equilibration steps, then segments of 10,000: step 41,200 is in segment 4
    assert death_reason(-9, DOC, nested=False) == "killed by signal 9 (SIGKILL) after step 41,200 (segment 4)"
    assert death_reason(139, DOC, nested=True).startswith("killed by signal 11 (SIGSEGV)")
    assert death_reason(9, DOC, nested=True).startswith(
        "worker's mpiexec exited with status 9 (a rank killed by signal 9 (SIGKILL) or exiting with status 9)")
    assert death_reason(0, DOC, nested=False).startswith("worker exited with status 0 without finishing")
    assert death_reason(3, {"progress_steps": 5, "protocol": DOC["protocol"]}, nested=False) == \
        "worker exited with status 3 without finishing the task after step 5 (equilibration)"
    assert death_reason(-6, {}, nested=False) == "killed by signal 6 (SIGABRT) after step 0"


def test_crashes_lose_the_job_until_max_retries_then_fail_it(tmp_path):
    project = init_synthetic_project(tmp_path / "p", [1.0])
    job = next(iter(project))
    t0 = time.time()
    outcomes = []
    for _ in range(3):
        start_job(job, "L")
        crash = record_crash(job, launch_id="L", ranks=1, t0=t0, t1=t0 + 1.0, steps0=0, returncode=-9,
                             max_retries=2)
        outcomes.append((crash.outcome, crash.retry, crash.crash_count, job.doc["status"]))
    assert outcomes == [("crashed", True, 1, "lost"), ("crashed", True, 2, "lost"), ("failed", False, 3, "failed")]
    runs = job.doc["runs"]
    assert [r["exit"] for r in runs] == ["crashed"] * 3 and runs[0]["reason"].startswith("killed by signal 9 (SIGKILL)")
    assert job.doc["crash_count"] == 3
    assert job.doc["reason"].startswith("its worker process died 3 times, more than --max-retries 2: attempt 1: killed")
