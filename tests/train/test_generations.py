"""A whole tiny campaign through the (serial) launcher: generations, selection, failures, resume."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import pytest
from conftest import subprocess_env

from lpsens.chemistry import check_frame
from lpsens.errors import ProjectError, TrainingError
from lpsens.launch.launcher import LaunchOptions, launch
from lpsens.train.generations import (
    advance,
    init_training,
    open_training,
    run_campaign,
    spec_of,
    training_status,
)
from lpsens.train.labelling import PARTIAL_FILE
from lpsens.train.spec import CONTACT_CUTOFF_A, load_training_spec
from lpsens.train.tasks import FRAMES_FILE


def _launch(project):
    return launch(project, options=LaunchOptions(progress_interval_s=0, isolate=False), install_signals=False)


def _jobs(project, **flt):
    return list(project.find_jobs(flt))


def _until_exploring(project):
    """Launch and advance until generation 0's fit is done and its explorations wait."""
    state = advance(project)
    while state["state"] != "exploring":
        assert _launch(project).exit_code == 0
        state = advance(project)
    return state


def test_generation0_by_the_protocol(tiny_spec, tmp_path):
    spec = load_training_spec(tiny_spec())
    project, n = init_training(spec, tmp_path / "c")
    types = [j.doc["config_type"] for j in project]
    # 2 structures x (bulk, 1 distorted, 1 compressed, 1 MD) + 3 isolated + 6 pairs x 5 distances
    assert n == len(types) == 2 * 4 + 3 + 30
    assert types.count("dimer") == 30 and types.count("md") == 2 and types.count("isolated") == 3
    assert project.doc["kind"] == "training"
    assert init_training(spec, tmp_path / "c")[1] == 0  # same spec: nothing added
    assert "generation0_incomplete" not in project.doc
    # the same spec with its keys stored in another order (signac keeps a document's old key order
    # when a spec gains keys): not a change, no history entry
    project.doc["spec"] = {sec: dict(reversed(list(v.items()))) for sec, v in reversed(list(spec.to_dict().items()))}
    init_training(spec, tmp_path / "c")
    assert not project.doc.get("spec_history")
    # interrupted while generation 0 was written (a signal, a kill): the next call completes it
    jobs = sorted(project.find_jobs({"train_kind": "label"}), key=lambda j: j.id)
    for j in jobs[:5]:
        j.remove()
    jobs[5].doc.clear()  # made, its document not yet written
    project.doc["generation0_incomplete"] = True
    assert init_training(spec, tmp_path / "c")[1] == 6
    assert sorted(j.doc["config_type"] for j in project) == sorted(types)
    assert "generation0_incomplete" not in project.doc and project.doc["generations"]["0"]["labels_created"] == n
    other = tiny_spec(calculator="pair_reference:FailingMorse", name="other.toml")
    with pytest.raises(ProjectError, match=r"\[reference\] differ"):
        init_training(load_training_spec(other), tmp_path / "c")
    refit = load_training_spec(tiny_spec(fit_extra="delta_2b = 2.0", name="refit.toml"))
    assert init_training(refit, tmp_path / "c")[1] == 0  # [fit] may change; the old spec is kept
    assert project.doc["spec"]["fit"]["delta_2b"] == 2.0 and len(project.doc["spec_history"]) == 1


def test_iteration_selects_a_deliberately_broken_frame(tiny_spec, tmp_path):
    project, _ = init_training(load_training_spec(tiny_spec()), tmp_path / "c")
    states = []
    state = advance(project)
    while state["state"] != "exploring":
        states.append(state["state"])
        assert _launch(project).exit_code == 0
        state = advance(project)
    assert states == ["labelling", "fitting"]
    gap = Path(_jobs(project, train_kind="fit", generation=0)[0].path) / "gap.xml"
    assert gap.exists() and "init_args_pot1={IP LJ}" in gap.read_text()  # the repulsive core is in the GAP
    assert _launch(project).exit_code == 0  # the exploration MD
    explore = _jobs(project, train_kind="explore", generation=0)[0]
    frames = ase.io.read(Path(explore.path) / FRAMES_FILE, ":")
    # how the run ended, recorded for `lpsens train --status`: its first broken frame, found here directly
    first = next((f for f in frames if check_frame(f.numbers, f.positions, f.cell.array)), None)
    outcome = explore.doc["first_broken"]
    if first is None:
        assert outcome is None
    else:
        step = int(first.info["md_step"])
        assert outcome["md_step"] == step and outcome["time_ps"] == pytest.approx(step * 2.0 / 1000)
        assert outcome["reason"] == check_frame(first.numbers, first.positions, first.cell.array)[0].message
    from lpsens.train.generations import format_status

    runs = training_status(project)["generations"]["0"]["explorations"]
    assert runs == [{"run": "glass x=75 800 K", "steps_requested": 40, "first_broken": outcome}]
    text = format_status(training_status(project))
    assert f"explorations: {int(first is None)} of 1 intact to the end" in text
    if first is not None:
        started = outcome["md_step"] or outcome["reason"].startswith("lost")
        when = f"at {outcome['time_ps']:.3g} ps" if started else "from the start (its minimised structure)"
        assert f"broken: glass x=75 800 K {when}: {outcome['reason']}" in text
    json.dumps(training_status(project))  # --status --json: plain values only
    # its work in the unit of its cost (MD steps, the minimisation counted at its budget); the fit's its cost
    spec = load_training_spec(tiny_spec())
    ran = int(frames[-1].info["md_step"]) + spec.iterate.minimise_steps
    assert explore.doc["runs"][-1]["steps"] == ran <= explore.doc["cost_steps"]
    fit0 = _jobs(project, train_kind="fit", generation=0)[0]
    assert fit0.doc["runs"][-1]["steps"] == fit0.doc["cost_steps"]
    # break one frame: two S of different units 1.5 A apart (S-S fusion)
    bad = frames[1]
    s = np.nonzero(bad.numbers == 16)[0]
    bad.positions[s[1]] = bad.positions[s[0]] + [1.5, 0.0, 0.0]
    bad.info["md_step"] = 10
    ase.io.write(Path(explore.path) / FRAMES_FILE, frames, format="extxyz")
    state = advance(project)
    assert state == {"state": "labelling", "generation": 1, "message": state["message"]}
    selected = project.doc["generations"]["0"]["selected"]
    broken = [r for r in selected if r["md_step"] == 10]
    assert broken and "Å apart (S-S limit" in broken[0]["reason"]
    names = [j.sp["name"] for j in _jobs(project, train_kind="label", generation=1)]
    assert any(n.endswith("/step10") for n in names)
    state = run_campaign(project, isolate=False)
    assert state["state"] == "finished" and state["generation"] == 1
    fit1 = _jobs(project, train_kind="fit", generation=1)[0]
    train = ase.io.read(Path(fit1.path) / "train.extxyz", ":")
    assert {a.info["generation"] for a in train} == {0, 1}
    assert all(a.info["reference"] == "pair_reference:MorsePairs" and a.info["job_id"] for a in train)
    from lpsens.train.selection import bonds_the_reference_holds, frame_failures

    broken = {j.sp["name"] for j in _jobs(project, train_kind="label")
              if j.doc["config_type"] in ("bulk", "distorted", "md")
              and any(frame_failures(f) for f in ase.io.read(Path(j.path) / "labelled.extxyz", ":"))}
    # selected failures only where the reference holds an S-S contact; the deliberate 1.5 A fusion
    # is pushed apart by the Morse reference (restoring forces), so it stays
    held = {j.sp["name"] for j in _jobs(project, train_kind="label") if j.doc["config_type"] == "selected"
            and any(bonds_the_reference_holds(f) for f in ase.io.read(Path(j.path) / "labelled.extxyz", ":"))}
    assert set(fit1.doc["screened_broken"]) == broken | held
    assert not any(n.endswith("/step10") for n in held)
    from lpsens.train.gates import validate_campaign, write_json

    result = validate_campaign(project)
    gates = {r["gate"]: r for r in result["rows"]}
    assert result["generation"] == 1 and gates["reference_force_rmse"]["value"] > 0
    write_json(result, tmp_path / "gates.json")
    assert json.loads((tmp_path / "gates.json").read_text())["rows"] == result["rows"]
    assert project.doc["generations"]["1"]["gates"]["never_catastrophic"] == gates["never_catastrophic"]["passed"]


def test_failing_reference_is_isolated_and_reported(tiny_spec, tmp_path):
    spec = load_training_spec(tiny_spec(calculator="pair_reference:FailingMorse", kwargs="{fail_below_A = 1.3}"))
    project, _ = init_training(spec, tmp_path / "c")
    report = _launch(project)
    assert report.counts["failed"] == 6  # the 1.0 A dimer of every pair
    assert report.exit_code == 1
    failed = [j for j in project if j.doc["status"] == "failed"]
    assert {j.sp["name"].split("/")[-1] for j in failed} == {"1"}
    assert all("SCF did not converge" in j.doc["reason"] for j in failed)
    assert advance(project)["state"] == "fitting"  # the campaign goes on without them
    assert _launch(project).exit_code == 0
    fit = _jobs(project, train_kind="fit", generation=0)[0]
    assert sorted(fit.doc["skipped_failed_labels"]) == sorted(j.id for j in failed)
    status = training_status(project)["generations"]["0"]
    assert status["label"] == {"done": 35, "failed": 6} and len(status["failed"]) == 6


def test_killed_labelling_task_resumes(tiny_spec, tmp_path):
    """SIGKILL a launch during an MD labelling task; the next launch finds it lost and resumes its snapshots."""
    spec_path = tiny_spec(calculator="pair_reference:MorsePairs")
    text = spec_path.read_text().replace("md_steps = 20\nmd_every = 10", "md_steps = 200\nmd_every = 10")
    spec_path.write_text(text.replace('crystals = ["gamma_Li3PS4"]', "crystals = []"))
    project, _ = init_training(load_training_spec(spec_path), tmp_path / "c")
    md_job = [j for j in project if j.doc["config_type"] == "md"][0]
    for j in project:  # only the MD task is eligible here
        if j.id != md_job.id:
            j.doc["status"] = "done"
    partial = Path(md_job.path) / PARTIAL_FILE
    cmd = [sys.executable, "-m", "lpsens", "launch", "--root", str(tmp_path / "c"), "--progress-interval", "0",
           "--heartbeat", "0.5", "--stale-after", "1"]
    p = subprocess.Popen(cmd, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        t0 = time.time()
        while time.time() - t0 < 120:
            if partial.exists() and len(ase.io.read(partial, ":")) >= 3:
                break
            time.sleep(0.2)
        os.killpg(p.pid, signal.SIGKILL)
    finally:
        p.wait()
    before = ase.io.read(partial, ":")
    assert 3 <= len(before) < 20
    time.sleep(1.5)  # the claim goes stale
    out = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert md_job.doc["status"] == "done" and md_job.doc["lost_count"] == 1
    frames = ase.io.read(Path(md_job.path) / "labelled.extxyz", ":")
    assert len(frames) == 20
    for x, y in zip(before, frames[:len(before)], strict=True):  # the frames made before the kill are kept, not recomputed
        np.testing.assert_array_equal(x.positions, y.positions)
    assert not partial.exists()  # a finished task keeps its labels only


def test_open_training_refuses_an_md_project(tmp_path, mini_spec):
    from lpsens.campaign import load_campaign
    from lpsens.project import init_project

    init_project(load_campaign(mini_spec), tmp_path / "md")
    with pytest.raises(ProjectError, match="not a training campaign"):
        open_training(tmp_path / "md")


def test_extra_frames_join_the_training_set_at_the_reference_energy_zero(tiny_spec, tmp_path):
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    from lpsens.errors import TrainingError
    from lpsens.train.generations import extra_frames
    from lpsens.train.spec import parse_training_spec

    rng = np.random.default_rng(0)
    frames = []
    for k in range(5):
        a = Atoms("Li3PS4", positions=rng.uniform(0, 6, (8, 3)), cell=np.eye(3) * 6, pbc=True)
        a.calc = SinglePointCalculator(a, energy=-30.0 - k, forces=rng.normal(size=(8, 3)))
        frames.append(a)
    ase.io.write(tmp_path / "dft.extxyz", frames)
    data = load_training_spec(tiny_spec()).to_dict()
    data["configurations"].update(extra_frames="dft.extxyz", extra_frames_range=[1, 4],
                                  extra_frames_energy_offset_eV_atom=-0.5, extra_frames_name="PBE")
    data["gates"]["heldout_dft"] = ""
    spec = parse_training_spec(data, file=tmp_path / "spec.toml")  # relative paths: from the spec's folder
    got = extra_frames(spec)
    assert [a.get_potential_energy() for a in got] == pytest.approx([-31.0 - 4.0, -32.0 - 4.0, -33.0 - 4.0])
    assert np.allclose(got[0].get_forces(), frames[1].get_forces(), atol=1e-6)
    assert {a.info["config_type"] for a in got} == {"PBE"} and got[2].info["config_name"] == "PBE/3"
    (tmp_path / "dft.extxyz").write_text("garbage\n")
    with pytest.raises(TrainingError) as err:
        extra_frames(spec)
    assert err.value.key == "configurations.extra_frames"


def test_fit_with_the_contact_core_and_without_dimer_scans(tiny_spec, tmp_path):
    spec = load_training_spec(tiny_spec(fit_extra='core = "contact"\ncore_contact_eV = 2.0\ntrain_on_dimers = false\n'
                                                  'drop_screened = true\ncore_contact_pair_eV = {"S-S" = 3.0}'))
    project, _ = init_training(spec, tmp_path / "c")
    _until_exploring(project)
    fit_job = _jobs(project, train_kind="fit", generation=0)[0]
    core = (Path(fit_job.path) / "core.xml").read_text()
    assert 'type1="3" type2="3"' in core and 'cutoff="2.9"' in core  # S-S wall ends at 2.9 Å
    trained = ase.io.read(Path(fit_job.path) / "train.extxyz", ":")
    assert trained and not [a for a in trained if a.info.get("config_type") == "dimer"]
    assert not [a for a in trained if a.info.get("screen")]  # screened reference frames left out
    from lpsens.train.generations import collect_training_set

    every, _, _ = collect_training_set(project, 0, spec)
    screened = [a for a in every if a.info.get("screen")]
    assert len(trained) == len([a for a in every if a.info["config_type"] not in ("dimer", "isolated")]) - len(screened)
    assert set(fit_job.doc["core_eps12"]) == {"Li-S", "P-S", "S-S", "P-P", "Li-Li", "Li-P"}
    from lpsens.train.fit import contact_core_eps12

    two = contact_core_eps12(2.0, {**CONTACT_CUTOFF_A})
    assert fit_job.doc["core_eps12"]["S-S"] == pytest.approx(1.5 * two["S-S"])  # 3 eV instead of 2 at 2.3 Å
    assert fit_job.doc["core_eps12"]["P-S"] == pytest.approx(two["P-S"])
    # [fit] untrusted_contact_A: reference frames with a contact below it are screened, scans are not
    wary = dataclasses.replace(spec, fit=dataclasses.replace(spec.fit, untrusted_contact_A={"S-S": 6.0}))
    flagged, _, _ = collect_training_set(project, 0, wary)
    kinds = {a.info["config_type"] for a in flagged if "below the reference's trusted 6 A" in a.info.get("screen", "")}
    assert kinds == {"bulk", "distorted", "md"}
    assert "init_args_pot1={IP LJ}" in (Path(fit_job.path) / "gap.xml").read_text()


def test_fit_with_the_tetrahedral_prior_fits_the_reference_minus_the_prior(tiny_spec, tmp_path):
    """gap_fit sees the labels minus the S-P-S angle prior; the written file evaluates
    core + prior + GAP, so the prior is in it exactly once."""
    from quippy.potential import Potential

    from lpsens.potential.prior import TetrahedralPrior

    spec = load_training_spec(tiny_spec(fit_extra='core = "contact"\ntetrahedral_prior_eV = 3.0\n'
                                                  'tetrahedral_prior_cutoff_A = 3.0'))
    project, _ = init_training(spec, tmp_path / "p")
    _until_exploring(project)
    fit_job = _jobs(project, train_kind="fit", generation=0)[0]
    assert fit_job.doc["tetrahedral_prior"] == {"lambda_eV": 3.0, "gamma_A": 1.0, "cutoff_A": 3.0}
    gap_xml = Path(fit_job.path) / "gap.xml"
    assert "init_args_pot1={Sum init_args_pot1={IP LJ} init_args_pot2={IP SW}}" in gap_xml.read_text()
    prior = TetrahedralPrior(3.0, 1.0, 3.0).calculator()
    def key(a):  # MD frames share a config_name
        return a.info["config_name"], np.round(a.positions, 4).tobytes()

    trained = {key(a): a for a in ase.io.read(Path(fit_job.path) / "train.extxyz", ":")}
    from lpsens.train.generations import collect_training_set

    labelled, _, _ = collect_training_set(project, 0, spec)
    acted = matched = 0
    for ref in labelled:
        if key(ref) not in trained:
            continue
        matched += 1
        probe = ref.copy()
        probe.calc = prior
        e_prior = probe.get_potential_energy()
        acted += abs(e_prior) > 1e-3
        got = trained[key(ref)]
        assert got.get_potential_energy() == pytest.approx(ref.get_potential_energy() - e_prior, abs=1e-6)
        np.testing.assert_allclose(got.get_forces(), ref.get_forces() - probe.get_forces(), atol=1e-6)
    assert matched == len(trained) and acted > 0
    whole = Potential(param_filename=str(gap_xml))
    atoms = next(iter(trained.values())).copy()
    atoms.calc = whole
    e_whole = atoms.get_potential_energy()
    import re

    gap_label = re.search(r"IP GAP label=(\w+)", gap_xml.read_text()).group(1)
    atoms.calc = Potential(f"Sum init_args_pot1={{IP LJ}} init_args_pot2={{IP GAP label={gap_label}}}",
                           param_filename=str(gap_xml))
    e_without = atoms.get_potential_energy()
    atoms.calc = prior
    assert e_whole == pytest.approx(e_without + atoms.get_potential_energy(), abs=1e-8)


def test_coordination_scans_join_the_next_generation(tiny_spec, tmp_path):
    """[iterate] coordination_scan_A: fifth-S scans from the middle intact frame of every
    exploration run are labelled in the next generation, beside the selected failures."""
    path = tiny_spec()
    path.write_text(path.read_text().replace("[iterate]\n", "[iterate]\ncoordination_scan_A = [2.3, 2.5]\n"
                                             "coordination_scan_centres = 1\n"))
    spec = load_training_spec(path)
    assert spec.iterate.coordination_scan_A == (2.3, 2.5)
    project, _ = init_training(spec, tmp_path / "c")
    _until_exploring(project)
    assert _launch(project).exit_code == 0
    explore = _jobs(project, train_kind="explore", generation=0)
    from lpsens.structures import build_structure

    frames = ase.io.read(Path(explore[0].path) / FRAMES_FILE, ":")
    intact = build_structure("glass", 75.0, 0, min_atoms=48)  # the tiny GAP breaks every frame it runs
    intact.info = dict(frames[0].info)
    assert not check_frame(intact.numbers, intact.positions, intact.cell.array)
    ase.io.write(Path(explore[0].path) / FRAMES_FILE, [intact, *frames[1:]], format="extxyz")
    assert advance(project)["state"] == "labelling"
    scans = [j for j in _jobs(project, train_kind="label", generation=1) if j.doc["config_type"] == "coordination_scan"]
    assert len(scans) == 2 * len(explore)  # one P per run, two distances
    assert {j.sp["name"].rsplit("/", 1)[1] for j in scans} == {"2.3A", "2.5A"}
    assert project.doc["generations"]["1"]["labels_created"] == len(_jobs(project, train_kind="label", generation=1))
    # scans the fit would screen ([fit] untrusted_contact_A) are not labelled at all
    from lpsens.train.generations import _add_coordination_scans

    wary = dataclasses.replace(spec, fit=dataclasses.replace(spec.fit, untrusted_contact_A={"Li-S": 6.0},
                                                             drop_screened=True))
    assert _add_coordination_scans(project, wary, 5, [intact]) == 0
    assert _add_coordination_scans(project, spec, 5, [intact]) == 2
    # [iterate] stretch_scan_A adds bond-stretch scans from the same frame, same config_type
    both = dataclasses.replace(spec, iterate=dataclasses.replace(spec.iterate, stretch_scan_A=(2.6, 2.9)))
    assert _add_coordination_scans(project, both, 6, [intact]) == 4
    names = [j.sp["name"] for j in _jobs(project, train_kind="label", generation=7)]
    assert sorted(n.rsplit("/", 1)[1] for n in names) == ["2.3A", "2.5A", "stretch2.6A", "stretch2.9A"]
    assert {j.doc["config_type"] for j in _jobs(project, train_kind="label", generation=7)} == {"coordination_scan"}


def test_failed_explorations_are_not_a_verdict_of_no_broken_frames(tiny_spec, tmp_path):
    project, _ = init_training(load_training_spec(tiny_spec()), tmp_path / "c")
    _until_exploring(project)
    for job in _jobs(project, train_kind="explore", generation=0):
        job.doc.update(status="failed", reason="SpecError: made up")
    state = advance(project)
    assert state["state"] == "explore_failed" and "made up" in state["message"] and "--retry-failed" in state["message"]


def test_crosscheck_screens_the_frames_the_second_reference_disagrees_on(tiny_spec, tmp_path):
    """[crosscheck] with a reference whose forces are 3x the first: every checked frame is
    screened (and left out of the fit with drop_screened); dimers are not checked."""
    from lpsens.train.generations import collect_training_set

    extra = ("drop_screened = true\n[crosscheck]\ncalculator = \"pair_reference:ScaledMorse\"\n"
             "kwargs = {scale = 3.0}\nname = \"scaled\"\nmin_bridged_P_fraction = 0.0\nforce_rms_eV_A = 0.01\n")
    spec = load_training_spec(tiny_spec(fit_extra=extra))
    project, _ = init_training(spec, tmp_path / "c")
    assert advance(project)["state"] == "labelling"
    assert _launch(project).exit_code == 0
    train, heldout, failed = collect_training_set(project, 0, spec)
    assert not failed
    frames = train + heldout
    checked = [f for f in frames if "crosscheck" in f.info]
    assert {f.info["config_type"] for f in checked} == {"bulk", "distorted", "md"}
    assert all("scaled disagrees" in f.info["screen"] for f in checked)
    assert not any("crosscheck" in f.info for f in frames if f.info["config_type"] == "dimer")
    md_jobs = _jobs(project, train_kind="label", generation=0)
    assert sum(j.doc.get("crosscheck", {}).get("n_checked", 0) for j in md_jobs) == len(checked)
    assert advance(project)["state"] == "fitting"
    assert _launch(project).exit_code == 0
    fit = _jobs(project, train_kind="fit", generation=0)[0]
    assert set(fit.doc["screened_broken"]) == {f.info["config_name"] for f in checked}  # dropped, still listed
    assert fit.doc["n_train_frames"] == len([f for f in train if not f.info.get("screen")
                                             and f.info["config_type"] not in ("isolated",)])


def test_unknown_crosscheck_calculator_is_refused_before_anything_is_written(tiny_spec, tmp_path):
    from lpsens.errors import TrainingError

    spec = load_training_spec(tiny_spec(fit_extra="[crosscheck]\ncalculator = \"no_such_mod_q:Calc\"\n"))
    with pytest.raises(TrainingError, match="cannot import module 'no_such_mod_q'") as err:
        init_training(spec, tmp_path / "c")
    assert err.value.key == "crosscheck.calculator" and not (tmp_path / "c").exists()


def test_campaign_made_before_crosscheck_existed_still_advances(tiny_spec, tmp_path):
    spec = load_training_spec(tiny_spec())
    project, _ = init_training(spec, tmp_path / "c")
    stored = dict(project.doc["spec"])
    del stored["crosscheck"]  # as written by lpsens before [crosscheck]
    project.doc["spec"] = stored
    assert init_training(spec, tmp_path / "c")[1] == 0


def test_failure_md_starts_from_the_last_intact_frame_of_each_broken_run(tiny_spec, tmp_path):
    """[iterate] failure_md_steps: one reference MD task per broken exploration run, from its last
    intact frame, at the run's temperature; runs that never broke or broke at once get none."""
    from lpsens.structures import build_structure
    from lpsens.train.generations import _add_failure_md
    from lpsens.train.labelling import CONFIG_FILE
    from lpsens.train.tasks import run_train_task

    path = tiny_spec()
    path.write_text(path.read_text().replace("[iterate]\n", "[iterate]\nfailure_md_steps = 20\nfailure_md_every = 10\n"))
    spec = load_training_spec(path)
    project, _ = init_training(spec, tmp_path / "c")
    intact = build_structure("glass", 75.0, 0, min_atoms=48)
    assert not check_frame(intact.numbers, intact.positions, intact.cell.array)
    s = np.nonzero(intact.numbers == 16)[0]

    def frame(run, step, broken=False, shift=0.0):
        a = intact.copy()
        a.positions[0] += shift  # tells the frames apart
        if broken:
            a.positions[s[1]] = a.positions[s[0]] + [1.5, 0.0, 0.0]
        a.info = {"run": run, "md_step": step}
        return a

    frames = [frame("hot", 0), frame("hot", 50, shift=0.01), frame("hot", 100, broken=True), frame("hot", 150, broken=True),
              frame("calm", 0), frame("calm", 50, shift=0.02), frame("at_once", 0, broken=True)]
    assert _add_failure_md(project, spec, 0, frames, {"hot": 800.0, "calm": 600.0, "at_once": 900.0}) == 1
    (job,) = _jobs(project, train_kind="label", generation=1)
    assert job.sp["name"] == "failure_md/hot/step50" and job.doc["config_type"] == "failure_md"
    assert job.doc["md"] == {"temperature_K": 800.0, "steps": 20, "every": 10, "timestep_fs": 2.0, "minimise_steps": 0}
    start = ase.io.read(Path(job.path) / CONFIG_FILE)
    np.testing.assert_allclose(start.positions, frames[1].positions)
    assert run_train_task(job).status == "done"
    labelled = ase.io.read(Path(job.path) / "labelled.extxyz", ":")
    assert [f.info["md_step"] for f in labelled] == [10, 20]
    # the verdicts per frame may come precomputed (one check_frame pass shared with the scans)
    assert _add_failure_md(project, spec, 4, frames, {"hot": 800.0}, [False] * len(frames)) == 0
    assert _add_failure_md(project, spec, 5, frames, {"hot": 800.0},
                           [bool(check_frame(f.numbers, f.positions, f.cell.array)) for f in frames]) == 1
    # failure_md_max_runs: spread over the systems, the earliest-broken run of each first
    from lpsens.train.generations import _failure_md_runs

    starts = {"g0/glass/67/600K": (None, 500), "g0/glass/67/800K": (None, 100), "g0/glass/75/800K": (None, 300),
              "g0/beta/75/900K": (None, 900)}
    assert _failure_md_runs(starts, 0) == sorted(starts)
    assert _failure_md_runs(starts, 2) == ["g0/glass/67/800K", "g0/glass/75/800K"]
    assert _failure_md_runs(starts, 3) == ["g0/beta/75/900K", "g0/glass/67/800K", "g0/glass/75/800K"]
    # a replica is the same system: it waits for the other systems' earliest-broken runs
    starts["g0/glass/67/800K/r1"] = (None, 50)
    assert _failure_md_runs(starts, 3) == ["g0/beta/75/900K", "g0/glass/67/800K/r1", "g0/glass/75/800K"]
    capped = dataclasses.replace(spec, iterate=dataclasses.replace(spec.iterate, failure_md_max_runs=1))
    two = frames + [frame("hot2", 0, shift=0.03), frame("hot2", 50, broken=True, shift=0.04)]
    assert _add_failure_md(project, capped, 6, two, {"hot": 800.0, "hot2": 800.0}) == 1
    (job,) = _jobs(project, train_kind="label", generation=7)
    assert job.sp["name"] == "failure_md/hot2/step0"  # broke first (step 50 against 100)
    off = dataclasses.replace(spec, iterate=dataclasses.replace(spec.iterate, failure_md_steps=0))
    assert _add_failure_md(project, off, 3, frames, {"hot": 800.0}) == 0


def test_failure_paths_of_the_explorations_are_labelled_next(tiny_spec, tmp_path):
    """[iterate] failure_path_every: an exploration that breaks keeps its path into the break
    (failure_path.extxyz, beside its frames) and the next generation labels every path frame as
    a selected one (an exploration that holds has none: test_exploration.py). Explorations through the
    compiled toy potential of tests/uf3_toy.py (no P-S bond: the glass breaks within 100 steps)."""
    import shutil

    from uf3_toy import write_toy_uf3

    from lpsens.train.generations import _add_explore_jobs, _select_next
    from lpsens.train.labelling import CONFIG_FILE
    from lpsens.train.tasks import PATH_FILE, UF3_FILE, run_train_task

    path = tiny_spec(fit_extra="compile = true")
    text = path.read_text().replace("[iterate]\n", '[iterate]\nbackend = "uf3"\nfailure_path_every = 10\n', 1)
    path.write_text(text.replace("md_steps = 40\nmd_every = 10", "md_steps = 500\nmd_every = 50", 1)
                    .replace("temperatures_K = [800]", "temperatures_K = [300]", 1))
    spec = load_training_spec(path)
    assert spec.iterate.failure_path_every == 10
    project, _ = init_training(spec, tmp_path / "c")
    fit = project.open_job({"train_kind": "fit", "generation": 0}).init()
    toy = write_toy_uf3(tmp_path / "toy.uf3", "0" * 64)
    shutil.copy(toy, Path(fit.path) / UF3_FILE)
    shutil.copy(f"{toy}.json", Path(fit.path) / f"{UF3_FILE}.json")
    _add_explore_jobs(project, spec, 0)
    (explore,) = _jobs(project, train_kind="explore", generation=0)
    assert run_train_task(explore).status == "done"
    explore.doc["status"] = "done"  # as the launcher records it
    frames = ase.io.read(Path(explore.path) / FRAMES_FILE, ":")
    walk = ase.io.read(Path(explore.path) / PATH_FILE, ":")
    assert [f.info["md_step"] % 50 for f in frames] == [0] * len(frames) and not any("path" in f.info for f in frames)
    steps = [f.info["md_step"] for f in walk]
    assert frames[-2].info["md_step"] < steps[0] and steps[-1] < frames[-1].info["md_step"]
    assert explore.doc["first_broken"]["md_step"] == frames[-1].info["md_step"]  # the checked frames' verdict, as before
    assert _select_next(project, spec, 0, [explore]) > len(walk)
    labels = {j.sp["name"]: j for j in _jobs(project, train_kind="label", generation=1)}
    run = walk[0].info["run"]
    assert {n for n in labels if n.startswith("failure_path/")} == {f"failure_path/{run}/step{n}" for n in steps}
    job = labels[f"failure_path/{run}/step{steps[0]}"]
    assert job.doc["config_type"] == "selected"
    np.testing.assert_allclose(ase.io.read(Path(job.path) / CONFIG_FILE).positions, walk[0].positions)
    assert project.doc["generations"]["1"]["labels_created"] == len(labels)


def test_explorations_follow_a_corrected_iterate(tiny_spec, tmp_path):
    """A run that failed for a bad [iterate] value is not the generation's forever: the corrected
    spec's runs are made and the generation's runs are those."""
    from lpsens.train.generations import _add_explore_jobs

    spec = load_training_spec(tiny_spec())
    project, _ = init_training(spec, tmp_path / "c")
    first = _add_explore_jobs(project, spec, 0)
    first[0].doc["status"] = "failed"
    fixed = dataclasses.replace(spec, iterate=dataclasses.replace(spec.iterate, temperatures_K=(700.0,)))
    again = _add_explore_jobs(project, fixed, 0)
    assert [j.sp["temperature_K"] for j in again] == [700.0] and again[0].doc["status"] == "pending"
    assert _add_explore_jobs(project, spec, 0) == first and first[0].doc["status"] == "failed"


def test_a_launch_command_that_dies_is_an_error_naming_it(tiny_spec, tmp_path):
    """run_campaign(launch_command=...): status 0 or 1 (a task failed) lets the campaign go on;
    anything else stops it with one error naming the command and its status, nothing advanced."""
    from lpsens.errors import TrainingError

    project, _ = init_training(load_training_spec(tiny_spec()), tmp_path / "c")
    dies = [sys.executable, "-c", "import sys; sys.exit(3)", "launch"]
    with pytest.raises(TrainingError, match=r"ended with status 3; see its messages above"):
        run_campaign(project, launch_command=dies)
    assert advance(project)["state"] == "labelling"
    with pytest.raises(TrainingError, match=r"cannot run the launch command .*no-such-mpiexec"):
        run_campaign(project, launch_command=["/no-such-mpiexec", "lpsens", "launch"])


def test_refit_with_the_same_fit_reruns_the_explorations_exactly_and_a_change_is_applied(tiny_spec, tmp_path, capsys):
    """`lpsens train --refit G`: a refit with no change reproduces the campaign's explorations run
    for run (same labels, starts and seeds); a --set change reaches gap_fit; bad --set values and
    an output inside the campaign are one error line each, and the campaign is not changed."""
    from lpsens.train.refit import REFIT_FILE

    project, _ = init_training(load_training_spec(tiny_spec()), tmp_path / "c")
    _until_exploring(project)
    assert _launch(project).exit_code == 0
    (explore,) = _jobs(project, train_kind="explore", generation=0)
    before = json.dumps(dict(project.doc), sort_keys=True, default=str)

    from lpsens.cli import main

    def lpsens(*args):  # the CLI in this process (the subprocess path of `lpsens train` is tested elsewhere)
        capsys.readouterr()
        code = main(["train", "--root", str(tmp_path / "c"), *args])
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    same = lpsens("--refit", "0", "--out", str(tmp_path / "same"))
    assert same.returncode == 0, same.stderr
    (row,) = json.loads((tmp_path / "same" / REFIT_FILE).read_text())["runs"]
    assert row["run"] == "glass x=75 800 K" and row["refit"] == explore.doc["first_broken"]
    assert "| glass x=75 800 K |" in same.stdout
    changed = lpsens("--refit", "0", "--set", "fit.theta_3b_A=0.7", "--explore", "none", "--out", str(tmp_path / "th"))
    assert changed.returncode == 0, changed.stderr
    assert "theta_uniform=0.7" in (tmp_path / "th" / "gap_fit.log").read_text()
    assert json.loads((tmp_path / "th" / REFIT_FILE).read_text())["runs"] == []
    for args, says in ((["--set", "fit.theta_3b_A=0"], "fit.theta_3b_A"),
                       (["--set", "iterate.md_steps=10"], "changes [fit] only"),
                       (["--set", "fit.delta_3b=abc"], "not a TOML value"),
                       (["--explore", "glas"], "not among [iterate] materials"),
                       (["--set", "fit.delta_3b=-1"], "fit.delta_3b"),
                       (["--set", "fit.delta_3b=0.2", "--set", "fit.delta_3b=0.3"], "given more than once"),
                       (["--out", str(tmp_path / "c" / "inside")], "inside the campaign"),
                       (["--out", str(tmp_path / "same")], "holds files already"),
                       (["--out", str(tmp_path / "same" / "inner")], "is inside the refit"),
                       (["--run"], "--refit takes no --run")):
        out = lpsens("--refit", "0", *(args if "--out" in args else [*args, "--out", str(tmp_path / "x")]))
        lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
        assert out.returncode != 0 and len(lines) == 1 and lines[0].startswith("Error: ") and says in lines[0], out.stderr
        assert "--set" in lines[0] or "--set" not in args  # a bad --set value is blamed on --set, not the spec file
    assert not (tmp_path / "x").exists()
    # a fit too large for this machine's memory: refused before gap_fit, blamed on --set, and the
    # folder stays usable (nothing written into it)
    huge = lpsens("--refit", "0", "--set", "fit.n_sparse_3b=100000000", "--explore", "none", "--out", str(tmp_path / "m"))
    lines = [ln for ln in huge.stderr.splitlines() if ln.strip()]
    assert huge.returncode != 0 and len(lines) == 1 and "--set" in lines[0] and "fitted values x" in lines[0], huge.stderr
    assert not any((tmp_path / "m").iterdir())
    again = lpsens("--refit", "0", "--explore", "none", "--out", str(tmp_path / "m"))
    assert again.returncode == 0, again.stderr
    bad_g = lpsens("--refit", "3", "--out", str(tmp_path / "x"))
    assert bad_g.returncode == 2 and "no finished fit" in bad_g.stderr
    assert json.dumps(dict(project.doc), sort_keys=True, default=str) == before


def test_serial_campaign_stops_on_usr1_with_the_task_checkpointed(tiny_spec, tmp_path):
    """`lpsens train --run --in-process` (no --launch): USR1 during a reference MD label stops it at
    its next frame as timeout and ends the run as `stopped`, nothing advanced; the rerun finishes."""
    import threading

    spec_path = tiny_spec()
    text = spec_path.read_text().replace("md_steps = 20\nmd_every = 10", "md_steps = 400\nmd_every = 10")
    spec_path.write_text(text.replace("max_generations = 1", "max_generations = 0")
                         .replace('crystals = ["gamma_Li3PS4"]', "crystals = []"))
    project, _ = init_training(load_training_spec(spec_path), tmp_path / "c")
    md_job = next(j for j in project if j.doc["config_type"] == "md")
    partial = Path(md_job.path) / PARTIAL_FILE

    def signal_when_the_md_has_frames():
        t0 = time.time()
        while time.time() - t0 < 120:
            if partial.exists() and len(ase.io.read(partial, ":")) >= 2:
                os.kill(os.getpid(), signal.SIGUSR1)
                return
            time.sleep(0.1)

    before = signal.getsignal(signal.SIGUSR1)
    watcher = threading.Thread(target=signal_when_the_md_has_frames, daemon=True)
    watcher.start()
    state = run_campaign(project, isolate=False)
    watcher.join(timeout=5)
    assert state["state"] == "stopped" and "SIGUSR1 during 'labelling'" in state["message"]
    assert md_job.doc["status"] == "timeout" and not list(project.find_jobs({"train_kind": "fit"}))
    assert signal.getsignal(signal.SIGUSR1) == before  # the launch's handlers are gone again
    assert run_campaign(project, isolate=False)["state"] == "finished"
    assert md_job.doc["status"] == "done" and md_job.doc["n_labelled"] == 400 // 10


def test_replicas_are_independent_runs_and_replica_0_is_the_run_made_before(tiny_spec, tmp_path):
    """[iterate] replicas: each (material, x, T) runs this many times from another built structure
    and velocities; the first replica keeps the statepoint and seed of a campaign made with one."""
    from lpsens.train.generations import _add_explore_jobs, _run_name
    from lpsens.train.tasks import exploration_run

    spec = load_training_spec(tiny_spec())
    project, _ = init_training(spec, tmp_path / "c")
    one = _add_explore_jobs(project, spec, 0)
    two = _add_explore_jobs(project, dataclasses.replace(spec, iterate=dataclasses.replace(spec.iterate, replicas=2)), 0)
    assert len(two) == 2 * len(one) and set(one) < set(two)
    extra = [j for j in two if j not in one]
    assert all(j.sp["replica"] == 1 for j in extra)
    seeds = [j.doc["seed"] for j in two]
    assert len(set(seeds)) == len(seeds)
    names = [_run_name(j.sp) for j in two]
    assert len(set(names)) == len(names) and all(_run_name(j.sp).endswith(" r1") for j in extra)
    # the replica's structure is its own (another glass) and its frames carry its own run name
    twin = next(j for j in extra if j.sp["material"] == "glass")
    first = next(j for j in one if {k: v for k, v in j.sp.items()} == {k: v for k, v in twin.sp.items() if k != "replica"})
    from lpsens.structures import build_structure

    x = float(twin.sp["x_Li2S_mol_pct"])
    a = build_structure("glass", x, int(first.doc["seed"]), min_atoms=spec.iterate.min_atoms)
    b = build_structure("glass", x, int(twin.doc["seed"]), min_atoms=spec.iterate.min_atoms)
    assert len(a) == len(b) and not np.allclose(a.positions, b.positions)
    runs = {exploration_run(j.sp, 75.0) for j in two}
    assert len(runs) == len(two) and exploration_run(twin.sp, 75.0).endswith("K/r1")
    # replicas lowered before they ran: the never-started ones go (the launcher would run them),
    # one that has run stays on disk (its frames still join the generation's selection)
    ran = extra[0]
    ran.doc.update(status="done", attempts=1)
    assert _add_explore_jobs(project, spec, 0) == one
    left = {j.id for j in project.find_jobs({"train_kind": "explore", "generation": 0})}
    assert left == {j.id for j in one} | {ran.id}


def test_a_compile_that_misses_its_tolerance_names_the_spec_key(tiny_spec, tmp_path):
    """In a campaign the compile's tolerance is [fit] compile_tolerance_eV_A, not `lpsens potential
    compile --tolerance`; no gap.xml is left to look like a finished fit."""
    from lpsens.train.tasks import GAP_FILE, fit_generation

    path = tiny_spec(fit_extra="compile = true\ncompile_tolerance_eV_A = 1e-9")
    spec = load_training_spec(path)
    project, _ = init_training(spec, tmp_path / "c")
    assert _launch(project).exit_code == 0
    with pytest.raises(TrainingError) as err:
        fit_generation(project, 0, spec, tmp_path / "fit")
    assert err.value.key == "fit.compile_tolerance_eV_A" and "--tolerance" not in str(err.value)
    assert "backend = \"quippy\"" in str(err.value) and not (tmp_path / "fit" / GAP_FILE).exists()


def test_status_of_atoms_lost_right_after_the_start_is_not_blamed_on_the_start():
    """Lost atoms are recorded on the last frame before the loss (step 0 when within the first
    interval); the minimised start itself was intact."""
    from lpsens.train.generations import _format_explorations

    lost = {"md_step": 0, "time_ps": 0.0, "reason": "lost atoms within 50 steps after step 0 (LAMMPS: Lost atoms)"}
    broken_start = {"md_step": 0, "time_ps": 0.0, "reason": "P 3 has 5 S within 2.6 Å"}
    lines = _format_explorations([{"run": "glass x=75 800 K", "steps_requested": 100, "first_broken": lost},
                                  {"run": "glass x=67 800 K", "steps_requested": 100, "first_broken": broken_start}])
    assert "glass x=75 800 K at 0 ps (step 0): lost atoms" in lines[1]
    assert "glass x=67 800 K from the start (its minimised structure)" in lines[2]


def test_a_refit_stopped_by_a_signal_ends_its_gap_fit(tiny_spec, tmp_path):
    """`lpsens train --refit` under SIGTERM (scancel, the walltime): gap_fit ends with it instead of
    running on orphaned in its own session; the stop reaches gap_fit through should_stop."""
    from lpsens.errors import FitStopped
    from lpsens.train.refit import refit

    project, _ = init_training(load_training_spec(tiny_spec()), tmp_path / "c")
    _until_exploring(project)
    with pytest.raises(FitStopped):
        refit(project, 0, spec_of(project), tmp_path / "r", should_stop=lambda: True)
    assert not (tmp_path / "r" / "gap.xml").exists()
    out = subprocess.run(["pgrep", "-f", f"at_file={tmp_path / 'r'}"], capture_output=True, text=True)
    assert out.stdout.strip() == ""  # no gap_fit of this refit left running
