"""The contact wall and the two-stage reference minimisation (lpsens.train.wall)."""

import numpy as np
import pytest
from ase import Atoms
from pair_reference import DoubleWellSulfur, MorsePairs

from lpsens.chemistry import ChemistryLimits
from lpsens.train.wall import S_S_WALL_CUTOFF_A, ContactWall, minimise_behind_wall


def _pair(a: str, b: str, r: float) -> Atoms:
    return Atoms(f"{a}{b}", positions=[[1, 1, 1], [1 + r, 1, 1]], cell=[12, 12, 12], pbc=True)


def test_wall_costs_contact_eV_at_each_floor_and_nothing_beyond_its_reach():
    lim = ChemistryLimits()
    wall = ContactWall(contact_eV=1.0)
    for a, b, floor in (("S", "S", lim.S_S_min_A), ("P", "S", lim.P_S_min_A), ("P", "P", lim.P_P_min_A),
                        ("Li", "S", lim.Li_min_A), ("Li", "Li", lim.Li_min_A)):
        atoms = _pair(a, b, floor)
        atoms.calc = wall
        assert atoms.get_potential_energy() == pytest.approx(1.0, rel=1e-9), (a, b)
    far = _pair("S", "S", S_S_WALL_CUTOFF_A + 0.01)
    far.calc = wall
    assert far.get_potential_energy() == 0.0 and not far.get_forces().any()
    bond = _pair("P", "S", 2.05)  # the P-S bond is outside the P-S wall
    bond.calc = wall
    assert bond.get_potential_energy() == 0.0


def test_wall_forces_are_the_energy_gradient():
    rng = np.random.default_rng(0)
    atoms = Atoms("S4P2Li2", positions=rng.uniform(0, 3.0, (8, 3)), cell=[5.0, 5.5, 6.0], pbc=True)
    atoms.calc = ContactWall()
    f = atoms.get_forces()
    assert np.abs(f).max() > 0.1  # the random cluster has contacts inside the wall
    h = 1e-5
    for k in range(len(atoms)):
        for c in range(3):
            p = atoms.positions.copy()
            p[k, c] += h
            atoms.positions = p
            ep = atoms.get_potential_energy()
            p[k, c] -= 2 * h
            atoms.positions = p
            em = atoms.get_potential_energy()
            p[k, c] += h
            atoms.positions = p
            assert -(ep - em) / (2 * h) == pytest.approx(f[k, c], rel=1e-5, abs=1e-6)


def test_minimisation_behind_the_wall_ends_in_the_references_own_unbonded_minimum():
    """Two S started just inside the reference's barrier: FIRE alone bonds them (2.05 Å); behind
    the wall first they end apart, at the reference's non-bonded minimum with its forces ~0."""
    from lpsens.train.exploration import minimise

    start = _pair("S", "S", 2.55)
    plain, _ = minimise(start, DoubleWellSulfur(), 500)
    assert plain.get_distance(0, 1, mic=True) == pytest.approx(2.05, abs=0.05)
    walled, rec = minimise_behind_wall(start, DoubleWellSulfur(), 500, contact_eV=3.0)
    r = walled.get_distance(0, 1, mic=True)
    assert 3.0 < r < 3.6
    assert rec["max_force_eV_A"] < 0.05
    assert rec["energy_min_eV"] == pytest.approx(walled.get_potential_energy())
    assert rec["energy_min_eV"] > plain.get_potential_energy()  # not a lower minimum: a different basin


def test_minimisation_behind_the_wall_of_a_glass_keeps_the_reference_minimum():
    """A built glass under the Morse reference: the result is a minimum of the reference alone."""
    from lpsens.structures import build_structure

    glass = build_structure("glass", 75.0, 1, min_atoms=48)
    glass.info.clear()
    out, rec = minimise_behind_wall(glass, MorsePairs(), 100)
    assert rec["energy_min_eV"] < rec["energy_start_eV"]
    assert np.linalg.norm(out.get_forces(), axis=1).max() == pytest.approx(rec["max_force_eV_A"])
