"""sbatch rendering (golden files, shellcheck), submission records, ended allocations."""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lpsens.cli import main
from lpsens.errors import SubmitError
from lpsens.launch.journal import Journal, journal_path
from lpsens.submit import (
    Profile,
    find_jobscripts,
    load_profile,
    read_submissions,
    render_script,
    submit,
    unfinished_submissions,
)

GOLDEN = Path(__file__).parent / "data" / "golden"
PROFILES = sorted(p.stem for p in (find_jobscripts() / "profiles").glob("*.toml"))
ROOT = "/scratch/user/lpsens-campaign"
LAUNCH_ARGS = ["-f", '{"material": "glass"}', "--max-retries", "2"]


def _render(name):
    return render_script(load_profile(name), root=ROOT, launch_args=LAUNCH_ARGS, python_env="/home/user/lpsens/.venv")


@pytest.mark.parametrize("name", PROFILES)
def test_rendered_scripts_match_golden(name):
    text = _render(name)
    golden = GOLDEN / f"{name}.sbatch"
    if os.environ.get("LPSENS_REGEN_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text(), f"re-generate with LPSENS_REGEN_GOLDEN=1 if the change is intended: {golden}"


@pytest.mark.parametrize("name", PROFILES)
def test_script_essentials(name):
    text = _render(name)
    assert text.startswith("#!/bin/bash\n") and "\nset -euo pipefail\n" in text
    assert "#SBATCH --signal=B:USR1@" in text
    assert "relaunch_limit=" in text and "lpsens launch --root /scratch/user/lpsens-campaign " in text
    assert "-f '{\"material\": \"glass\"}'" in text


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
@pytest.mark.parametrize("name", PROFILES)
def test_shellcheck_clean(name):
    proc = subprocess.run(["shellcheck", "--severity=warning", "-"], input=_render(name), text=True,
                          capture_output=True)
    assert proc.returncode == 0, proc.stdout


def test_path_with_space_refused():
    with pytest.raises(SubmitError, match="spaces"):
        render_script(load_profile("generic"), root="/scratch/my project")


def test_profiles_shipped():
    assert {"generic"} <= set(PROFILES) and len(PROFILES) >= 3


@pytest.mark.parametrize("data, match", [
    ({"nodes": 0}, "nodes"),
    ({"walltime": "soon"}, "walltime"),
    ({"mpi_launcher": "aprun"}, "unknown MPI launcher"),
    ({"ranks_per_node": 3, "ranks_per_task": 2}, "multiple"),
    ({"walltime": "00:05:00", "signal_lead_s": 600}, "signal_lead_s"),
    ({"modules": "gcc"}, "list of strings"),
])
def test_bad_profile_values(data, match):
    with pytest.raises(SubmitError, match=match):
        Profile(name="x", **data)


def test_unknown_profile_and_key(tmp_path):
    with pytest.raises(SubmitError, match="available: .*generic"):
        load_profile("nonexistent")
    bad = tmp_path / "bad.toml"
    bad.write_text('nodes = 1\nwalltim = "01:00:00"\n')
    with pytest.raises(SubmitError, match="unknown key.*walltim"):
        load_profile(str(bad))


def _fake_tool(bin_dir: Path, name: str, body: str):
    path = bin_dir / name
    path.write_text("#!/bin/bash\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """Stand-ins for sbatch/squeue/sacct (SLURM is not installed here): they record and answer."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_tool(bin_dir, "sbatch", 'echo "$@" >> "$(dirname "$0")/sbatch.calls"; echo "4242;cluster"')
    _fake_tool(bin_dir, "squeue", 'exit 0')  # not queued any more
    _fake_tool(bin_dir, "sacct", 'case "$*" in *4242*) echo "TIMEOUT";; *4343*) echo "COMPLETED";; esac')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def test_submit_records_and_ended_allocations(tmp_path, fake_slurm, capsys):
    root = tmp_path / "proj"
    root.mkdir()
    assert main(["submit", "--root", str(root), "--profile", "generic", "--nodes", "2", "--", "--max-retries", "1"]) == 0
    assert capsys.readouterr().out.strip() == "4242"
    (sub,) = read_submissions(root)
    script = Path(sub["script"])
    assert sub["slurm_job_id"] == "4242" and script.parent == root.resolve() / ".lpsens" / "submit"
    assert "#SBATCH --nodes=2" in script.read_text() and "--max-retries 1" in script.read_text()
    assert str(script) in (fake_slurm / "sbatch.calls").read_text()
    # 4242 started a launch that never ended (allocation killed at the walltime)
    os.environ["SLURM_JOB_ID"] = "4242"
    try:
        Journal(journal_path(root), "L1").write("launch_start", slurm_job_id="4242")
    finally:
        del os.environ["SLURM_JOB_ID"]
    (ended,) = unfinished_submissions(root)
    assert ended["slurm_job_id"] == "4242" and ended["state"] == "TIMEOUT" and "lost" in ended["reason"]
    # after a clean launch_end with nothing left, it is no longer reported
    Journal(journal_path(root), "L1").write("launch_end", slurm_job_id="4242",
                                            counts={"done": 3, "failed": 0, "timeout": 0, "not_run": 0})
    assert unfinished_submissions(root) == []
    Journal(journal_path(root), "L2").write("launch_end", slurm_job_id="4242",
                                            counts={"done": 1, "failed": 0, "timeout": 2, "not_run": 0})
    assert "2 timeout" in unfinished_submissions(root)[0]["reason"]


def test_dry_run_writes_nothing(tmp_path, capsys):
    root = tmp_path / "proj"
    root.mkdir()
    assert main(["submit", "--root", str(root), "--dry-run", "--walltime", "02:00:00"]) == 0
    out = capsys.readouterr().out
    assert "#SBATCH --time=02:00:00" in out and not (root / ".lpsens").exists()


def test_submit_without_sbatch(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SubmitError, match="not found"):
        submit(tmp_path, load_profile("generic"), sbatch="sbatch")


def test_script_propagates_launcher_exit_status(tmp_path):
    """Run the rendered script with bash (outside SLURM): a failing task makes the job fail."""
    import signac

    from lpsens.statepoint import SCHEMA_VERSION

    root = tmp_path / "proj"
    project = signac.init_project(str(root))
    project.doc["lpsens_schema_version"] = SCHEMA_VERSION
    job = project.open_job({"material": "glass", "x_Li2S_mol_pct": 75.0, "temperature_K": 600, "replica": 0,
                            "constraint": "none"}).init()
    job.doc["status"] = "pending"  # no protocol, no seed: the MD task refuses it at once
    profile = load_profile("generic").with_overrides(python=sys.executable, setup=(), ranks_per_node=1)
    script = tmp_path / "job.sbatch"
    script.write_text(render_script(profile, root=root, launch_args=["--progress-interval", "0"]))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("SLURM_NTASKS", None)
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert job.doc["status"] == "failed" and "seed" in job.doc["reason"]
    job.doc.update({"status": "done"})
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((root / ".lpsens" / "journal.jsonl").read_text().splitlines()[-1])["event"] == "launch_end"


@pytest.mark.parametrize("walltime, lead_s, ok", [
    ("5", 300, False), ("6", 300, True),          # a bare number is minutes, as for sbatch --time
    ("0-00:05", 300, False), ("0-00:06", 300, True),  # days-hours:minutes
])
def test_profile_checks_the_duration_sbatch_will_use(walltime, lead_s, ok):
    if ok:
        Profile(name="x", walltime=walltime, signal_lead_s=lead_s)
    else:
        with pytest.raises(SubmitError, match="signal_lead_s"):
            Profile(name="x", walltime=walltime, signal_lead_s=lead_s)


def _fake_launch_env(tmp_path, behaviour):
    """A fake `srun` that runs its command, and a fake `python` that behaves like a dying launch."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text('#!/bin/bash\nexec "$@"\n')
    (bin_dir / "fakepython").write_text(f"""#!/bin/bash
echo "run $LPSENS_RELAUNCH after $LPSENS_RELAUNCH_AFTER_STATUS" >> {tmp_path}/calls.txt
{behaviour}
""")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    profile = Profile(name="t", mpi_launcher="srun", python=str(bin_dir / "fakepython"), relaunch_limit=2,
                      walltime="01:00:00", signal_lead_s=60)
    (tmp_path / "proj").mkdir()
    script = tmp_path / "job.sbatch"
    script.write_text(render_script(profile, root=str(tmp_path / "proj")))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return script, env


def test_safety_net_relaunches_a_dead_launch(tmp_path):
    # dies (SIGKILL-like status 137) on the first run, then ends normally
    script, env = _fake_launch_env(tmp_path, '[ "$LPSENS_RELAUNCH" = 0 ] && exit 137\nexit 0')
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "calls.txt").read_text().splitlines() == ["run 0 after 0", "run 1 after 137"]
    assert "the launch died (exit status 137); relaunch 1 of 2" in proc.stderr


def test_safety_net_gives_up_after_the_limit_and_not_after_a_normal_end(tmp_path):
    script, env = _fake_launch_env(tmp_path, "exit 139")
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 139
    assert len((tmp_path / "calls.txt").read_text().splitlines()) == 3  # first run + 2 relaunches
    assert "no relaunch (relaunches 2 of 2" in proc.stderr


def test_safety_net_forwards_usr1_and_does_not_relaunch(tmp_path):
    # the launch checkpoints on USR1 and ends with 0 (as lpsens launch does)
    script, env = _fake_launch_env(tmp_path, "trap 'exit 0' USR1\nwhile :; do sleep 0.05; done")
    proc = subprocess.Popen(["bash", str(script)], env=env, stderr=subprocess.PIPE, text=True)
    deadline = 50
    while not (tmp_path / "calls.txt").exists() and deadline:
        import time

        time.sleep(0.1)
        deadline -= 1
    time.sleep(0.3)
    proc.send_signal(signal.SIGUSR1)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert (tmp_path / "calls.txt").read_text().splitlines() == ["run 0 after 0"]


@pytest.mark.parametrize("status", [2, 4])
def test_safety_net_does_not_relaunch_a_usage_or_lpsens_error(tmp_path, status):
    """Exit 2 (argparse) and 4 (LpsensError: bad options or project) would fail again: no relaunch."""
    script, env = _fake_launch_env(tmp_path, f"exit {status}")
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == status
    assert (tmp_path / "calls.txt").read_text().splitlines() == ["run 0 after 0"]


def test_a_slurm_tool_that_cannot_run_is_a_submit_error(tmp_path):
    from lpsens.errors import SubmitError
    from lpsens.submit import _slurm_state

    broken = tmp_path / "squeue"
    broken.write_text("#!/no/such/interpreter\n")
    broken.chmod(0o755)
    with pytest.raises(SubmitError, match="cannot run .*squeue"):
        _slurm_state("4242", str(broken), "no-such-sacct")
    assert _slurm_state("4242", "no-such-squeue", "no-such-sacct") is None  # no SLURM tool: nobody can tell


def test_training_script_runs_the_campaign_with_the_packed_launch_as_one_argument(tmp_path):
    """--train: the job runs `lpsens train SPEC --root ROOT --run --launch "<launch command>"`;
    the launch command, filters with quotes included, reaches lpsens train as one argument, with
    the rank count expanded by the job's shell."""
    import shlex

    script = render_script(load_profile("generic"), root=ROOT, launch_args=LAUNCH_ARGS, python_env="/venv",
                           train_spec="/home/user/train demo.toml")
    (line,) = [ln.strip() for ln in script.splitlines() if " -m lpsens train " in ln]
    assert line.endswith(" &")
    argv = subprocess.run(["bash", "-c", f'set -- {line[:-2]}; printf "%s\\0" "$@"'], capture_output=True,
                          text=True, env={**os.environ, "SLURM_NTASKS": "8"}, check=True).stdout.split("\0")[:-1]
    assert argv[:9] == ["python", "-m", "lpsens", "train", "/home/user/train demo.toml", "--root", ROOT, "--run",
                        "--launch"]
    assert shlex.split(argv[9]) == ["mpiexec", "-n", "8", "python", "-m", "lpsens", "launch", "--root", ROOT,
                                    *LAUNCH_ARGS]
    assert shutil.which("shellcheck") is None or subprocess.run(
        ["shellcheck", "-s", "bash", "-"], input=script, capture_output=True, text=True).returncode == 0


def test_submit_train_needs_the_spec_file(tmp_path):
    with pytest.raises(SubmitError, match=r"missing.toml: --train: no such training spec"):
        submit(tmp_path, load_profile("generic"), train_spec=tmp_path / "missing.toml", dry_run=True)
