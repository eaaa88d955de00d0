"""``lpsens train`` on the command line: bad input is one clear Error line."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import subprocess_env


def _lpsens(*args, timeout=300):
    return subprocess.run([sys.executable, "-W", "ignore", "-m", "lpsens", *args], env=subprocess_env(),
                          capture_output=True, text=True, timeout=timeout)


def _one_error_line(out):
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode != 0
    assert len(lines) == 1 and lines[0].startswith("Error: "), out.stderr
    return lines[0]


@pytest.mark.parametrize("change, expect", [
    (dict(calculator="no_such_pkg.calc:Calc"), "cannot import module 'no_such_pkg.calc'"),
    (dict(calculator="pair_reference:EnergyOnly"), "no forces"),
])
def test_bad_calculator_refused_before_anything_is_written(tiny_spec, tmp_path, change, expect):
    line = _one_error_line(_lpsens("train", str(tiny_spec(**change)), "--root", str(tmp_path / "c")))
    assert expect in line and "reference.calculator" in line
    assert not (tmp_path / "c").exists()


def test_spec_without_compositions(tiny_spec, tmp_path):
    spec = tiny_spec()
    spec.write_text(spec.read_text().replace("glass_x_mol_pct = [75]\nglass_min_atoms", "glass_x_mol_pct = []\nglass_min_atoms")
                    .replace('crystals = ["gamma_Li3PS4"]', "crystals = []"))
    line = _one_error_line(_lpsens("train", str(spec), "--root", str(tmp_path / "c")))
    assert "no compositions" in line and "configurations.glass_x_mol_pct" in line


def test_gap_fit_failure_and_status(tiny_spec, tmp_path):
    spec = tiny_spec(fit_extra="sigma = [0.005, 0.0, 0.0, 0.0]")
    line = _one_error_line(_lpsens("train", str(spec), "--root", str(tmp_path / "c"), "--in-process"))  # without --run
    assert "--in-process" in line and not (tmp_path / "c").exists()
    for bad, says in ((["--launch", "mpiexec -n 2 lpsens launch"], "--launch runs the tasks of --run"),
                      (["--run", "--in-process", "--launch", "mpiexec -n 2 lpsens launch"], "put --in-process into"),
                      (["--run", "--launch", "mpiexec -n 2 sleep 1"], "does not run 'lpsens launch'"),
                      (["--run", "--launch", "mpiexec -n 2 lpsens launch 'x"], "No closing quotation")):
        line = _one_error_line(_lpsens("train", str(spec), "--root", str(tmp_path / "c"), *bad))
        assert says in line and not (tmp_path / "c").exists()
    out = _lpsens("train", str(spec), "--root", str(tmp_path / "c"), "--run", "--in-process")
    err = [ln for ln in out.stderr.splitlines() if ln.startswith("Error: ")]
    assert out.returncode != 0 and len(err) == 1
    assert "gap_fit failed" in err[0] and "too small force_sigma" in err[0]
    status = _lpsens("train", "--status", "--root", str(tmp_path / "c"))
    assert status.returncode == 0
    assert "fit: 1 failed" in status.stdout and "gap_fit failed" in status.stdout
    # fixing [fit] in the same campaign: the spec is updated and the failed fit reruns
    spec.write_text(spec.read_text().replace("sigma = [0.005, 0.0, 0.0, 0.0]", "sigma = [0.005, 0.15, 0.0, 0.0]"))
    assert _lpsens("train", str(spec), "--root", str(tmp_path / "c")).returncode == 1  # still the failed fit
    rerun = _lpsens("launch", "--root", str(tmp_path / "c"), "--retry-failed", "--progress-interval", "0")
    assert rerun.returncode == 0, rerun.stderr
    after = _lpsens("train", str(spec), "--root", str(tmp_path / "c"))
    assert "[exploring]" in after.stdout


def test_submit_train_refuses_now_what_the_job_would_refuse(tiny_spec, tmp_path):
    """`lpsens submit --train`: a bad spec, a root with an MD project or another campaign's labels
    are one error line at submission, not a failed job hours later; nothing is written."""
    import signac

    spec = tiny_spec()
    bad = tiny_spec(fit_extra="theta_3b_A = 0.0", name="bad.toml")
    md = tmp_path / "md"
    signac.init_project(str(md)).doc["kind"] = "md"
    other = tiny_spec(name="other.toml")
    other.write_text(other.read_text().replace("rattle_A = [0.05]", "rattle_A = [0.07]"))
    from lpsens.train.generations import init_training
    from lpsens.train.spec import load_training_spec

    init_training(load_training_spec(spec), tmp_path / "c")
    for args, says in (([str(tmp_path / "new"), str(bad)], "fit.theta_3b_A"),
                       ([str(md), str(spec)], "is not a training campaign"),
                       ([str(tmp_path / "c"), str(other)], "[configurations] differ"),
                       ([str(tmp_path / "new"), str(tmp_path)], "is a directory"),
                       ([str(tmp_path / "new"), str(tiny_spec(calculator="pair_nope:Morse", name="nope.toml"))],
                        "no module 'pair_nope'")):
        line = _one_error_line(_lpsens("submit", "--root", args[0], "--train", args[1], "--dry-run"))
        assert says in line, line
    assert not (tmp_path / "new").exists() and not (md / ".lpsens").exists()
    ok = _lpsens("submit", "--root", str(tmp_path / "c"), "--train", str(spec), "--dry-run")
    assert ok.returncode == 0 and f"train {spec} --root {tmp_path / 'c'} --run --launch" in ok.stdout


def test_a_launch_command_for_another_root_and_a_bad_json_path_are_refused_at_once(tiny_spec, tmp_path):
    spec = str(tiny_spec())
    line = _one_error_line(_lpsens("train", spec, "--root", str(tmp_path / "c"), "--run", "--launch",
                                   f"lpsens launch --root {tmp_path / 'other'}"))
    assert "--root" in line and "other" in line and "leave --root out" in line
    assert not (tmp_path / "c").exists()
    ok = _lpsens("train", spec, "--root", str(tmp_path / "c"))  # the campaign, with generation 0
    assert ok.returncode == 0, ok.stderr
    for where, why in ((tmp_path / "no" / "g.json", "no directory"), (tmp_path, "is a directory")):
        for mode in ("--status", "--validate"):
            line = _one_error_line(_lpsens("train", mode, "--root", str(tmp_path / "c"), "--json", str(where)))
            assert f"--json {where}" in line and why in line


def test_relative_paths_follow_the_spec_file_given_last(tiny_spec, tmp_path):
    """The docs: relative paths in a spec are relative to the file; a campaign advanced with a
    copy elsewhere reads them next to that copy (the earlier file is kept in the history)."""
    import shutil

    from lpsens.train.generations import init_training, open_training, spec_of
    from lpsens.train.spec import load_training_spec

    first = tiny_spec()
    init_training(load_training_spec(first), tmp_path / "c")
    (tmp_path / "moved").mkdir()
    second = shutil.copy(first, tmp_path / "moved" / "spec.toml")
    project = open_training(tmp_path / "c")
    init_training(load_training_spec(second), tmp_path / "c")
    assert project.doc["spec_file"] == str(Path(second).resolve())
    assert project.doc["spec_history"][-1]["spec_file"] == str(first.resolve())
    assert spec_of(project).source == Path(second).resolve()
    init_training(load_training_spec(second), tmp_path / "c")
    assert len(project.doc["spec_history"]) == 1  # the same file and spec again: no new entry


@pytest.mark.parametrize("args, says", [
    (["--status", "--generation", "1"], "--generation belongs to --validate"),
    (["--status", "--run"], "--run belongs to advancing"),
    (["--validate", "--run"], "--run belongs to advancing"),
    (["SPEC", "--json", "x.json"], "--json belongs to --status or --validate"),
    (["SPEC", "--generation", "2"], "--generation belongs to --validate"),
])
def test_an_option_of_another_mode_is_refused_not_dropped(tiny_spec, tmp_path, args, says):
    args = [str(tiny_spec()) if a == "SPEC" else a for a in args]
    line = _one_error_line(_lpsens("train", *args, "--root", str(tmp_path / "c")))
    assert says in line
    assert not (tmp_path / "c").exists()
