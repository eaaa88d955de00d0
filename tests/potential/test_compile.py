"""lpsens.potential.compile: the demo GAP tabulated to UF3 reproduces quippy through real LAMMPS;
LAMMPS forces are -grad E; bad input is one Error line through the CLI with nothing written."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest

from lpsens.cli import main
from lpsens.potential import demo_potential_path, inspect_potential, load_calculator, write_uf3
from lpsens.potential.compile import SPECIES, tabulate, uf3_energy_forces
from lpsens.potential.gapterms import read_gap_terms

FRAMES = "tests/data/dft_LiPS_heldout_frames.extxyz"


@pytest.fixture(scope="module")
def demo_uf3(tmp_path_factory):
    terms = read_gap_terms(demo_potential_path())
    pairs, triplets, _ = tabulate(terms)
    path = tmp_path_factory.mktemp("uf3") / "demo.uf3"
    write_uf3(path, pairs, triplets, {"gap_sha256": inspect_potential(demo_potential_path()).sha256,
                                      "gap_label": terms.label, "species": list(SPECIES),
                                      "e0_eV": {s: terms.e0_eV[s] for s in SPECIES}})
    return path, terms


def test_tabulated_demo_gap_matches_quippy(demo_uf3, request):
    path, terms = demo_uf3
    frames = ase.io.read(request.config.rootpath / FRAMES, ":2")
    calc = load_calculator(inspect_potential(demo_potential_path()))
    got = uf3_energy_forces(path, frames)
    df = []
    for atoms, (e_uf3, f_uf3) in zip(frames, got, strict=True):
        a = atoms.copy()
        a.calc = calc
        e0 = sum(terms.e0_eV[s] for s in a.get_chemical_symbols())
        assert abs(e_uf3 + e0 - a.get_potential_energy()) / len(a) < 1e-3  # eV/atom
        df.append(f_uf3 - a.get_forces())
    df = np.concatenate(df)
    assert np.sqrt(np.mean(df**2)) < 0.01 and np.abs(df).max() < 0.05


def test_lammps_forces_are_minus_gradient(demo_uf3, request):
    path, _ = demo_uf3
    atoms = ase.io.read(request.config.rootpath / FRAMES, "0")
    (_, forces), = uf3_energy_forces(path, [atoms])
    h = 1e-4
    for i, k in [(0, 0), (5, 1), (40, 2), (70, 0)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, k] += h
        minus.positions[i, k] -= h
        (ep, _), (em, _) = uf3_energy_forces(path, [plus, minus])
        assert forces[i, k] == pytest.approx(-(ep - em) / (2 * h), abs=2e-5)


def _cli(capsys, *argv):
    code = main(list(map(str, argv)))
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def test_cli_refuses_soap_gap(tmp_path, capsys):
    text = demo_potential_path().read_text().replace(
        "angle_3b cutoff=3.2", "soap cutoff=3.2 l_max=4 n_max=4 atom_sigma=0.5", 1)
    gap = tmp_path / "soap.xml"
    gap.write_text(text)
    code, err = _cli(capsys, "potential", "compile", gap, "-o", tmp_path / "out.uf3")
    assert code != 0 and len(err) == 1 and err[0].startswith("Error: ") and "'soap'" in err[0]
    assert "pair_style quip" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["soap.xml"]


def test_cli_refuses_foreign_species(tmp_path, capsys):
    gap = tmp_path / "na.xml"
    gap.write_text(demo_potential_path().read_text().replace("Z1=3 Z2=3</d", "Z1=11 Z2=11</d", 1))
    code, err = _cli(capsys, "potential", "compile", gap, "-o", tmp_path / "out.uf3")
    assert code != 0 and len(err) == 1 and "Na" in err[0] and "Li-P-S" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["na.xml"]


def test_cli_missing_gap(tmp_path, capsys):
    code, err = _cli(capsys, "potential", "compile", tmp_path / "none.xml", "-o", tmp_path / "out.uf3")
    assert code != 0 and len(err) == 1 and "not found" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_bundled_demo_uf3_is_the_demo_gap():
    from lpsens.potential import check_uf3_matches_gap, demo_uf3_path, inspect_uf3

    info = inspect_uf3(demo_uf3_path())
    check_uf3_matches_gap(info, inspect_potential(demo_potential_path()).sha256)
    fid = info.sidecar["fidelity"]
    assert fid["force_rms_eV_A"] <= 0.01 and fid["force_max_eV_A"] <= 0.05 and fid["energy_max_eV_atom"] <= 1e-3
    assert info.body_order == 3 and set(info.e0_eV) == {"Li", "P", "S"}


def test_cli_check_bad_uf3_files(tmp_path, capsys):
    import shutil

    from lpsens.potential import demo_uf3_path

    uf3 = tmp_path / "demo.uf3"
    shutil.copy(demo_uf3_path(), uf3)
    shutil.copy(str(demo_uf3_path()) + ".json", str(uf3) + ".json")
    assert main(["potential", "check", str(uf3), "--gap", str(demo_potential_path())]) == 0
    capsys.readouterr()
    # Hash mismatch: a different GAP.
    other = tmp_path / "other.xml"
    other.write_text(demo_potential_path().read_text() + "\n")
    code, err = _cli(capsys, "potential", "check", uf3, "--gap", other)
    assert code != 0 and len(err) == 1 and "gap_sha256" in err[0] and "lpsens potential compile" in err[0]
    # Missing file.
    code, err = _cli(capsys, "potential", "check", tmp_path / "none.uf3")
    assert code != 0 and len(err) == 1 and "not found" in err[0]
    # Lacking an element pair: drop the 2B P-S block (7 lines).
    lines = uf3.read_text().splitlines()
    start = lines.index("2B P S 0 3 nk") - 1
    uf3.write_text("\n".join(lines[:start] + lines[start + 7:]) + "\n")
    code, err = _cli(capsys, "potential", "check", uf3)
    assert code != 0 and len(err) == 1 and "P-S" in err[0]
    # Truncated.
    text = "\n".join(lines) + "\n"
    uf3.write_text(text[: len(text) // 2])
    code, err = _cli(capsys, "potential", "check", uf3)
    assert code != 0 and len(err) == 1 and err[0].startswith("Error: ") and "recompile" in err[0]


def test_gap_fitted_in_test_compiles(tmp_path, request):
    """A 2-body GAP fitted here with gap_fit (sparse points in separate files) compiles and the
    UF3 reproduces it through LAMMPS; the numpy reading equals quippy for it too."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from quippy.potential import Potential

    from lpsens.potential.compile import compile_gap
    from lpsens.potential.gapterms import gap_energy_eV

    gap_fit = shutil.which("gap_fit") or str(Path(sys.executable).parent / "gap_fit")
    shutil.copy(request.config.rootpath / FRAMES, tmp_path / "train.xyz")
    subprocess.run([gap_fit, "at_file=train.xyz", "energy_parameter_name=energy", "force_parameter_name=forces",
                    "e0_method=average", "default_sigma={0.005 0.1 0 0}",
                    "gap={distance_2b cutoff=4.0 cutoff_transition_width=1.0 covariance_type=ard_se delta=1.0 "
                    "theta_uniform=1.0 n_sparse=12 sparse_method=uniform add_species=T}", "gp_file=g2.xml"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=120)
    gap = tmp_path / "g2.xml"
    frames = ase.io.read(tmp_path / "train.xyz", ":2")
    terms = read_gap_terms(gap)
    assert len(terms.pairs) == 6 and not terms.triplets
    calc = Potential(param_filename=str(gap))
    a = frames[0].copy()
    a.calc = calc
    assert gap_energy_eV(terms, a) == pytest.approx(a.get_potential_energy(), abs=1e-8)
    result = compile_gap(gap, tmp_path / "g2.uf3", structures=[(f"f{i}", f) for i, f in enumerate(frames)])
    assert result.info.body_order == 2
    assert result.fidelity["force_rms_eV_A"] <= 0.01 and result.fidelity["energy_max_eV_atom"] <= 1e-3
