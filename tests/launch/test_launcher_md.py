"""``lpsens launch`` under ``mpiexec -n 2`` with the real MD task (LAMMPS + the demo GAP, 16 atoms)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from lpsens.launch.journal import read_journal
from lpsens.md.protocol import MDProtocol
from lpsens.statepoint import SCHEMA_VERSION

pytestmark = pytest.mark.mpi

MPIEXEC = Path(sys.executable).parent / "mpiexec"
#: 10 equilibration + 40 production steps of 2 fs in 10-step segments, a frame every 10 steps
TINY = dict(timestep_fs=2.0, equilibration_ps=0.02, production_ps=0.08, sampling_interval_fs=20.0, segment_ps=0.02)


@pytest.fixture
def md_project(tmp_path):
    import signac

    from lpsens.potential import demo_potential_path, inspect_potential

    info = inspect_potential(demo_potential_path())

    def make(root, replicas, seed=7, **protocol):
        project = signac.init_project(str(root))
        project.doc["lpsens_schema_version"] = SCHEMA_VERSION
        for r in replicas:
            job = project.open_job({"material": "gamma_Li3PS4", "x_Li2S_mol_pct": 75.0, "temperature_K": 600,
                                    "replica": r, "constraint": "none"}).init()
            job.doc.update(status="pending", seed=seed, protocol=MDProtocol(**{**TINY, **protocol}).to_dict(),
                           potential={"path": str(info.path), "label": info.label, "sha256": info.sha256,
                                      "bundled": True},
                           system={"min_atoms": 16, "min_width_A": 0.0})
        return project

    return make


def _start(root, *args):
    cmd = [str(MPIEXEC), "-n", "2", sys.executable, "-m", "lpsens", "launch", "--root", str(root),
           "--progress-interval", "0", *args]
    return subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _run(root, *args, timeout=300):
    p = _start(root, *args)
    _, err = p.communicate(timeout=timeout)
    return p.returncode, err


def _traj(job):
    with h5py.File(job.fn("trajectory.h5"), "r") as f:
        n = int(f.attrs["n_frames"])
        return n, bool(f.attrs["complete"]), f["step"][:n], f["positions"][:n]


def _reference(md_project, tmp_path, **protocol):
    from lpsens.md.task import run_task

    ref = next(iter(md_project(tmp_path / "ref", [99], **protocol)))
    assert run_task(ref).status == "done"
    return _traj(ref)


def _assert_same_trajectory(job, ref):
    n, complete, steps, pos = _traj(job)
    assert complete and n == ref[0]
    np.testing.assert_array_equal(steps, ref[2])
    np.testing.assert_allclose(pos, ref[3], rtol=0, atol=1e-8)


def _wait_checkpoints(root, k, timeout=240):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if sum(1 for r in read_journal(root) if r["event"] == "checkpoint") >= k:
            return
        time.sleep(0.1)
    raise AssertionError("no checkpoint in time")


def test_two_md_tasks_at_once_and_broken_input_isolated(md_project, tmp_path):
    project = md_project(tmp_path / "p", [0, 1, 2])
    broken = next(j for j in project if j.sp.replica == 2)
    with open(broken.fn("initial.extxyz"), "w") as fh:
        fh.write("16\nthis is not an extended XYZ header\nLi 0 0\n")
    rc, err = _run(tmp_path / "p")
    assert rc == 1, err
    status = {j.sp.replica: j.doc["status"] for j in project}
    assert status == {0: "done", 1: "done", 2: "failed"}
    assert "initial.extxyz" in broken.doc["reason"], broken.doc["reason"]
    rec = list(read_journal(tmp_path / "p"))
    good = {j.id for j in project if j.sp.replica != 2}
    starts = {r["job"]: r["time"] for r in rec if r["event"] == "start" and r["job"] in good}
    ends = {r["job"]: r["time"] for r in rec if r["event"] == "finish" and r["job"] in good}
    assert max(starts.values()) < min(ends.values())  # both MD tasks ran at the same time
    for job in project:
        if job.sp.replica != 2:
            run = job.doc["runs"][-1]
            assert run["exit"] == "done" and run["steps"] == 50 and run["steps_per_s"] > 0


@pytest.mark.slow
def test_sigkill_lost_resumed_equals_uninterrupted(md_project, tmp_path):
    ref = _reference(md_project, tmp_path)
    project = md_project(tmp_path / "p", [0])
    job = next(iter(project))
    p = _start(tmp_path / "p")
    try:
        _wait_checkpoints(tmp_path / "p", 2)
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
    assert job.doc["status"] == "running"
    rc, err = _run(tmp_path / "p")
    assert rc == 0, err
    assert job.doc["status"] == "done" and job.doc["lost_count"] == 1
    assert 0 < job.doc["runs"][-1]["steps"] < 50  # resumed from its checkpoint
    _assert_same_trajectory(job, ref)


@pytest.mark.slow
def test_sigterm_timeout_then_resumed(md_project, tmp_path):
    ref = _reference(md_project, tmp_path)
    project = md_project(tmp_path / "p", [0])
    job = next(iter(project))
    p = _start(tmp_path / "p")
    _wait_checkpoints(tmp_path / "p", 1)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert job.doc["status"] == "timeout" and os.path.exists(job.fn("checkpoint.h5"))
    assert 0 < job.doc["progress_steps"] < 50
    rc, err = _run(tmp_path / "p")
    assert rc == 0, err
    assert job.doc["status"] == "done" and [r["exit"] for r in job.doc["runs"]] == ["timeout", "done"]
    _assert_same_trajectory(job, ref)


def test_sigkill_of_an_md_worker_costs_only_its_task(md_project, tmp_path):
    """SIGKILL to the process running one real MD task (what the OOM killer does): the other task
    finishes undisturbed, the killed one is retried from its checkpoint within the same launch,
    and its trajectory equals an uninterrupted run frame for frame."""
    ref = _reference(md_project, tmp_path)
    project = md_project(tmp_path / "p", [0, 1])
    p = _start(tmp_path / "p")
    try:
        _wait_checkpoints(tmp_path / "p", 3)
        start = next(r for r in read_journal(tmp_path / "p") if r["event"] == "start")
        os.kill(start["worker_pid"], signal.SIGKILL)
        _, err = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 0, err
    victim = project.open_job(id=start["job"])
    assert [r["exit"] for r in victim.doc["runs"]] == ["crashed", "done"]
    assert "killed by signal 9 (SIGKILL) after step" in victim.doc["runs"][0]["reason"]
    for job in project:
        assert job.doc["status"] == "done"
        _assert_same_trajectory(job, ref)
