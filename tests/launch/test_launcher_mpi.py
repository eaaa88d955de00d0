"""The launcher under real ``mpiexec -n 2`` with the synthetic sleep task (tests/launch/synthetic_launch.py)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lpsens.launch.journal import read_journal
from lpsens.launch.synthetic import frame_value, init_synthetic_project
from lpsens.statepoint import SCHEMA_VERSION

pytestmark = pytest.mark.mpi

BIN = Path(sys.executable).parent
MPIEXEC = BIN / "mpiexec"
DRIVER = Path(__file__).with_name("synthetic_launch.py")


def _project(root, durations, **kw):
    project = init_synthetic_project(root, durations, **kw)
    project.doc["lpsens_schema_version"] = SCHEMA_VERSION
    return project


def _start(root, *args, n=2, env=None, mpiexec_args=()):
    cmd = [str(MPIEXEC), *mpiexec_args, "-n", str(n), sys.executable, str(DRIVER), "--root", str(root),
           "--progress-interval", "0", *args]
    return subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _run(root, *args, timeout=60, **kw):
    p = _start(root, *args, **kw)
    out, err = p.communicate(timeout=timeout)
    return p.returncode, err


def _frames(job):
    with open(job.fn("trajectory.txt")) as fh:
        return fh.read().splitlines()


def _expected(job):
    p = job.doc["protocol"]
    every = round(p["sampling_interval_fs"] / p["timestep_fs"])
    n = round(p["production_ps"] * 1000 / p["sampling_interval_fs"])
    return [f"{i * every} {frame_value(job.doc['seed'], i * every)}" for i in range(n + 1)]


def _wait_for(predicate, timeout=30.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_two_ranks_run_two_tasks_at_once(tmp_path):
    project = _project(tmp_path, [0.6, 0.6], segments=3)
    rc, err = _run(tmp_path)
    assert rc == 0, err
    rec = list(read_journal(tmp_path))
    starts = {r["job"]: (r["time"], r["rank"]) for r in rec if r["event"] == "start"}
    ends = {r["job"]: r["time"] for r in rec if r["event"] == "finish"}
    assert len(starts) == 2 and {rank for _, rank in starts.values()} == {0, 1}
    assert max(t for t, _ in starts.values()) < min(ends.values())  # the intervals overlap
    assert all(j.doc["status"] == "done" and _frames(j) == _expected(j) for j in project)


def test_failed_task_isolated_exit_nonzero(tmp_path):
    project = _project(tmp_path, [0.05] * 5, fail={2})
    rc, err = _run(tmp_path)
    assert rc == 1
    status = {j.sp.replica: j.doc["status"] for j in project}
    assert status == {0: "done", 1: "done", 2: "failed", 3: "done", 4: "done"}
    bad = next(j for j in project if j.sp.replica == 2)
    assert "synthetic failure of job 2" in bad.doc["reason"] and bad.id in err


def test_retry_failed_runs_each_failed_job_once_per_launch(tmp_path):
    # both leaders see the failed jobs as candidates; a job that failed again in this launch must
    # not be picked up by the other leader (found by a new user: 4 jobs gave "7 failed")
    project = _project(tmp_path, [0.05] * 4, fail={0, 1, 2, 3})
    rc, _ = _run(tmp_path)
    assert rc == 1 and all(j.doc["status"] == "failed" for j in project)
    rc, err = _run(tmp_path, "--retry-failed")
    assert rc == 1
    starts = [r for r in read_journal(tmp_path) if r["event"] == "start"]
    assert len(starts) == 8, err  # 4 in the first launch, 4 in the retry: each job once per launch
    assert "4 failed" in err and "7 failed" not in err


def test_a_bad_option_is_reported_once_not_once_per_rank(tmp_path):
    _project(tmp_path, [0.05])
    proc = subprocess.run([str(MPIEXEC), "-n", "2", sys.executable, "-m", "lpsens", "launch", "--root", str(tmp_path),
                           "-k", "3"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode != 0
    assert proc.stderr.count("Error:") == 1, proc.stderr
    assert "cannot be split into groups of 3" in proc.stderr


def test_sigkill_then_lost_and_resumed_identically(tmp_path):
    project = _project(tmp_path, [3.0, 3.0], segments=6)
    p = _start(tmp_path)
    try:
        _wait_for(lambda: sum(1 for r in read_journal(tmp_path) if r["event"] == "checkpoint") >= 2)
    finally:
        os.killpg(p.pid, signal.SIGKILL)  # the whole allocation dies at once
        p.communicate()
    assert {j.doc["status"] for j in project} == {"running"}
    rc, err = _run(tmp_path)
    assert rc == 0, err
    lost = {r["job"] for r in read_journal(tmp_path) if r["event"] == "lost"}
    assert lost == {j.id for j in project}
    for job in project:
        assert job.doc["status"] == "done" and job.doc["lost_count"] == 1
        assert 0 < job.doc["runs"][-1]["steps"] < 60  # resumed from the checkpoint
        assert _frames(job) == _expected(job)


def test_sigterm_checkpoints_as_timeout_and_resumes(tmp_path):
    project = _project(tmp_path, [3.0, 3.0], segments=6)
    p = _start(tmp_path)
    _wait_for(lambda: sum(1 for r in read_journal(tmp_path) if r["event"] == "checkpoint") >= 2)
    p.send_signal(signal.SIGTERM)  # mpiexec forwards it to the ranks (as sbatch --signal does)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    for job in project:
        assert job.doc["status"] == "timeout" and "SIGTERM" in job.doc["reason"]
        assert 0 < job.doc["progress_steps"] < 60 and os.path.exists(job.fn("checkpoint.json"))
    rc, err = _run(tmp_path)
    assert rc == 0, err
    for job in project:
        assert job.doc["status"] == "done" and _frames(job) == _expected(job)
        assert [r["exit"] for r in job.doc["runs"]] == ["timeout", "done"]


def test_concurrent_launches_never_run_a_task_twice(tmp_path):
    project = _project(tmp_path, [0.08] * 16, segments=2)
    procs = [_start(tmp_path), _start(tmp_path)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in results]
    starts = [r["job"] for r in read_journal(tmp_path) if r["event"] == "start"]
    assert sorted(starts) == sorted(j.id for j in project)  # each exactly once
    assert len({r["launch"] for r in read_journal(tmp_path) if r["event"] == "start"}) >= 1
    assert all(j.doc["status"] == "done" and len(j.doc["runs"]) == 1 for j in project)


def test_error_escaping_a_task_aborts_all_ranks(tmp_path):
    _project(tmp_path, [0.05, 2.0, 2.0, 2.0])
    t0 = time.time()
    rc, err = _run(tmp_path, env={"SYNTHETIC_TASK": "interrupt"}, timeout=60)
    assert rc != 0 and "aborting all ranks" in err
    assert time.time() - t0 < 30


# ----------------------------------------------------------------------------- process isolation
@pytest.mark.parametrize("how", ["kill", "segv", "exit0"])
def test_dead_worker_retried_from_checkpoint_others_done(tmp_path, how):
    """A task's process dies mid-segment (SIGKILL, SIGSEGV, exit 0 without finishing): only it is
    retried, from its checkpoint; every job ends done with each frame exactly once."""
    project = _project(tmp_path, [1.0, 1.0, 1.0], segments=4, crash={1: {"how": how, "at_step": 20, "times": 1}})
    rc, err = _run(tmp_path, timeout=90)
    assert rc == 0, err
    sick = next(j for j in project if j.sp.replica == 1)
    expected = {"kill": "killed by signal 9 (SIGKILL)", "segv": "killed by signal 11 (SIGSEGV)",
                "exit0": "worker exited with status 0 without finishing"}[how]
    assert [r["exit"] for r in sick.doc["runs"]] == ["crashed", "done"]
    assert sick.doc["runs"][0]["reason"].startswith(expected) and "after step 20 (segment 3)" in sick.doc["runs"][0]["reason"]
    assert sick.doc["runs"][1]["from_step"] == 20 and sick.doc["crash_count"] == 1
    assert f"job {sick.id}: {expected}" in err
    for job in project:
        assert job.doc["status"] == "done"
        assert _frames(job) == _expected(job)  # none missing, none twice, no partial frame


def test_poisonous_task_fails_after_retry_limit(tmp_path):
    project = _project(tmp_path, [0.5, 0.5, 0.5], segments=2, crash={0: {"how": "kill", "at_step": 0, "times": 99}})
    rc, err = _run(tmp_path, "--max-retries", "2", timeout=90)
    assert rc == 1, err
    bad = next(j for j in project if j.sp.replica == 0)
    assert bad.doc["status"] == "failed" and bad.doc["crash_count"] == 3
    assert [r["exit"] for r in bad.doc["runs"]] == ["crashed"] * 3
    assert all(f"attempt {i}: killed by signal 9" in bad.doc["reason"] for i in (1, 2, 3))
    assert all(j.doc["status"] == "done" for j in project if j is not bad and j.id != bad.id)


def test_external_sigkill_of_the_worker(tmp_path):
    """SIGKILL from outside to the process running a task (as the OOM killer does)."""
    project = _project(tmp_path, [3.0, 3.0], segments=6)
    p = _start(tmp_path)
    _wait_for(lambda: sum(1 for r in read_journal(tmp_path) if r["event"] == "checkpoint") >= 2)
    start = next(r for r in read_journal(tmp_path) if r["event"] == "start")
    os.kill(start["worker_pid"], signal.SIGKILL)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    victim = project.open_job(id=start["job"])
    assert [r["exit"] for r in victim.doc["runs"]] == ["crashed", "done"]
    assert "killed by signal 9" in victim.doc["runs"][0]["reason"]
    for job in project:
        assert job.doc["status"] == "done" and _frames(job) == _expected(job)


def test_corrupt_job_document_does_not_stop_the_launch(tmp_path):
    project = _project(tmp_path, [0.3, 0.3, 0.3], segments=2)
    bad = next(j for j in project if j.sp.replica == 1)
    doc_file = Path(bad.path) / "signac_job_document.json"
    doc_file.write_text("")
    rc, err = _run(tmp_path, timeout=60)
    assert rc == 1  # something needs attention
    assert f"Error: cannot read the job document {doc_file}" in err and "restore the file" in err
    good = [j for j in project if j.id != bad.id]
    assert all(j.doc["status"] == "done" for j in good)
    assert doc_file.read_text() == ""  # left alone
    assert [r["job"] for r in read_journal(tmp_path) if r["event"] == "unreadable"] == [bad.id]


def test_mixed_one_and_two_rank_tasks(tmp_path):
    """Jobs with potential.ranks_per_task 2 and 1 on 2 launcher ranks: every task gets a
    communicator of exactly its size, and two 1-rank tasks run at the same time."""
    project = _project(tmp_path, [1.0, 1.0, 1.0, 1.0], segments=2, ranks={0: 2, 1: 2})
    rc, err = _run(tmp_path, env={"SYNTHETIC_TASK": "sized"}, timeout=90)
    assert rc == 0, err
    for job in project:
        want = 2 if job.sp.replica in (0, 1) else 1
        assert job.doc["status"] == "done" and job.doc["comm_size"] == want
        assert len(job.doc["comm_pids"]) == want and job.doc["runs"][-1]["ranks"] == want
        assert _frames(job) == _expected(job)
    spans = {r["job"]: (r["t_start"], r["t_end"]) for r in read_journal(tmp_path) if r["event"] == "finish"}
    ones = [spans[j.id] for j in project if j.sp.replica in (2, 3)]
    assert max(a for a, _ in ones) < min(b for _, b in ones)  # the two 1-rank tasks overlapped


def test_two_rank_task_whose_rank_dies_is_retried(tmp_path):
    """A 2-rank task (its own mpiexec) loses its rank 0 to SIGKILL: retried from its checkpoint, done."""
    project = _project(tmp_path, [1.0, 0.5], segments=4, ranks={0: 2},
                       crash={0: {"how": "kill", "at_step": 20, "times": 1}})
    rc, err = _run(tmp_path, env={"SYNTHETIC_TASK": "sized"}, timeout=90)
    assert rc == 0, err
    job = next(j for j in project if j.sp.replica == 0)
    assert [r["exit"] for r in job.doc["runs"]] == ["crashed", "done"] and job.doc["comm_size"] == 2
    reason = job.doc["runs"][0]["reason"]
    assert "killed by signal 9 (SIGKILL)" in reason and "after step 20 (segment 3)" in reason, reason
    assert all(j.doc["status"] == "done" and _frames(j) == _expected(j) for j in project)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores")
def test_two_rank_task_gets_both_cores_of_bound_ranks(tmp_path):
    """Launcher ranks bound to one core each (as srun --cpu-bind=cores does): a 2-rank task's
    ranks may run on both cores, not only on the leader's."""
    project = _project(tmp_path, [0.3, 0.3], segments=2, ranks={0: 2})
    rc, err = _run(tmp_path, env={"SYNTHETIC_TASK": "sized"}, mpiexec_args=("-bind-to", "core"), timeout=60)
    assert rc == 0, err
    wide = next(j for j in project if j.sp.replica == 0)
    assert wide.doc["comm_size"] == 2 and len(wide.doc["comm_cpus"]) == 2


# ----------------------------------------------------------------------------- srun's environment
#: What srun gives a launcher rank besides mpiexec's PMI_*: the PMI-2 / PMIx plugins' variables
#: and the allocation's node list (hydra's SLURM resource-manager detection reads the latter).
#: Junk values: a worker that used any of the PMI ones would fail in MPI_Init.
SRUN_LIKE_ENV = {
    "PMI_FD": "97", "PMI_PORT": "node001:1", "PMI_RANK": "1", "PMI_SIZE": "64", "PMI_ID": "3", "PMI_JOBID": "4242.0",
    "PMI_SPAWNED": "0", "PMIX_NAMESPACE": "slurm.pmix.4242.0", "PMIX_RANK": "1",
    "PMIX_SERVER_URI3": "pmix-server.1;tcp4://127.0.0.1:1", "PMIX_SERVER_URI4": "pmix-server.1;tcp4://127.0.0.1:1",
    "PMIX_SECURITY_MODE": "native", "PMIX_VERSION": "4.2.9",
    "SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", "SLURM_PROCID": "1", "SLURM_LOCALID": "1",
    "SLURM_NODELIST": "node[001-002]", "SLURM_JOB_NODELIST": "node[001-002]", "SLURM_NNODES": "2",
    "SLURM_JOB_NUM_NODES": "2", "SLURM_TASKS_PER_NODE": "1(x2)", "SLURM_NODEID": "1",
}


def test_workers_ignore_the_pmi_environment_of_an_srun_step(tmp_path):
    """Launcher ranks that carry srun-like PMI/PMIx/SLURM variables: a 1-rank worker that
    initialises MPI gets a singleton COMM_WORLD and sees none of them, a 2-rank task gets a
    COMM_WORLD of exactly its 2 ranks from its own mpiexec, and every task finishes."""
    project = _project(tmp_path, [0.5, 0.5, 0.5], segments=2, ranks={0: 2})
    rc, err = _run(tmp_path, env={"SYNTHETIC_TASK": "mpi_probe", "SYNTHETIC_INHERITED_ENV": json.dumps(SRUN_LIKE_ENV)},
                   timeout=120)
    assert rc == 0, err
    for job in project:
        assert job.doc["status"] == "done", job.doc.get("reason")
        assert [r["exit"] for r in job.doc["runs"]] == ["done"]  # no crash, no retry
        assert _frames(job) == _expected(job)
        if job.sp.replica == 0:  # its own mpiexec's PMI only (PMI_RANK 0/1 of 2, its own PMI_FD)
            assert job.doc["mpi_world_size"] == 2 and job.doc["task_comm_size"] == 2
            assert len(job.doc["mpi_pids"]) == 2
            assert not any(k.startswith("PMIX_") or k in ("PMI_JOBID", "PMI_PORT") for k in job.doc["pmi_env_seen"])
        else:
            assert job.doc["mpi_world_size"] == 1 and job.doc["task_comm_size"] == 1
            assert job.doc["pmi_env_seen"] == []


def test_without_the_scrub_a_worker_would_meet_the_junk(tmp_path):
    """Control for the test above: the same junk given directly to a worker process breaks its
    MPI_Init, so the test above can fail."""
    project = _project(tmp_path, [0.1], segments=1)
    job = next(iter(project))
    proc = subprocess.run([sys.executable, "-m", "lpsens.launch.worker", "--root", str(tmp_path), "--job", job.id,
                           "--launch", "t", "--result", str(tmp_path / "r.json"),
                           "--task", "lpsens.launch.synthetic:mpi_probe_task"],
                          env={**os.environ, **SRUN_LIKE_ENV}, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and not (tmp_path / "r.json").exists()
