"""Reference labelling with a calculator named by import path."""

import ase.io
import numpy as np
import pytest
from ase import Atoms
from pair_reference import MorsePairs

from lpsens.errors import TrainingError
from lpsens.train.labelling import PARTIAL_FILE, label, label_md, make_calculator
from lpsens.train.spec import ReferenceSpec


def _atoms():
    from lpsens.structures import build_structure

    a = build_structure("gamma_Li3PS4", 75.0, 0)
    return Atoms(a.numbers, positions=a.positions, cell=a.cell, pbc=True)


def test_label_stores_the_calculators_energy_forces_and_stress():
    atoms = _atoms()
    calc = make_calculator(ReferenceSpec(calculator="pair_reference:MorsePairs"))
    out = label(atoms, calc)
    direct = atoms.copy()
    direct.calc = MorsePairs()
    assert out.get_potential_energy() == pytest.approx(direct.get_potential_energy(), abs=1e-12)
    np.testing.assert_allclose(out.get_forces(), direct.get_forces(), atol=1e-12)
    np.testing.assert_allclose(out.get_stress(), direct.get_stress(), atol=1e-12)


@pytest.mark.parametrize("path, match", [
    ("no_such_module_xyz:Calc", "cannot import module 'no_such_module_xyz'"),
    ("pair_reference:NoSuchCalc", "has no 'NoSuchCalc'"),
    ("pair_reference:EnergyOnly", "no forces"),
])
def test_bad_calculator_is_one_clear_error(path, match):
    with pytest.raises(TrainingError, match=match) as err:
        make_calculator(ReferenceSpec(calculator=path))
    assert err.value.key == "reference.calculator"


def test_calculator_that_returns_no_forces_at_run_time():
    calc = MorsePairs()
    calc.implemented_properties = ["energy"]  # a calculator whose class does not say so up front
    with pytest.raises(TrainingError, match="returns no forces"):
        label(_atoms(), calc, name="EnergyOnly")


def test_md_labels_resume_to_the_same_frames(tmp_path):
    """Stopped after 2 of 4 snapshots and resumed == one uninterrupted run (positions to 1e-6 Å)."""
    md = {"temperature_K": 600.0, "steps": 40, "every": 10, "timestep_fs": 2.0}
    atoms = _atoms()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ref, done = label_md(atoms, MorsePairs(), md, seed=5, job_dir=tmp_path / "a", name="m")
    assert done and len(ref) == 4
    calls = iter([False, False, True])
    part, done = label_md(atoms, MorsePairs(), md, seed=5, job_dir=tmp_path / "b", name="m",
                          should_stop=lambda: next(calls))
    assert not done and len(part) == 2
    assert len(ase.io.read(tmp_path / "b" / PARTIAL_FILE, ":")) == 2
    resumed, done = label_md(atoms, MorsePairs(), md, seed=5, job_dir=tmp_path / "b", name="m")
    assert done and len(resumed) == 4
    for x, y in zip(ref, resumed, strict=True):
        np.testing.assert_allclose(x.positions, y.positions, atol=1e-6)
        assert x.get_potential_energy() == pytest.approx(y.get_potential_energy(), abs=1e-5)


def test_md_from_a_start_minimised_with_the_reference(tmp_path):
    """minimise_steps relaxes the start with the reference first: the first snapshot of a cold run
    then sits near the minimum (small forces); without it, near the rattled start (large forces)."""
    atoms = _atoms()
    atoms.positions += np.random.default_rng(0).normal(0.0, 0.1, atoms.positions.shape)
    fmax = {}
    for steps in (0, 300):
        md = {"temperature_K": 1.0, "steps": 5, "every": 5, "timestep_fs": 1.0, "minimise_steps": steps}
        (tmp_path / str(steps)).mkdir()
        frames, done = label_md(atoms, MorsePairs(), md, seed=5, job_dir=tmp_path / str(steps), name="m")
        assert done and len(frames) == 1
        fmax[steps] = np.linalg.norm(frames[0].get_forces(), axis=1).max()
    assert fmax[300] < 0.1 < fmax[0]


def test_crosscheck_recomputes_only_p2s7_rich_frames():
    """A P2S7 glass is checked (RMS difference = |scale - 1| * RMS force), an all-PS4 crystal and
    config types outside the list are not; the labels stay the primary reference's."""
    from pair_reference import ScaledMorse

    from lpsens.structures import build_structure
    from lpsens.train.labelling import bridged_P_fraction, crosscheck
    from lpsens.train.spec import CrosscheckSpec

    glass = build_structure("glass", 67, 0, min_atoms=60)
    glass = Atoms(glass.numbers, positions=glass.positions, cell=glass.cell, pbc=True)
    frames = [label(glass, MorsePairs()), label(_atoms(), MorsePairs())]
    assert bridged_P_fraction(frames[0]) == 1.0 and bridged_P_fraction(frames[1]) == 0.0
    cc = CrosscheckSpec(calculator="pair_reference:ScaledMorse", name="scaled", min_bridged_P_fraction=0.5)
    f0 = frames[0].get_forces().copy()
    assert crosscheck(frames, ScaledMorse(scale=1.5), cc, "dimer") == []
    rms = crosscheck(frames, ScaledMorse(scale=1.5), cc, "md")
    assert rms == [pytest.approx(0.5 * np.sqrt(np.mean(f0**2)), rel=1e-9)]
    assert frames[0].info["crosscheck"] == "scaled" and "crosscheck" not in frames[1].info
    np.testing.assert_array_equal(frames[0].get_forces(), f0)
