"""Gates of a candidate GAP (the bundled demo GAP stands in for a fit)."""

import subprocess
import sys

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


def test_validate_cli_needs_a_finished_fit(tiny_spec, tmp_path):
    from lpsens.train.generations import init_training

    init_training(load_training_spec(tiny_spec()), tmp_path / "c")
    out = subprocess.run([sys.executable, "-W", "ignore", "-m", "lpsens", "train", "--validate", "--root", str(tmp_path / "c")],
                         env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert out.stderr.strip().startswith("Error: ") and "no finished fit" in out.stderr
    assert not list((tmp_path / "c").glob("gates_*.json"))
