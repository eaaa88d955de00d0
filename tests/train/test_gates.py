"""Gates of a candidate GAP (the bundled demo GAP stands in for a fit)."""

import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
from conftest import DFT, subprocess_env

from lpsens.potential import demo_potential_path
from lpsens.train.exploration import gap_calculator
from lpsens.train.gates import errors_on, format_gates, validate
from lpsens.train.spec import load_training_spec


def test_errors_are_zero_against_itself_and_match_a_direct_computation():
    calc = gap_calculator(demo_potential_path())
    frames = ase.io.read(DFT, "0:3")
    err = errors_on(frames, calc)
    df = []
    for a in frames:
        b = a.copy()
        b.calc = calc
        df.append(b.get_forces() - a.get_forces())
    assert err["force_rmse_eV_A"] == pytest.approx(np.sqrt(np.mean(np.concatenate(df) ** 2)), rel=1e-12)
    own = []
    for a in frames:
        b = a.copy()
        b.calc = calc
        b.get_forces()
        from ase.calculators.singlepoint import SinglePointCalculator

        b.calc = SinglePointCalculator(b, energy=b.get_potential_energy(), forces=b.get_forces())
        own.append(b)
    zero = errors_on(own, calc)
    assert zero["force_rmse_eV_A"] < 1e-10 and zero["energy_rmse_meV_atom"] < 1e-7


def test_validate_table_and_verdicts(tiny_spec):
    spec = load_training_spec(tiny_spec())
    result = validate(spec, demo_potential_path(), seed=1)
    rows = {r["gate"]: r for r in result["rows"]}
    assert set(rows) == {"dft_force_rmse", "dft_energy_rmse", "never_catastrophic", "crystal_units", "census_vs_reference"}
    for r in rows.values():
        if r["passed"] is not None:
            assert r["passed"] == (r["value"] <= r["threshold"] if r["gate"] != "crystal_units" else r["value"] >= r["threshold"])
    assert rows["census_vs_reference"]["passed"] is None
    assert [run["run"] for run in result["runs"]] == ["glass x=75 600 K", "gamma_Li3PS4 800 K"]
    assert all(run["minimised"]["energy_min_eV"] <= run["minimised"]["energy_start_eV"] for run in result["runs"])
    table = format_gates(result)
    assert "dft_force_rmse" in table and "(1 not run)" in table


def test_a_held_out_range_past_the_file_is_an_error_before_any_run(tiny_spec):
    import dataclasses

    from lpsens.errors import TrainingError

    spec = load_training_spec(tiny_spec())
    n = len(ase.io.read(DFT, ":"))
    past = dataclasses.replace(spec, gates=dataclasses.replace(spec.gates, heldout_dft_frames=(0, n + 5)))
    with pytest.raises(TrainingError, match=f"names {n + 5} frames, the file has {n}") as err:
        validate(past, demo_potential_path(), seed=1)
    assert err.value.key == "gates.heldout_dft_frames"


def test_validate_cli_needs_a_finished_fit(tiny_spec, tmp_path):
    from lpsens.train.generations import init_training

    init_training(load_training_spec(tiny_spec()), tmp_path / "c")
    out = subprocess.run([sys.executable, "-W", "ignore", "-m", "lpsens", "train", "--validate", "--root", str(tmp_path / "c")],
                         env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert out.stderr.strip().startswith("Error: ") and "no finished fit" in out.stderr
    assert not list((tmp_path / "c").glob("gates_*.json"))


def test_census_gate_of_a_candidate_against_itself_as_reference(tiny_spec):
    from lpsens.train.gates import _census_fractions, census_vs_reference
    from lpsens.train.spec import parse_training_spec

    data = load_training_spec(tiny_spec()).to_dict()
    # the reference is the demo GAP itself (quippy), the candidate too: same start, same Langevin seed
    data["reference"] = {"calculator": "quippy.potential:Potential", "kwargs": {"param_filename": str(demo_potential_path())},
                         "name": "demo GAP"}
    data["gates"].update(census_steps=20, census_glass_x_mol_pct=[75.0], census_min_atoms=48, stability_every=10)
    spec = parse_training_spec(data)
    row = census_vs_reference(spec, gap_calculator(demo_potential_path()), seed=2)
    assert row["gate"] == "census_vs_reference" and row["passed"] is True
    assert row["value"] == 0.0 and "2/2 reference frames intact" in row["detail"]
    data["gates"]["census_steps"] = 0
    assert census_vs_reference(parse_training_spec(data), None)["passed"] is None
    from lpsens.structures import build_structure

    gamma = build_structure("gamma_Li3PS4", 75.0, 0, min_atoms=48)
    assert _census_fractions([gamma]) == {"PS4": 1.0, "P2S7": 0.0, "P2S6": 0.0, "other": 0.0, "free_S_per_P": 0.0}


def test_reference_starts_replace_a_glass_the_reference_breaks(tiny_spec, tmp_path):
    """With [gates] reference_starts a glass start is minimised with the reference first; the
    demo GAP as reference keeps it (seed used, nothing rejected), pair potentials break it
    (the Morse reference gives P five and six S; one that bonds S to S, S-S bonds) and a run
    whose every attempt is broken counts as broken (never passed by skipping)."""
    from lpsens.chemistry import check_frame, unit_census
    from lpsens.train.gates import reference_start
    from lpsens.train.spec import parse_training_spec

    data = load_training_spec(tiny_spec()).to_dict()
    data["gates"].update(reference_starts=True, reference_start_attempts=2, stability_materials=["glass"],
                         stability_steps=10)
    data["reference"] = {"calculator": "quippy.potential:Potential", "kwargs": {"param_filename": str(demo_potential_path())},
                         "name": "demo GAP"}
    data["iterate"]["minimise_steps"] = 50
    spec = parse_training_spec(data)
    start, rec = reference_start(spec, 75.0, 4, min_atoms=48, cache_dir=tmp_path / "starts")
    assert rec == {"seed": 4, "rejected": []}  # no "units_changed": the demo GAP keeps the built units
    assert not check_frame(start.numbers, start.positions, start.cell.array)
    assert unit_census(start.numbers, start.positions, start.cell.array).counts["PS4"] > 0
    assert len(list((tmp_path / "starts").glob("*.extxyz"))) == 1
    again, _ = reference_start(spec, 75.0, 4, min_atoms=48, cache_dir=tmp_path / "starts")  # from the cache
    np.testing.assert_allclose(again.positions, start.positions, atol=1e-6)

    data["reference"] = {"calculator": "pair_reference:BondingSulfur", "name": "S-S binder"}
    bad = parse_training_spec(data)
    none, rec = reference_start(bad, 75.0, 4, min_atoms=48, cache_dir=tmp_path / "bad")
    assert none is None and [r["seed"] for r in rec["rejected"]] == [4, 1004]
    assert "S-S limit" in rec["rejected"][0]["reason"]
    assert reference_start(bad, 75.0, 4, min_atoms=48, cache_dir=tmp_path / "bad") == (None, rec)  # recomputed from the cached minima
    data["reference"] = {"calculator": "pair_reference:MorsePairs"}
    _, rec = reference_start(parse_training_spec(data), 75.0, 4, min_atoms=48)
    assert "has 6 S within 2.6 A" in rec["rejected"][0]["reason"]
    result = validate(bad, demo_potential_path(), seed=4)
    row = {r["gate"]: r for r in result["rows"]}["never_catastrophic"]
    assert row["passed"] is False and "the reference broke all 2 starts" in row["detail"]


def test_a_shipped_start_of_the_same_provenance_replaces_the_minimisation(tiny_spec, tmp_path, monkeypatch):
    """A shipped start made with the spec's reference and minimise_steps is used (and copied to
    the cache) without calling the reference; one of another provenance, or of none, is not."""
    import lpsens.train.gates as gates
    from lpsens.chemistry import check_frame
    from lpsens.train.gates import _write_start, reference_start, start_file_name, start_provenance
    from lpsens.train.spec import parse_training_spec

    data = load_training_spec(tiny_spec()).to_dict()
    data["gates"].update(reference_starts=True, reference_start_attempts=2)
    data["reference"] = {"calculator": "quippy.potential:Potential", "kwargs": {"param_filename": str(demo_potential_path())},
                         "name": "demo GAP"}
    data["iterate"]["minimise_steps"] = 30
    intact, _ = reference_start(parse_training_spec(data), 75.0, 4, min_atoms=48)
    # shipped as if made by a reference that breaks every glass: used, it passes; recomputed, it would not
    data["reference"] = {"calculator": "pair_reference:BondingSulfur", "name": "S-S binder"}
    binder = parse_training_spec(data)
    shipped = tmp_path / "shipped"
    monkeypatch.setattr(gates, "_PACKAGED_STARTS", shipped)
    _write_start(shipped / start_file_name(75.0, 48, 4), intact, start_provenance(binder))
    start, rec = reference_start(binder, 75.0, 4, min_atoms=48, cache_dir=tmp_path / "cache")
    assert rec == {"seed": 4, "rejected": [], "shipped": [4]}
    np.testing.assert_allclose(start.positions, intact.positions, atol=1e-6)
    assert not check_frame(start.numbers, start.positions, start.cell.array)
    cached = ase.io.read(tmp_path / "cache" / start_file_name(75.0, 48, 4))
    assert cached.info["minimise_steps"] == 30 and cached.info["reference_calculator"] == "pair_reference:BondingSulfur"

    data["iterate"]["minimise_steps"] = 31  # another provenance: minimised anew, and the binder breaks it
    _, rec = reference_start(parse_training_spec(data), 75.0, 4, min_atoms=48, cache_dir=tmp_path / "cache")
    assert rec["seed"] is None and "shipped" not in rec and "S-S limit" in rec["rejected"][0]["reason"]
    ase.io.write(shipped / start_file_name(75.0, 48, 4), intact, format="extxyz")  # no provenance
    assert reference_start(binder, 75.0, 4, min_atoms=48)[1]["seed"] is None


def test_the_shipped_gate_starts_are_train_demos_and_intact():
    """Every glass of train_demo.toml's gates has a shipped start of its provenance (else
    potentials/make_gate_starts.py must be rerun), one of them intact (the accepted one)."""
    from lpsens.chemistry import check_frame
    from lpsens.train.gates import (
        _PACKAGED_STARTS,
        _stored_start,
        start_file_name,
        start_provenance,
    )

    spec = load_training_spec(Path(__file__).resolve().parents[2] / "signac_project" / "train_demo.toml")
    g = spec.gates
    for j, x in enumerate(g.stability_glass_x_mol_pct):
        starts = [_stored_start(_PACKAGED_STARTS / start_file_name(float(x), g.stability_min_atoms, spec.run.seed + j + 1000 * k),
                                start_provenance(spec)) for k in range(g.reference_start_attempts)]
        found = [s for s in starts if s is not None]
        assert found, f"no shipped start for x = {x}: run potentials/make_gate_starts.py"
        assert all(len(s) >= g.stability_min_atoms for s in found)
        assert any(not check_frame(s.numbers, s.positions, s.cell.array) for s in found), f"x = {x}: every shipped start is broken"


def test_temperatures_of_a_glass_share_its_reference_start(tiny_spec, tmp_path):
    """The reference minimises one start per glass composition (the costly step); its
    temperatures run from that start, and a second composition gets its own seed."""
    from lpsens.train.spec import parse_training_spec

    data = load_training_spec(tiny_spec()).to_dict()
    data["gates"].update(reference_starts=True, reference_start_attempts=1, stability_materials=["glass"],
                         stability_glass_x_mol_pct=[75, 70], stability_temperatures_K=[400, 600], stability_steps=10,
                         census_steps=0, stability_min_atoms=48)
    data["reference"] = {"calculator": "quippy.potential:Potential", "kwargs": {"param_filename": str(demo_potential_path())},
                         "name": "demo GAP"}
    data["iterate"]["minimise_steps"] = 20
    result = validate(parse_training_spec(data), demo_potential_path(), seed=4, starts_dir=tmp_path)
    seeds = {r["run"]: r["reference_start"]["seed"] for r in result["runs"]}
    assert seeds == {"glass x=75 400 K": 4, "glass x=75 600 K": 4, "glass x=70 400 K": 5, "glass x=70 600 K": 5}
    assert sorted(p.name for p in tmp_path.glob("*.extxyz")) == ["glass_x70_n48_seed5_wall.extxyz", "glass_x75_n48_seed4_wall.extxyz"]


def test_reference_gate_leaves_out_the_screened_frames_as_the_fit_does(tiny_spec, tmp_path):
    """Held-out frames marked ``screen`` are out of the reference gates when the fit drops them
    (their error is still reported), and in when it trains on them."""
    import dataclasses

    from ase.calculators.singlepoint import SinglePointCalculator

    calc = gap_calculator(demo_potential_path())
    frames = []
    for k, a in enumerate(ase.io.read(DFT, "0:4")):
        b = a.copy()
        b.calc = calc
        forces = b.get_forces() + (1.0 if k == 3 else 0.0)  # the screened frame: labels 1 eV/Å off
        b.calc = SinglePointCalculator(b, energy=b.get_potential_energy(), forces=forces)
        b.info.update(config_type="md", **({"screen": "P 3 has 5 S within 2.6 A"} if k == 3 else {}))
        frames.append(b)
    ase.io.write(tmp_path / "heldout.extxyz", frames)
    spec = load_training_spec(tiny_spec())
    spec = dataclasses.replace(spec, gates=dataclasses.replace(spec.gates, stability_materials=[], heldout_dft=""))
    rows = {}
    for drop in (True, False):
        s = dataclasses.replace(spec, fit=dataclasses.replace(spec.fit, drop_screened=drop))
        result = validate(s, demo_potential_path(), heldout_reference=tmp_path / "heldout.extxyz")
        rows[drop] = {r["gate"]: r for r in result["rows"]}
    kept = rows[True]["reference_force_rmse"]
    assert kept["value"] < 1e-8 and kept["passed"]
    assert "3 held-out" in kept["detail"] and "1 screened frames left out" in kept["detail"]
    assert rows[False]["reference_force_rmse"]["value"] == pytest.approx(0.5, rel=1e-6)  # 1 eV/Å on 1 of 4 frames


def test_reference_gate_counts_the_config_types_it_is_given_and_reports_all(tiny_spec, tmp_path):
    """[gates] reference_config_types: the gate's RMSE is over those kinds; the others' errors
    stay in the detail; no frame of those kinds: the gate is not run (None), not passed."""
    import dataclasses

    from ase.calculators.singlepoint import SinglePointCalculator

    calc = gap_calculator(demo_potential_path())
    frames = []
    for k, a in enumerate(ase.io.read(DFT, "0:4")):
        b = a.copy()
        b.calc = calc
        off = 2.0 if k >= 2 else 0.0  # the compressed copies: labels 2 eV/Å off the GAP
        b.calc = SinglePointCalculator(b, energy=b.get_potential_energy(), forces=b.get_forces() + off)
        b.info.update(config_type="compressed" if k >= 2 else "md")
        frames.append(b)
    ase.io.write(tmp_path / "heldout.extxyz", frames)
    spec = load_training_spec(tiny_spec())
    gates = dataclasses.replace(spec.gates, stability_materials=[], heldout_dft="")
    rows = {}
    for types in ((), ("md",), ("bulk",)):
        s = dataclasses.replace(spec, gates=dataclasses.replace(gates, reference_config_types=types))
        result = validate(s, demo_potential_path(), heldout_reference=tmp_path / "heldout.extxyz")
        rows[types] = {r["gate"]: r for r in result["rows"]}
    assert rows[()]["reference_force_rmse"]["value"] == pytest.approx(np.sqrt(2.0), rel=1e-6)  # 2 eV/Å on half the frames
    only_md = rows[("md",)]["reference_force_rmse"]
    assert only_md["value"] < 1e-8 and only_md["passed"]
    assert "of config_type md" in only_md["detail"] and "compressed 2: 2.000 eV/Å" in only_md["detail"]
    none = rows[("bulk",)]["reference_force_rmse"]
    assert none["passed"] is None and none["value"] is None and "not run" in none["detail"]
