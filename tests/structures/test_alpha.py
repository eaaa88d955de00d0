"""The alpha-Li3PS4 model: composition, density of the published cell, flips, bonds, seeds."""

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from lpsens.errors import StructureError
from lpsens.structures import build_structure, density_g_cm3, formal_charge_e
from lpsens.structures.alpha import ALPHA_CELL_A, _beta_framework
from lpsens.structures.anions import anion_template
from lpsens.structures.checks import cell_widths_A, units_from_bonds


@pytest.fixture(scope="module")
def alpha():
    return build_structure("alpha_Li3PS4", 75.0, seed=7, min_atoms=250)  # 2x2x2 published cells


def test_composition_charge_units(alpha):
    sym = np.array(alpha.get_chemical_symbols())
    n_p = (sym == "P").sum()
    assert (sym == "Li").sum() == 3 * n_p and (sym == "S").sum() == 4 * n_p
    assert formal_charge_e(alpha) == 0
    assert units_from_bonds(alpha) == {"PS4": n_p}


def test_cell_and_density_are_the_published_ones(alpha):
    m = np.array(alpha.info["supercell_matrix"]).diagonal()
    np.testing.assert_allclose(alpha.cell.lengths(), np.array(ALPHA_CELL_A) * m)
    np.testing.assert_allclose(alpha.cell.angles(), 90.0)
    # Z = 4 Li3PS4 (M = 180.0 g/mol) in the 906 K cell of Homma et al. (2010)
    expected = 4 * 180.0 / (np.prod(ALPHA_CELL_A) * 0.602214)
    assert density_g_cm3(alpha) == pytest.approx(expected, rel=2e-3)


def test_bonds_and_min_distances(alpha):
    sym = np.array(alpha.get_chemical_symbols())
    i, j, d = neighbor_list("ijd", alpha, 2.4)
    ps = (sym[i] == "P") & (sym[j] == "S")
    assert (np.bincount(i[ps], minlength=len(alpha))[sym == "P"] == 4).all()
    assert d[ps].min() >= 1.95 and d[ps].max() <= 2.15
    i, j, d = neighbor_list("ijd", alpha, 3.6)
    assert d[(sym[i] == "Li") & (sym[j] == "Li")].min() >= 2.0
    assert d[(sym[i] == "Li") & (sym[j] == "S")].min() >= 2.1
    assert d[(sym[i] == "S") & (sym[j] == "S")].min() >= 2.8


def test_a_quarter_of_the_tetrahedra_are_flipped(alpha):
    n_p = alpha.get_chemical_symbols().count("P")
    flipped = set(alpha.info["alpha_flipped_units"])
    assert len(flipped) == round(0.25 * n_p)
    # geometry: the apex S (bond along beta's c) of a flipped unit points the other way
    _, rots, perm, _ = _beta_framework()
    c_axis = np.eye(3)[perm.index(2)]
    template = anion_template("PS4").positions_A[1:]
    sym = np.array(alpha.get_chemical_symbols())
    i, j, D = neighbor_list("ijD", alpha, 2.4)
    as_intended = []
    for u, p in enumerate(np.nonzero(sym == "P")[0]):  # P are in unit order
        beta_bonds = template @ rots[u % 4].T
        beta_sign = np.sign(beta_bonds[np.argmax(np.abs(beta_bonds @ c_axis))] @ c_axis)
        bonds = D[(i == p) & (sym[j] == "S")]
        apex = bonds[np.argmax(np.abs(bonds @ c_axis))]
        as_intended.append(np.sign(apex @ c_axis) == (-beta_sign if u in flipped else beta_sign))
    # the geometric relaxation turns some units (up to ~45 deg); nearly all keep the intent
    assert np.mean(as_intended) >= 0.9


def test_seeds_reproduce_and_differ():
    a = build_structure("alpha_Li3PS4", 75.0, seed=3)
    b = build_structure("alpha_Li3PS4", 75.0, seed=3)
    c = build_structure("alpha_Li3PS4", 75.0, seed=4)
    assert np.array_equal(a.positions, b.positions)
    assert not np.array_equal(a.positions, c.positions)


def test_min_width(alpha):
    atoms = build_structure("alpha_Li3PS4", 75.0, seed=1, min_width_A=17.5)
    assert cell_widths_A(atoms).min() >= 17.5


def test_alpha_x_must_be_75():
    with pytest.raises(StructureError, match="alpha_Li3PS4"):
        build_structure("alpha_Li3PS4", 70.0, seed=0)
