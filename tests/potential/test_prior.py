"""The tetrahedral prior: its QUIP SW_params against the closed form, and what it reads back."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from lpsens.errors import PotentialError
from lpsens.potential.prior import TetrahedralPrior, read_angle_terms
from lpsens.structures import build_glass


def _closed_form(prior, atoms):
    term = prior.term()
    i, j, D = neighbor_list("ijD", atoms, prior.cutoff_A)
    total = 0.0
    for c in np.flatnonzero(atoms.numbers == 15):
        vec = [d for ii, jj, d in zip(i, j, D, strict=True) if ii == c and atoms.numbers[jj] == 16]
        for a in range(len(vec)):
            for b in range(a + 1, len(vec)):
                total += float(term.energy_eV(np.linalg.norm(vec[a]), np.linalg.norm(vec[b]),
                                              np.linalg.norm(vec[a] - vec[b])))
    return total


def test_quip_sw_is_the_closed_form_on_a_rattled_glass():
    prior = TetrahedralPrior(3.0, 1.0, 3.1)
    atoms = build_glass(67, 1, min_atoms=60)
    atoms.positions += np.random.default_rng(0).normal(scale=0.15, size=atoms.positions.shape)
    atoms.calc = prior.calculator()
    energy = atoms.get_potential_energy()
    assert energy > 0.05
    assert energy == pytest.approx(_closed_form(prior, atoms), rel=1e-10)
    # forces: minus the gradient (central differences on one P and one S)
    forces = atoms.get_forces()
    for k in (int(np.flatnonzero(atoms.numbers == 15)[0]), int(np.flatnonzero(atoms.numbers == 16)[0])):
        for axis in range(3):
            shifted = []
            for h in (1e-5, -1e-5):
                a = atoms.copy()
                a.positions[k, axis] += h
                shifted.append(_closed_form(prior, a))
            assert forces[k, axis] == pytest.approx(-(shifted[0] - shifted[1]) / 2e-5, abs=1e-5)


def test_ideal_tetrahedron_costs_nothing_and_a_fifth_s_does():
    term = TetrahedralPrior(3.0).term()
    r = 2.05
    tetrahedral = r * np.sqrt(8 / 3)  # edge of a regular tetrahedron
    assert float(term.energy_eV(r, r, tetrahedral)) == pytest.approx(0.0, abs=1e-12)
    assert float(term.energy_eV(r, 2.5, 2.6)) > 0.1  # a fifth S opposite a face: ~70 degrees
    assert float(term.energy_eV(r, 3.1, 2.6)) == 0.0  # beyond the cutoff


def test_read_back_and_refuse_a_two_body_sw():
    prior = TetrahedralPrior(2.5, 0.8, 3.0)
    (term,) = read_angle_terms(ET.fromstring(prior.xml()), "prior.xml")
    assert term == prior.term()
    text = prior.xml().replace('atnum_i="15" atnum_j="16" AA="0.0"', 'atnum_i="15" atnum_j="16" AA="7.0"')
    with pytest.raises(PotentialError, match="two-body part"):
        read_angle_terms(ET.fromstring(text), "prior.xml")
