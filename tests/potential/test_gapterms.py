"""lpsens.potential.gapterms: the numpy reading of a GAP's 2b/3b maths equals quippy's energies."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest

from lpsens.errors import PotentialError
from lpsens.potential import demo_potential_path, inspect_potential, load_calculator
from lpsens.potential.gapterms import cutoff_function, gap_energy_eV, read_gap_terms

FRAMES = "tests/data/dft_LiPS_heldout_frames.extxyz"


@pytest.fixture(scope="module")
def demo_terms():
    return read_gap_terms(demo_potential_path())


def test_demo_terms(demo_terms):
    assert len(demo_terms.pairs) == 6 and demo_terms.triplets
    assert demo_terms.core_init_args is None
    assert set(demo_terms.e0_eV) >= {"Li", "P", "S"}


def test_energies_equal_quippy(demo_terms, request):
    """Independent implementation vs QUIP on real structures: exact to rounding."""
    calc = load_calculator(inspect_potential(demo_potential_path()))
    frames = ase.io.read(request.config.rootpath / FRAMES, ":2")
    rattled = frames[0].copy()
    rattled.positions += np.random.default_rng(1).normal(scale=0.15, size=rattled.positions.shape)
    for atoms in [*frames, rattled]:
        atoms = atoms.copy()
        atoms.calc = calc
        assert gap_energy_eV(demo_terms, atoms) == pytest.approx(atoms.get_potential_energy(), abs=1e-8)


def test_cutoff_function_is_quips():
    r = np.array([0.0, 3.9, 4.0, 4.5, 5.0, 5.1])
    fc = cutoff_function(r, 5.0, 1.0)
    assert fc[:3].tolist() == [1.0, 1.0, 1.0] and fc[-1] == 0.0 and fc[-2] == pytest.approx(0.0, abs=1e-15)
    assert fc[3] == pytest.approx(0.5)


def test_soap_refused_naming_descriptor_and_backends(tmp_path):
    text = demo_potential_path().read_text().replace(
        "angle_3b cutoff=3.2", "soap cutoff=3.2 l_max=4 n_max=4 atom_sigma=0.5", 1)
    path = tmp_path / "soap.xml"
    path.write_text(text)
    with pytest.raises(PotentialError, match="descriptor 'soap'.*quippy backend or the native LAMMPS pair_style quip"):
        read_gap_terms(path)


def test_foreign_species_refused(tmp_path):
    # Turn the Li-Li pair term into a Na-Na one.
    text = demo_potential_path().read_text().replace("Z1=3 Z2=3</d", "Z1=11 Z2=11</d", 1)
    assert text != demo_potential_path().read_text()
    path = tmp_path / "na.xml"
    path.write_text(text)
    with pytest.raises(PotentialError, match="covers Na.*Li-P-S potentials only"):
        read_gap_terms(path)
