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
def test_fit_on_a_two_rank_group_of_worker_processes(tiny_spec, tmp_path):
    """The fit as one task of a 2-rank group (``-k 2``, worker processes): rank 0 fits, rank 1 waits.
    (Labels packed on both ranks: test_campaign_in_one_allocation_stops_on_usr1_and_resumes.)"""
    from lpsens.launch.launcher import LaunchOptions, launch

    root = tmp_path / "c"
    project, n = init_training(load_training_spec(tiny_spec()), root)
    assert launch(project, options=LaunchOptions(progress_interval_s=0, isolate=False), install_signals=False).exit_code == 0
    assert advance(project)["state"] == "fitting"
    cmd = [str(MPIEXEC), "-n", "2", sys.executable, "-m", "lpsens", "launch", "--root", str(root),
           "--progress-interval", "0", "-k", "2"]
    out = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert advance(project)["state"] == "exploring"
    (fit,) = [r for r in read_journal(journal_path(root)) if r.get("event") == "start"][-1:]
    assert fit["job"] == next(iter(project.find_jobs({"train_kind": "fit"}))).id


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
    md = next(j for j in project if j.doc["config_type"] == "md").doc["md"]
    # the reference minimisation's budget (behind the wall, then alone) + 20 MD steps + 2 snapshots
    assert costs["md"].steps_left == 2 * int(md["minimise_steps"]) + 20 + 2
    assert costs["md"].n_atoms == costs["bulk"].n_atoms > 1


def test_training_tasks_report_their_work_in_the_unit_of_their_cost(tiny_spec, tmp_path):
    """The launcher's cost model learns a kind's rate from steps_done / wall time and estimates the
    rest from cost_steps: the two must count alike (explored frames against MD steps made a 7-minute
    exploration stage print ~89 h left)."""
    from lpsens.launch.launcher import _task_cost
    from lpsens.train.tasks import run_train_task

    project, _ = init_training(load_training_spec(tiny_spec()), tmp_path / "c")
    for kind in ("md", "bulk"):
        job = next(j for j in project if j.doc.get("config_type") == kind)
        cost = _task_cost(job, job.doc(), 1).steps_left
        outcome = run_train_task(job)
        assert outcome.status == "done" and outcome.steps_done == cost
        assert run_train_task(job).steps_done == 0  # already labelled: no work


@pytest.mark.mpi
def test_campaign_in_one_allocation_stops_on_usr1_and_resumes(tiny_spec, tmp_path):
    """`lpsens submit --train`'s job script, run with bash outside SLURM on 2 ranks: the labels are
    packed on both ranks; USR1 (SLURM's warning before the walltime) reaches the reference MD task
    through lpsens train and mpiexec, which checkpoints it and stops the campaign without advancing;
    the same script resumes it and finishes."""
    import os
    import signal
    import time

    import ase.io

    from lpsens.submit import load_profile, render_script
    from lpsens.train.labelling import PARTIAL_FILE

    spec_path = tiny_spec()
    text = spec_path.read_text().replace("md_steps = 20\nmd_every = 10", "md_steps = 400\nmd_every = 10")
    spec_path.write_text(text.replace("max_generations = 1", "max_generations = 0")
                         .replace('crystals = ["gamma_Li3PS4"]', "crystals = []"))
    root = tmp_path / "c"
    (root / ".lpsens" / "submit").mkdir(parents=True)  # as `lpsens submit` leaves it: the script's log folder
    profile = load_profile("generic").with_overrides(python=sys.executable, setup=(), ranks_per_node=2)
    script = tmp_path / "train.sbatch"
    script.write_text(render_script(profile, root=root, train_spec=spec_path,
                                    launch_args=["--in-process", "--progress-interval", "0"]))
    env = {**subprocess_env(), "PATH": f"{MPIEXEC.parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("SLURM_NTASKS", None)
    p = subprocess.Popen(["bash", str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.time()
        partial = None
        while time.time() - t0 < 120 and p.poll() is None:
            md = [d for d in root.glob("workspace/*") if (d / PARTIAL_FILE).exists()] if root.exists() else []
            if md and len(ase.io.read(md[0] / PARTIAL_FILE, ":")) >= 2:
                partial = md[0]
                break
            time.sleep(0.2)
        assert partial is not None, "the reference MD task never wrote a checkpoint"
        p.send_signal(signal.SIGUSR1)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err[-3000:]
    assert "[stopped] generation 0: stopped by SIGUSR1 during 'labelling'" in out
    from lpsens.train.generations import open_training

    project = open_training(root)
    md_job = project.open_job(id=partial.name)
    assert md_job.doc["status"] == "timeout"  # checkpointed, not lost, not failed
    assert not list(project.find_jobs({"train_kind": "fit"}))  # nothing advanced after the signal
    n_before = len(ase.io.read(partial / PARTIAL_FILE, ":"))
    out = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "[finished] generation 0" in out.stdout
    assert md_job.doc["status"] == "done" and md_job.doc["n_labelled"] == 400 // 10
    starts = [r for r in read_journal(journal_path(root)) if r.get("event") == "start"]
    assert {r["group"] for r in starts} == {0, 1}  # both ranks pulled labels
    resumed = [r for r in starts if r.get("job") == md_job.id]
    assert len(resumed) == 2 and n_before >= 2  # started, stopped, resumed from its checkpoint
    first, second = md_job.doc["runs"][-2:]
    assert first["from_step"] == 0 and second["from_step"] == first["steps"] > 0  # force calls, per run
    minimise = 2 * int(md_job.doc["md"]["minimise_steps"])  # counted once, in the first run
    assert first["steps"] + second["steps"] == minimise + 400 + 400 // 10 == md_job.doc["cost_steps"]
    (fit,) = project.find_jobs({"train_kind": "fit"})
    assert (Path(fit.path) / "gap.xml").exists()
