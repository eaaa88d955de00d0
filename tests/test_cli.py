import argparse
import dataclasses
import json
import subprocess
import sys

import pytest
from lpsens_testing import MINI_SPEC, REPO, run_cli

import lpsens
from lpsens.analysis import AnalysisSettings
from lpsens.analysis.synthetic import write_random_walk
from lpsens.cli import build_parser, main
from lpsens.md.protocol import MDProtocol


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0 and lpsens.__version__ in proc.stdout


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- test-command -->")[1].split("<!-- /test-command -->")[0]
    command = [line for line in block.strip().splitlines() if not line.startswith("```")]
    assert len(command) == 1 and "pytest" in command[0]
    ci = (REPO / ".ci/run").read_text()
    assert "<!-- test-command -->" in ci and "venv" in command[0]


# --------------------------------------------------------------------------- CLI messages (fresh-user trial)
WALLTIME_FORMS = "use e.g. 2:00:00 (H:MM:SS), 90 (minutes) or 1-12:00:00 (D-HH:MM:SS)"


def _error_line(capsys, *argv) -> str:
    """Run ``lpsens ARGV`` in this process; the one stderr line it printed (exit status must be non-zero)."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1, (code, err)
    return err[0]


@pytest.fixture
def project(mini_spec, tmp_path, capsys):
    root = tmp_path / "project"
    assert main(["init", str(mini_spec), "--root", str(root)]) == 0
    capsys.readouterr()
    return root


@pytest.mark.parametrize("value", ["-5", "0", "abc", "1:-3"])
def test_launch_walltime_is_one_line_naming_the_option(project, capsys, value):
    line = _error_line(capsys, "launch", "--root", project, f"--walltime={value}")
    assert line == f"Error: --walltime: '{value}' is not a positive SLURM time; {WALLTIME_FORMS}"


@pytest.mark.mpi
def test_launch_walltime_under_mpiexec_is_one_line_and_starts_nothing(project):
    import os
    import subprocess
    import sys
    from pathlib import Path

    mpiexec = Path(sys.executable).parent / "mpiexec"
    proc = subprocess.run([str(mpiexec), "-n", "2", sys.executable, "-m", "lpsens", "launch", "--root", str(project),
                           "--walltime", "-5"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 4, proc.stderr  # LpsensError.exit_code, not an MPI_Abort of all ranks
    assert proc.stderr.strip() == f"Error: --walltime: '-5' is not a positive SLURM time; {WALLTIME_FORMS}"
    import signac

    assert {job.doc["status"] for job in signac.get_project(str(project))} == {"pending"}


@pytest.mark.parametrize("value", ["-5", "0", "2:xx"])
def test_submit_walltime_is_one_line_naming_the_option(tmp_path, capsys, value):
    line = _error_line(capsys, "submit", "--root", tmp_path, f"--walltime={value}", "--dry-run")
    assert line == f"Error: --walltime: '{value}' is not a positive SLURM time; {WALLTIME_FORMS}"


def test_submit_options_are_named_as_options(tmp_path, capsys):
    assert _error_line(capsys, "submit", "--root", tmp_path, "--nodes", "0", "--dry-run") == (
        "Error: --nodes: must be a positive integer, got 0")
    assert _error_line(capsys, "submit", "--root", tmp_path, "--walltime", "2", "--dry-run") == (
        "Error: --walltime: '2' is not longer than signal_lead_s = 300 s of the profile 'generic' (the launch stops "
        "that long before the end); give a longer walltime")


def test_launch_options_are_named_as_options(project, capsys):
    assert _error_line(capsys, "launch", "--root", project, "--max-retries", "-1") == (
        "Error: --max-retries: must be >= 0, got -1")
    assert _error_line(capsys, "launch", "--root", project, "--ranks-per-task", "0") == (
        "Error: --ranks-per-task: ranks_per_task must be an integer >= 1, got 0")


def test_status_group_by_names_the_option(project, capsys):
    assert _error_line(capsys, "status", "--root", project, "--group-by", "colour") == (
        "Error: --group-by: cannot group by ['colour']; allowed keys: material, x_Li2S_mol_pct, temperature_K, "
        "replica, constraint")


def test_analyze_options_are_named_as_options(tmp_path, capsys):
    traj = tmp_path / "trajectory.h5"  # never read: the options are checked first
    assert _error_line(capsys, "analyze", "--trajectory", traj, "--n-blocks", "3") == (
        "Error: --n-blocks: must be >= 4 (the error estimate needs >= 3 degrees of freedom), got 3")
    assert _error_line(capsys, "analyze", "--trajectory", traj, "--fit-start-ps", "0") == (
        "Error: --fit-start-ps: must be > 0, got 0.0")
    assert _error_line(capsys, "analyze", "--trajectory", traj, "--temperature-K", "-3") == (
        "Error: --temperature-K: must be > 0 K, got -3")
    assert not traj.exists()


def test_potential_files_are_named_without_a_spec_key(tmp_path, capsys):
    missing = tmp_path / "none.uf3"
    assert _error_line(capsys, "potential", "check", missing) == (
        f"Error: {missing}: UF3 file not found; give the path of an existing compiled file or recompile it with "
        f"`lpsens potential compile GAP.xml -o {missing}`")
    garbled = tmp_path / "bad.uf3"
    garbled.write_text("junk\n")
    assert _error_line(capsys, "potential", "check", garbled) == (
        f"Error: {garbled}: line 1: unexpected text outside a '#UF3 POT' block (garbled file); recompile it with "
        f"`lpsens potential compile GAP.xml -o {garbled}`")
    gap = tmp_path / "none.xml"
    assert _error_line(capsys, "potential", "compile", gap, "-o", tmp_path / "out.uf3") == (
        f"Error: {gap}: GAP file not found; give the path of an existing GAP XML (campaign key potential.path)")
    assert _error_line(capsys, "potential", "compile", gap, "-o", tmp_path / "out.uf3", "--tolerance", "0") == (
        "Error: --tolerance: must be > 0 eV/A, got 0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.uf3"]


def _protocol_keys():
    return ", ".join(sorted(f.name for f in dataclasses.fields(MDProtocol)))


@pytest.mark.parametrize("edit, expected", [
    (lambda s: s.replace("timestep_fs = 2.0", "timestep = 2.0"),
     "unknown key 'protocol.timestep' — did you mean 'timestep_fs'? Valid keys: {protocol}"),
    (lambda s: s + '\n[[material]]\nname = "Li7P3S11"\ntemperatures_K = [500]\nprotocol = { thermostat_damp = 50.0 }\n',
     "unknown key 'material[2].protocol.thermostat_damp' — did you mean 'thermostat_damping_fs'? "
     "Valid keys: {protocol}"),
    (lambda s: s + "\n[analysis]\nfit_start = 1.0\n",
     "unknown key 'analysis.fit_start' — did you mean 'fit_start_ps'? Valid keys: {analysis}"),
    (lambda s: s.replace("[system]", "[sytem]"),
     "unknown key 'sytem' — did you mean 'system'? Valid keys: analysis, campaign, material, potential, protocol, "
     "system"),
    (lambda s: s.replace("replicas = 2", "replica = 2\ncolour = 'red'"),
     "unknown keys 'campaign.colour', 'campaign.replica' (did you mean 'replicas'?). Valid keys: constraints, name, "
     "replicas, seed, temperatures_K"),
], ids=["protocol", "material-protocol", "analysis", "section", "several"])
def test_unknown_spec_key_suggests_the_closest(tmp_path, capsys, edit, expected):
    spec = tmp_path / "demo.toml"
    spec.write_text(edit(MINI_SPEC))
    analysis = ", ".join(sorted(f.name for f in dataclasses.fields(AnalysisSettings)))
    line = _error_line(capsys, "init", spec, "--root", tmp_path / "p")
    assert line == f"Error: {spec}: " + expected.format(protocol=_protocol_keys(), analysis=analysis)
    assert not (tmp_path / "p").exists()


def _all_parsers(parser, path=("lpsens",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _all_parsers(sub, (*path, name))


def test_every_option_has_help_without_markup():
    for path, parser in _all_parsers(build_parser()):
        texts = [parser.description or ""]
        for action in parser._actions:
            # a group of subcommands is described by its subcommands' help lines
            helps = ([a for a in action._choices_actions] if isinstance(action, argparse._SubParsersAction)
                     else [action])
            for a in helps:
                assert a.help, f"{' '.join(path)} {'/'.join(a.option_strings) or a.dest} has no help"
                texts.append(a.help)
        for text in texts:
            assert "``" not in text and ":class:" not in text and ":func:" not in text, (path, text)


def test_top_level_help_is_plain_text(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "The lpsens command line: a thin layer over the Python API." in out and "``" not in out


def _readme_analyze_command():
    readme = (REPO / "README.md").read_text()
    (line,) = [ln for ln in readme.splitlines() if ln.startswith("lpsens analyze --trajectory")]
    return line.split("#")[0].split()[1:]


def test_readme_analyze_example_works_on_a_demo_trajectory(tmp_path, capsys, monkeypatch):
    """The README's ``analyze --trajectory`` line, as written, on a demo-length run of a demo project."""
    import tomllib

    from lpsens.analysis.synthetic import write_random_walk

    spec = tomllib.loads((REPO / "signac_project" / "demo.toml").read_text())
    protocol, analysis = spec["protocol"], spec["analysis"]
    root = tmp_path / "demo_project"
    assert main(["init", str(REPO / "signac_project" / "demo.toml"), "--root", str(root)]) == 0
    capsys.readouterr()
    job_dir = sorted((root / "workspace").iterdir())[0]
    # as long and as densely sampled as the demo's production
    dt_ps = protocol["sampling_interval_fs"] / 1000
    n_frames = round(protocol["production_ps"] / dt_ps) + 1
    write_random_walk(tmp_path / "trajectory.h5", n_frames=n_frames, dt_ps=dt_ps, n_walkers=16, temperature_K=700.0)
    (tmp_path / "trajectory.h5").rename(job_dir / "trajectory.h5")
    (tmp_path / "some_job").symlink_to(job_dir)
    monkeypatch.chdir(tmp_path)
    argv = _readme_analyze_command()
    assert argv[:3] == ["analyze", "--trajectory", "some_job/trajectory.h5"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["settings"]["fit_start_ps"] == analysis["fit_start_ps"]
    assert result["settings"]["n_blocks"] == analysis["n_blocks"]
    assert result["D_cm2_s"] > 0
    from lpsens.analysis.settings import AnalysisSettings

    defaults = AnalysisSettings()
    differs = (defaults.fit_start_ps, defaults.n_blocks) != (analysis["fit_start_ps"], analysis["n_blocks"])
    # the note appears only when the campaign's settings are not the defaults
    assert captured.err.strip() == ((
        f"note: some_job/trajectory.h5 is in a job of a campaign whose [analysis] table sets fit_start_ps = "
        f"{analysis['fit_start_ps']:g}, n_blocks = {analysis['n_blocks']}; analysing with those (options override them)")
        if differs else "")
    # An 8 ps run outside any project: the default window does not fit, and the error says which options help.
    write_random_walk(job_dir / "trajectory.h5", n_frames=401, dt_ps=0.02, n_walkers=16, temperature_K=700.0)
    (job_dir / "trajectory.h5").rename(tmp_path / "copied.h5")
    assert _error_line(capsys, "analyze", "--trajectory", "copied.h5", "--json") == (
        "Error: copied.h5: run too short for a diffusive regime: 8 blocks of 1 ps give a fit window [2, 0.5] ps "
        "with 0 lags; needed: end >= 2 x start and >= 10 lags, i.e. >= 64 ps of production, or an earlier fit "
        "start / fewer blocks ([analysis] fit_start_ps, n_blocks; lpsens analyze --fit-start-ps, --n-blocks)")


# --------------------------------------------------------------------------- run (one job in this process)
def _run(*args):
    return subprocess.run([sys.executable, "-m", "lpsens", *map(str, args)], capture_output=True, text=True, timeout=600)


def test_lpsens_run_completes_a_job_and_records_done(make_job):
    job = make_job()
    proc = _run("run", job.id[:10], "--root", job.project.path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["job_id"] == job.id and out["status"] == "done" and out["n_frames"] > 1
    assert job.doc["status"] == "done" and job.doc["reason"] is None and job.doc["attempts"] == 1
    assert job.doc["provenance"]["backend"] in ("quippy", "native")


def test_lpsens_run_records_the_failure_reason(make_job):
    job = make_job()
    with open(job.fn("initial.extxyz"), "w") as fh:
        fh.write("not a structure\n")
    proc = _run("run", job.id, "--root", job.project.path)
    assert proc.returncode != 0
    assert proc.stderr.startswith("Error: ") and "initial.extxyz" in proc.stderr
    assert job.doc["status"] == "failed" and "initial.extxyz" in job.doc["reason"]


def test_lpsens_run_unknown_job(make_job):
    job = make_job()
    proc = _run("run", "ffffffffff", "--root", job.project.path)
    assert proc.returncode != 0 and "no job" in proc.stderr


def test_lpsens_run_refuses_a_job_claimed_by_a_launch(make_job):
    from lpsens.launch.claims import Owner, try_claim

    job = make_job()
    claim = try_claim(job.path, Owner.here("launch-under-test", 0))
    try:
        proc = _run("run", job.id, "--root", job.project.path)
    finally:
        claim.release()
    assert proc.returncode != 0
    assert "launch-under-test" in proc.stderr and ".lpsens_claim.json" in proc.stderr
    assert job.doc["status"] == "pending"  # nothing was written


def test_lpsens_run_uses_the_campaign_backend_and_backend_overrides_it(make_job, toy_uf3):
    job = make_job(uf3=toy_uf3)
    proc = _run("run", job.id, "--root", job.project.path)
    assert proc.returncode == 0, proc.stderr
    assert job.doc["provenance"]["backend"] == "uf3"
    plain = make_job(replica=1)  # no compiled file: --backend uf3 cannot run it
    proc = _run("run", plain.id, "--root", plain.project.path, "--backend", "uf3")
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert err[-1].startswith("Error: ") and "compiled GAP" in err[-1], proc.stderr
    assert plain.doc["status"] == "failed"


# --------------------------------------------------------------------------- analyze
def _cli(*args):
    return subprocess.run([sys.executable, "-m", "lpsens", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_analyze_trajectory_json(tmp_path):
    path = write_random_walk(tmp_path / "trajectory.h5", n_frames=4000, n_walkers=32, temperature_K=650.0)
    proc = _cli("analyze", "--trajectory", path, "--temperature-K", 700, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for key in ("D_cm2_s", "D_err_cm2_s", "sigma_S_cm", "sigma_err_S_cm", "temperature_K", "n_Li", "volume_A3",
                "anion_counts"):
        assert key in out
    assert out["temperature_K"] == 700.0
    assert out["n_Li"] == 32
    assert out["volume_A3"] == pytest.approx(15 * 16 * 17)
    assert set(out["anion_counts"]) >= {"PS4", "P2S7", "P2S6", "other"}
    assert out["D_cm2_s"] == pytest.approx(0.5e-4, rel=0.1)
    assert out["haven_ratio_assumed"] == 1.0 and out["charge_number"] == 1
    assert out["hop_statistics"] == "ok" and out["n_hops"] > 100 and out["uncertain"] == ""
    assert out["D_err_cm2_s"] ** 2 == pytest.approx(out["D_err_blocks_cm2_s"] ** 2 + out["D_err_counting_cm2_s"] ** 2)
    # issue 13: the measured collective conductivity and Haven ratio (independent walkers: H ~ 1)
    for key in ("sigma_collective_S_cm", "sigma_collective_err_S_cm", "haven_ratio", "haven_ratio_err",
                "PS4_tau1_ps", "PS4_tau1_err_ps", "PS4_reorientations_per_ps", "Li_jumps_per_ps_per_ion",
                "Li_residence_time_ps", "paddlewheel_enrichment", "paddlewheel_enrichment_err"):
        assert key in out
    assert out["haven_ratio"] == pytest.approx(1.0, abs=4 * out["haven_ratio_err"])


def test_analyze_default_temperature_from_file(tmp_path):
    path = write_random_walk(tmp_path / "trajectory.h5", n_frames=4000, n_walkers=8, temperature_K=650.0)
    out = json.loads(_cli("analyze", "--trajectory", path, "--json").stdout)
    assert out["temperature_K"] == 650.0
    # random walkers overlap: the text output says the chemistry is broken, and why
    text = _cli("analyze", "--trajectory", path).stdout
    assert "chemistry: integrity: broken at 0 ps (frame 0, 100% of frames broken): " in text


def test_analyze_too_short_is_an_error(tmp_path):
    path = write_random_walk(tmp_path / "trajectory.h5", n_frames=100, n_walkers=4)
    proc = _cli("analyze", "--trajectory", path, "--json")
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert proc.stderr.startswith("Error:") and "too short" in proc.stderr


def test_analyze_not_a_trajectory(tmp_path):
    bad = tmp_path / "x.h5"
    bad.write_text("junk")
    proc = _cli("analyze", "--trajectory", bad, "--json")
    assert proc.returncode != 0 and "Error:" in proc.stderr


def test_analyze_text_flags_a_run_without_hops(tmp_path):
    path = write_random_walk(tmp_path / "trajectory.h5", n_frames=2000, n_walkers=8, D_A2_ps=1e-4)
    proc = _cli("analyze", "--trajectory", path)
    assert proc.returncode == 0, proc.stderr
    assert "0 Li hops by 0 Li: none" in proc.stdout and "[error>value;no-hops]" in proc.stdout
