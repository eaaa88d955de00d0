"""The launcher in-process (no MPI: comm=None) with the synthetic sleep task."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lpsens.errors import LaunchError
from lpsens.launch.claims import CLAIM_NAME, Owner, try_claim
from lpsens.launch.journal import read_journal
from lpsens.launch.launcher import LaunchOptions, launch
from lpsens.launch.synthetic import frame_value, init_synthetic_project, sleep_task


def _opts(**kw):
    kw.setdefault("progress_interval_s", 0)
    return LaunchOptions(**kw)


def _frames(job):
    with open(job.fn("trajectory.txt")) as fh:
        return fh.read().splitlines()


def _expected_frames(job):
    p = job.doc["protocol"]
    n = round(p["production_ps"] * 1000 / p["sampling_interval_fs"])
    every = round(p["sampling_interval_fs"] / p["timestep_fs"])
    return [f"{i * every} {frame_value(job.doc['seed'], i * every)}" for i in range(n + 1)]


@pytest.fixture
def project(tmp_path):
    return init_synthetic_project(tmp_path / "proj", [0.02, 0.05, 0.01, 0.03], segments=3)


def test_all_done_with_records(project):
    report = launch(project, task_fn=sleep_task, options=_opts())
    assert report.exit_code == 0 and report.counts["done"] == 4
    for job in project:
        assert job.doc["status"] == "done"
        assert _frames(job) == _expected_frames(job)
        (run,) = job.doc["runs"]
        assert run["exit"] == "done" and run["launch"] == report.launch_id and run["steps"] == 30
        assert run["ranks"] == 1 and run["host"] and run["start"] <= run["end"]
        assert not os.path.exists(os.path.join(job.path, CLAIM_NAME))
    events = [r["event"] for r in read_journal(project.path, launch=report.launch_id)]
    assert events[0] == "launch_start" and events[-1] == "launch_end"
    assert events.count("claim") == events.count("start") == events.count("finish") == 4
    # longest expected first
    starts = [r["job"] for r in read_journal(project.path) if r["event"] == "start"]
    size = {j.id: j.doc["n_atoms"] for j in project}
    assert [size[k] for k in starts] == sorted(size.values(), reverse=True)


def test_done_jobs_never_rerun(project):
    launch(project, task_fn=sleep_task, options=_opts())
    again = launch(project, task_fn=sleep_task, options=_opts(statuses={"pending", "timeout", "lost"}))
    assert again.counts == {"done": 0, "failed": 0, "timeout": 0, "not_run": 0, "unreadable": 0}
    assert all(len(j.doc["runs"]) == 1 for j in project)


def test_failure_isolated_with_reason_and_log_tail(tmp_path, capsys):
    project = init_synthetic_project(tmp_path / "p", [0.01] * 3, fail={1})
    bad = next(j for j in project if j.sp.replica == 1)
    with open(bad.fn("md.log"), "w") as fh:
        fh.write("".join(f"line {i}\n" for i in range(50)) + "ERROR: Lost atoms: original 64 current 63\n")
    report = launch(project, task_fn=sleep_task, options=_opts())
    assert report.exit_code == 1 and report.counts["failed"] == 1 and report.counts["done"] == 2
    assert bad.doc["status"] == "failed"
    assert "MDError" in bad.doc["reason"] and "synthetic failure of job 1" in bad.doc["reason"]
    assert bad.doc["log_tail"].endswith("Lost atoms: original 64 current 63")
    assert bad.doc["runs"][-1]["exit"] == "failed"
    # failed jobs are not retried unless asked, and the launch says how to ask
    capsys.readouterr()
    assert launch(project, task_fn=sleep_task, options=_opts()).counts["failed"] == 0
    assert "1 failed job(s) are not run again" in capsys.readouterr().err
    bad.doc["synthetic"] = {"atom_steps_per_s": 1e5, "fail": None}
    retry = launch(project, task_fn=sleep_task, options=_opts(statuses={"failed"}, retry_failed=True))
    assert retry.exit_code == 0 and bad.doc["status"] == "done"


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _fake_dead_run(job, steps, n_frames):
    """Leave ``job`` as a killed launch would: running, claimed by a dead pid, a checkpoint."""
    full = _expected_frames(job)
    with open(job.fn("trajectory.txt"), "w") as fh:  # one frame more than the checkpoint knows
        fh.write("\n".join(full[: n_frames + 1]) + "\n")
    with open(job.fn("checkpoint.json"), "w") as fh:
        json.dump({"steps": steps, "n_frames": n_frames}, fh)
    here = Owner.here("dead-launch", 0)
    try_claim(job.path, Owner(here.launch, here.host, _dead_pid(), 0, here.nonce, here.time))
    job.doc.update({"status": "running", "progress_steps": steps, "attempts": 1})


def test_lost_job_found_and_resumed_identically(project):
    job = next(iter(project))
    _fake_dead_run(job, steps=10, n_frames=3)
    report = launch(project, task_fn=sleep_task, options=_opts())
    assert report.exit_code == 0 and report.counts["done"] == 4
    assert job.doc["status"] == "done" and job.doc["lost_count"] == 1 and job.doc["attempts"] == 2
    assert _frames(job) == _expected_frames(job)
    assert job.doc["runs"][-1]["steps"] == 20  # resumed from the checkpoint, not from 0
    lost = [r for r in read_journal(project.path) if r["event"] == "lost"]
    assert [r["job"] for r in lost] == [job.id]


def test_lost_too_often_fails(project):
    job = next(iter(project))
    _fake_dead_run(job, steps=10, n_frames=3)
    job.doc["lost_count"] = 2
    report = launch(project, task_fn=sleep_task, options=_opts(max_retries=2))
    assert report.exit_code == 1 and job.doc["status"] == "failed"
    assert "lost 3 times" in job.doc["reason"]


def test_live_claim_of_another_launch_is_respected(project):
    job = next(iter(project))
    claim = try_claim(job.path, Owner.here("concurrent-launch", 0))  # alive: our own pid
    job.doc["status"] = "running"
    report = launch(project, task_fn=sleep_task, options=_opts())
    assert report.counts["done"] == 3 and job.doc["status"] == "running"
    claim.release()


def test_walltime_rule_leaves_long_tasks_for_next_launch(tmp_path):
    project = init_synthetic_project(tmp_path / "p", [0.01, 0.01, 50.0], segments=1)
    # prior_rate = the synthetic rate, so the estimates are right: 50 s cannot fit in 10 s
    report = launch(project, task_fn=sleep_task,
                    options=_opts(walltime=10, margin_s=1.0, prior_rate=1e5))
    assert report.counts == {"done": 2, "failed": 0, "timeout": 0, "not_run": 1, "unreadable": 0}
    assert {j.doc["status"] for j in project} == {"done", "pending"}


def test_signal_stops_at_segment_boundary_and_resumes(tmp_path):
    project = init_synthetic_project(tmp_path / "p", [0.2], segments=4)
    job = next(iter(project))

    def task_then_sigterm(job, **kw):
        first = kw["on_segment"]

        def on_segment(steps):
            first(steps)
            if steps == 10:
                os.kill(os.getpid(), signal.SIGUSR1)
        return sleep_task(job, **{**kw, "on_segment": on_segment})

    # a closure: in the launcher's own process (the signal reaches the launcher directly)
    report = launch(project, task_fn=task_then_sigterm, options=_opts(isolate=False))
    assert report.counts["timeout"] == 1 and report.exit_code == 0
    assert job.doc["status"] == "timeout" and "SIGUSR1" in job.doc["reason"]
    assert job.doc["progress_steps"] == 10
    report = launch(project, task_fn=sleep_task, options=_opts())
    assert report.counts["done"] == 1 and job.doc["status"] == "done"
    assert _frames(job) == _expected_frames(job)
    assert [r["steps"] for r in job.doc["runs"]] == [10, 30]


def test_signal_forwarded_to_worker_process(tmp_path):
    """SIGUSR1 to the launcher reaches the task's worker process: it checkpoints, ends timeout, resumes."""
    import threading

    project = init_synthetic_project(tmp_path / "p", [4.0], segments=4)
    job = next(iter(project))
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGUSR1))
    timer.start()
    try:
        report = launch(project, task_fn=sleep_task, options=_opts())
    finally:
        timer.cancel()
    assert report.counts["timeout"] == 1 and job.doc["status"] == "timeout" and "SIGUSR1" in job.doc["reason"]
    assert 0 < job.doc["progress_steps"] < 40
    report = launch(project, task_fn=sleep_task, options=_opts())
    assert report.counts["done"] == 1
    assert _frames(job) == _expected_frames(job)


def test_filters(project):
    report = launch(project, task_fn=sleep_task, options=_opts(sp_filter={"replica": {"$lt": 2}}))
    assert report.counts["done"] == 2
    assert sorted(j.sp.replica for j in project if j.doc["status"] == "done") == [0, 1]


@pytest.mark.parametrize("kw, match", [
    ({"statuses": {"failed"}}, "retry-failed"),
    ({"statuses": {"done"}}, "final"),
    ({"statuses": {"finished"}}, "unknown status"),
    ({"ranks_per_task": 0}, "ranks_per_task"),
    ({"heartbeat_s": 200.0, "stale_after_s": 300.0}, "half"),
])
def test_bad_options(kw, match):
    with pytest.raises(LaunchError, match=match):
        LaunchOptions(**kw)


def test_ranks_not_a_multiple(project):
    class Three:
        def Get_size(self):
            return 3

    with pytest.raises(LaunchError, match="groups of 2"):
        launch(project, comm=Three(), task_fn=sleep_task, options=_opts(ranks_per_task=2))


def test_progress_lines(project, capsys):
    import threading

    from lpsens.launch.launcher import launch as _  # noqa: F401
    from lpsens.launch.progress import ProgressReporter
    from lpsens.launch.scheduler import CostModel, TaskCost

    report = launch(project, task_fn=sleep_task, options=_opts())
    tasks = [TaskCost(j.id, j.doc["n_atoms"], 30, 10) for j in project]
    rep = ProgressReporter(os.path.join(project.path, ".lpsens", "journal.jsonl"), report.launch_id, tasks, 1, CostModel())
    rep.poll()
    assert rep.line().startswith("lpsens launch: 4/4 done, 0 running, 0 failed")
    done = threading.Event()
    done.set()
    rep.run(done, 0.01, stream=sys.stderr)
    time.sleep(0)


def test_relaunch_by_the_job_script_is_journaled(project, monkeypatch, capsys):
    from lpsens.launch.journal import read_journal

    monkeypatch.setenv("LPSENS_RELAUNCH", "2")
    monkeypatch.setenv("LPSENS_RELAUNCH_AFTER_STATUS", "137")
    launch(project, task_fn=sleep_task, options=_opts())
    rec = [r for r in read_journal(project.path) if r["event"] == "relaunch"]
    assert len(rec) == 1 and rec[0]["relaunch"] == 2 and rec[0]["after_exit_status"] == "137"
    assert "relaunch 2 in this allocation (the previous launch ended with exit status 137)" in capsys.readouterr().err


@pytest.mark.parametrize("dispatch", ["dynamic", "static"])
def test_dead_worker_retried_in_the_same_launch(tmp_path, dispatch):
    project = init_synthetic_project(tmp_path / "p", [0.2, 0.2], segments=4,
                                     crash={0: {"how": "segv", "at_step": 10, "times": 1}})
    report = launch(project, task_fn=sleep_task, options=_opts(dispatch=dispatch))
    assert report.counts["done"] == 2 and report.exit_code == 0
    sick = next(j for j in project if j.sp.replica == 0)
    assert [r["exit"] for r in sick.doc["runs"]] == ["crashed", "done"] and sick.doc["crash_count"] == 1
    assert _frames(sick) == _expected_frames(sick)


# ----------------------------------------------------------------------------- dispatch path (issue 15)
def test_result_recorded_without_waiting_for_the_worker_teardown(tmp_path, monkeypatch):
    """A worker whose process lingers after its result is written (a slow interpreter teardown,
    kept with LPSENS_WORKER_FINALIZE=1): the leader records the result and starts the next task
    at once, and still reaps the lingering process before the launch returns (no zombie, no orphan)."""
    from lpsens.launch.synthetic import lingering_task

    monkeypatch.setenv("LPSENS_WORKER_FINALIZE", "1")

    project = init_synthetic_project(tmp_path / "p", [0.05, 0.05], segments=2)
    for job in project:
        job.doc["synthetic"] = {**job.doc["synthetic"], "linger_s": 3.0}
    report = launch(project, task_fn=lingering_task, options=_opts())
    assert report.counts["done"] == 2
    rec = {(r["event"], r["job"]): r for r in read_journal(project.path) if r.get("job")}
    first, second = sorted(project, key=lambda j: rec[("start", j.id)]["time"])
    first_gone = float(Path(first.fn("linger_end.txt")).read_text())
    assert rec[("finish", first.id)]["time"] < first_gone and rec[("start", second.id)]["time"] < first_gone
    for job in (first, second):  # both teardowns ended before launch() returned, and were reaped
        assert os.path.exists(job.fn("linger_end.txt"))
        assert not os.path.exists(f"/proc/{rec[('start', job.id)]['worker_pid']}")


def test_no_spare_worker_started_when_no_task_is_left(tmp_path, monkeypatch):
    """Two 1-rank tasks: the first worker is started directly, the second task goes to the spare
    started once the first worker was ready, and no spare is started after the last task."""
    started = []
    real_popen = subprocess.Popen

    class CountingPopen(real_popen):
        def __init__(self, cmd, *a, **kw):
            if "lpsens.launch.worker" in cmd:
                started.append("--job" in cmd)
            super().__init__(cmd, *a, **kw)

    monkeypatch.setattr(subprocess, "Popen", CountingPopen)
    project = init_synthetic_project(tmp_path / "p", [0.3, 0.3], segments=2)
    report = launch(project, task_fn=sleep_task, options=_opts())
    assert report.counts["done"] == 2
    assert started == [True, False]  # one direct worker, one spare: none wasted at the end


def test_worker_stuck_after_its_result_is_killed_and_its_result_stands(tmp_path, monkeypatch, capsys):
    """A worker that never finishes its teardown (hung in MPI_Finalize, say) must not hold a core
    for the rest of the allocation: killed TEARDOWN_LIMIT_S after its result, job done."""
    from lpsens.launch import launcher
    from lpsens.launch.synthetic import lingering_task

    monkeypatch.setattr(launcher, "TEARDOWN_LIMIT_S", 0.5)
    monkeypatch.setenv("LPSENS_WORKER_FINALIZE", "1")  # a 1-rank worker would skip its teardown
    project = init_synthetic_project(tmp_path / "p", [0.05], segments=1)
    job = next(iter(project))
    job.doc["synthetic"] = {**job.doc["synthetic"], "linger_s": 20.0}
    report = launch(project, task_fn=lingering_task, options=_opts())
    assert report.counts["done"] == 1 and job.doc["status"] == "done"
    assert not os.path.exists(job.fn("linger_end.txt"))  # killed before its teardown ended
    assert f"the worker of job {job.id} had not exited 0.5 s after its result; killed" in capsys.readouterr().err


def test_a_one_rank_worker_skips_the_interpreter_teardown(tmp_path):
    """By default a 1-rank worker exits right after its result (os._exit): a task's atexit
    handlers (here one that would linger 3 s and write a file) never run, the result stands."""
    from lpsens.launch.synthetic import lingering_task

    project = init_synthetic_project(tmp_path / "p", [0.05], segments=2)
    for job in project:
        job.doc["synthetic"] = {**job.doc["synthetic"], "linger_s": 3.0}
    report = launch(project, task_fn=lingering_task, options=_opts())
    assert report.counts["done"] == 1  # launch() waits for teardowns, so a handler that ran left its file
    assert not any(os.path.exists(job.fn("linger_end.txt")) for job in project)
