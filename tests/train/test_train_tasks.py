"""Training tasks through ``lpsens launch`` under ``mpiexec -n 2``: packed like MD tasks."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import subprocess_env

from lpsens.launch.journal import journal_path, read_journal
from lpsens.train.generations import advance, init_training
from lpsens.train.spec import load_training_spec

MPIEXEC = Path(sys.executable).parent / "mpiexec"


@pytest.mark.mpi
def test_labelling_and_fit_through_the_launcher_on_two_ranks(tiny_spec, tmp_path):
    root = tmp_path / "c"
    project, n = init_training(load_training_spec(tiny_spec()), root)
    cmd = [str(MPIEXEC), "-n", "2", sys.executable, "-m", "lpsens", "launch", "--root", str(root),
           "--progress-interval", "0"]
    # labels as train_demo.toml launches them (--in-process: the reference loaded once per rank)
    out = subprocess.run(cmd + ["--in-process"], env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert all(j.doc["status"] == "done" for j in project)
    starts = [r for r in read_journal(journal_path(root)) if r.get("event") == "start"]
    assert len(starts) == n
    assert {r["group"] for r in starts} == {0, 1}  # both ranks pulled labelling tasks
    assert advance(project)["state"] == "fitting"
    out = subprocess.run(cmd + ["-k", "2"], env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]  # worker processes, a 2-rank group: rank 0 fits, rank 1 waits
    assert advance(project)["state"] == "exploring"


def test_unknown_train_kind_fails_only_that_job(tiny_spec, tmp_path):
    from lpsens.launch.launcher import LaunchOptions, launch

    project, _ = init_training(load_training_spec(tiny_spec()), tmp_path / "c")
    bogus = project.open_job({"train_kind": "dance", "generation": 0}).init()
    bogus.doc.update(status="pending")
    for j in project:
        if j.doc.get("config_type") not in (None, "isolated"):
            j.doc["status"] = "done"
    report = launch(project, options=LaunchOptions(progress_interval_s=0), install_signals=False)
    assert report.counts["failed"] == 1 and report.counts["done"] == 3
    assert "unknown train_kind 'dance'" in bogus.doc["reason"]


def test_launcher_cost_of_training_tasks(tiny_spec, tmp_path):
    """Training tasks are costed by their own force calls, not by the MD protocol's default length."""
    from lpsens.launch.launcher import _task_cost

    project, _ = init_training(load_training_spec(tiny_spec()), tmp_path / "c")
    costs = {j.doc["config_type"]: _task_cost(j, j.doc(), 1) for j in project}
    assert costs["bulk"].steps_left == 1 and costs["bulk"].cls == "train_label"
    assert costs["md"].steps_left == 20 + 2  # 20 MD steps + 2 labelled snapshots
    assert costs["md"].n_atoms == costs["bulk"].n_atoms > 1
