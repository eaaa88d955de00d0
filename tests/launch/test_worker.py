"""The worker process of a task: its environment, its status pipe, dying with its launcher."""

import signal
import subprocess
import sys

from lpsens.launch.synthetic import init_synthetic_project
from lpsens.launch.worker import worker_env


def test_worker_env_drops_the_launch_pmi(monkeypatch):
    for k in ("PMI_RANK", "PMI_FD", "PMIX_RANK", "MPI_LOCALRANKID", "HYDRA_LAUNCHER"):
        monkeypatch.setenv(k, "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    env = worker_env({"LPSENS_WORKER_MPI": "1"})
    assert not any(k.startswith(("PMI", "MPI_LOCAL", "HYDRA")) for k in env)
    assert env["OMP_NUM_THREADS"] == "1" and env["LPSENS_WORKER_MPI"] == "1"


def test_worker_dies_with_its_launcher(tmp_path):
    """A worker whose launcher is gone kills itself (no orphan writes into a job a relaunch reruns)."""
    project = init_synthetic_project(tmp_path / "p", [30.0], segments=2)
    job = next(iter(project))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    proc = subprocess.run([sys.executable, "-m", "lpsens.launch.worker", "--root", project.path, "--job", job.id,
                           "--launch", "test", "--result", str(tmp_path / "r.json"), "--parent-pid", str(dead.pid),
                           "--task", "lpsens.launch.synthetic:sleep_task"], timeout=60)
    assert proc.returncode == -signal.SIGKILL and not (tmp_path / "r.json").exists()


def test_spare_reports_ready_then_result(tmp_path):
    """The status pipe: "R" once the imports are done (before the spare has its job), "D" only
    after the result file is complete."""
    import json
    import os
    import select

    project = init_synthetic_project(tmp_path / "p", [0.05], segments=1)
    job = next(iter(project))
    r, w = os.pipe()
    result = tmp_path / "r.json"
    proc = subprocess.Popen([sys.executable, "-m", "lpsens.launch.worker", "--root", project.path, "--launch", "t",
                             "--task", "lpsens.launch.synthetic:sleep_task", "--status-fd", str(w)],
                            pass_fds=(w,), stdin=subprocess.PIPE, text=True)
    os.close(w)
    try:
        assert select.select([r], [], [], 60)[0] and os.read(r, 1) == b"R"
        assert not result.exists() and proc.poll() is None  # ready, waiting for its job
        proc.stdin.write(json.dumps({"job": job.id, "result": str(result)}) + "\n")
        proc.stdin.close()
        assert select.select([r], [], [], 60)[0] and os.read(r, 1) == b"D"
        assert json.loads(result.read_text())["results"][0]["status"] == "done"
        assert proc.wait(timeout=60) == 0 and os.read(r, 1) == b""
    finally:
        os.close(r)
        proc.kill()


def test_worker_env_drops_srun_pmi_and_keeps_slurm(monkeypatch):
    for k in ("PMI_JOBID", "PMI_SPAWNED", "PMIX_NAMESPACE", "PMIX_SERVER_URI41", "PMIX_SECURITY_MODE"):
        monkeypatch.setenv(k, "x")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    env = worker_env()
    assert not any(k.startswith(("PMI_", "PMIX_")) for k in env) and env["SLURM_JOB_ID"] == "4242"
