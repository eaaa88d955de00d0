"""Glass models: composition, charge, units, density, distances, seeds, sizes and errors."""

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from lpsens.errors import StructureError
from lpsens.structures import (
    MinDistances,
    build_structure,
    check_structure,
    density_g_cm3,
    formal_charge_e,
    glass_density_g_cm3,
    solve_composition,
)
from lpsens.structures.anions import AnionKind, anion_template
from lpsens.structures.checks import cell_widths_A, units_from_bonds

EXPECTED_UNITS = {75.0: {"PS4"}, 70.0: {"PS4", "P2S7"}, 67.0: {"P2S7"}}


@pytest.fixture(scope="module", params=[75.0, 70.0, 67.0])
def glass(request):
    return request.param, build_structure("glass", request.param, seed=11, min_atoms=100)


def _formula_from_counts(counts):
    out = {"Li": 0, "P": 0, "S": 0}
    for kind, n in counts.items():
        t = anion_template(kind)
        out["Li"] += n * t.n_li
        out["P"] += n * t.n_p
        out["S"] += n * t.n_s
    return out


def test_composition_and_charge(glass):
    x, atoms = glass
    sym = np.array(atoms.get_chemical_symbols())
    want = _formula_from_counts(atoms.info["anion_counts"])
    assert {el: int((sym == el).sum()) for el in "Li P S".split()} == want
    assert formal_charge_e(atoms) == 0
    li, p = want["Li"], want["P"]
    assert atoms.info["x_Li2S_mol_pct_realised"] == pytest.approx(100 * li / (li + p))
    assert abs(atoms.info["x_Li2S_mol_pct_realised"] - x) <= 0.5
    if x == 67.0:  # the paper's label for Li4P2S7
        assert atoms.info["x_Li2S_mol_pct_realised"] == pytest.approx(200 / 3)
    # on the Li2S-P2S5 tie line: S = Li/2 + 5 P/2
    assert 2 * want["S"] == want["Li"] + 5 * want["P"]


def test_units_are_the_intended_ones(glass):
    x, atoms = glass
    counts = {k: v for k, v in atoms.info["anion_counts"].items() if v}
    assert set(counts) == EXPECTED_UNITS[x]
    if x == 70.0:
        assert counts["PS4"] == counts["P2S7"]  # Li7P3S11 = PS4 : P2S7 1:1
    assert units_from_bonds(atoms) == counts


def test_bonds_coordination_and_distances(glass):
    _, atoms = glass
    sym = np.array(atoms.get_chemical_symbols())
    i, j, d = neighbor_list("ijd", atoms, 2.4)
    ps = (sym[i] == "P") & (sym[j] == "S")
    assert np.bincount(i[ps], minlength=len(atoms))[sym == "P"].tolist() == [4] * (sym == "P").sum()
    assert d[ps].min() >= 1.95 and d[ps].max() <= 2.15
    # no P-P, S-S, Li-Li or Li-P closer than 2.4 A (P-S bonds and Li-S contacts only)
    assert set(zip(sym[i].tolist(), sym[j].tolist(), strict=True)) <= {("P", "S"), ("S", "P"), ("Li", "S"), ("S", "Li")}
    report = check_structure(atoms, min_distances=MinDistances())
    assert report.min_distances_A["Li-S"] >= 2.1 and report.min_distances_A["Li-Li"] >= 2.0


def test_density_is_the_target(glass):
    x, atoms = glass
    rho, _ = glass_density_g_cm3(atoms.info["x_Li2S_mol_pct_target"])
    assert density_g_cm3(atoms) == pytest.approx(rho, rel=1e-6)
    assert atoms.info["density_g_cm3"] == pytest.approx(rho, rel=1e-6)
    assert atoms.info["supercell_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


def test_seeds_reproduce_and_differ():
    a = build_structure("glass", 70.0, seed=4, min_atoms=100)
    b = build_structure("glass", 70.0, seed=4, min_atoms=100)
    c = build_structure("glass", 70.0, seed=5, min_atoms=100)
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.numbers, b.numbers)
    assert a.info == b.info
    assert a.get_chemical_formula() == c.get_chemical_formula()
    assert np.abs(a.positions - c.positions).max() > 1.0


def test_li_positions_fill_the_box():
    atoms = build_structure("glass", 75.0, seed=2, min_atoms=300)
    li = atoms.get_scaled_positions()[np.array(atoms.get_chemical_symbols()) == "Li"]
    # each octant of the cube holds Li (no gap, no clustering into a corner)
    octant = (li >= 0.5).astype(int) @ [1, 2, 4]
    counts = np.bincount(octant, minlength=8)
    assert counts.min() > 0.4 * len(li) / 8


@pytest.mark.parametrize("x", [50.0, 55.0, 62.5, 68.0, 72.5, 77.0, 80.0])
def test_solve_composition_any_x(x):
    comp = solve_composition(x, 200)
    assert comp.n_atoms >= 200
    assert abs(comp.x_realised_mol_pct - x) < 1.0
    assert comp.n_li == sum(n * anion_template(k).n_li for k, n in comp.counts.items())
    assert 2 * comp.n_s == comp.n_li + 5 * comp.n_p  # tie line without P2S6 4-
    used = {k for k, n in comp.counts.items() if n}
    if x < 200 / 3:
        assert used <= {AnionKind.P2S6_EDGE, AnionKind.P2S7}
    elif x > 75:
        assert used <= {AnionKind.PS4, AnionKind.FREE_S}
    else:
        assert used <= {AnionKind.PS4, AnionKind.P2S7}


@pytest.mark.parametrize("x", [55.0, 78.0])
def test_off_range_glasses_build(x):
    atoms = build_structure("glass", x, seed=1, min_atoms=120)
    assert formal_charge_e(atoms) == 0
    assert units_from_bonds(atoms) == {k: v for k, v in atoms.info["anion_counts"].items() if v}


def test_p2s6_fraction():
    atoms = build_structure("glass", 70.0, seed=3, min_atoms=150, p2s6_fraction=0.25)
    counts = atoms.info["anion_counts"]
    assert counts["P2S6"] > 0
    assert atoms.info["p2s6_fraction_realised"] == pytest.approx(0.25, abs=0.06)
    assert formal_charge_e(atoms) == 0  # P4+ in the dumbbells
    assert units_from_bonds(atoms)["P2S6"] == counts["P2S6"]
    sym = np.array(atoms.get_chemical_symbols())
    i, j, d = neighbor_list("ijd", atoms, 2.4)
    pp = (sym[i] == "P") & (sym[j] == "P")
    assert pp.sum() == 2 * counts["P2S6"] and np.allclose(d[pp], 2.28, atol=0.01)


@pytest.mark.parametrize("kw", [{"min_width_A": 14.0}, {"min_atoms": 250}])
def test_size_requests(kw):
    atoms = build_structure("glass", 70.0, seed=0, **kw)
    assert cell_widths_A(atoms).min() >= kw.get("min_width_A", 0.0)
    assert len(atoms) >= kw.get("min_atoms", 0)


@pytest.mark.parametrize("x", [45.0, 80.5, float("nan")])
def test_x_outside_range_names_value_and_range(x):
    with pytest.raises(StructureError) as err:
        build_structure("glass", x, seed=0, min_atoms=100)
    assert str(x) in str(err.value) and "50.0-80.0" in str(err.value)


def test_too_small_glass_is_refused():
    with pytest.raises(StructureError) as err:
        build_structure("glass", 75.0, seed=0, min_atoms=20)
    msg = str(err.value)
    assert "min_atoms = 20" in msg and "9.0" in msg


def test_too_large_glass_is_refused():
    with pytest.raises(StructureError, match="max_atoms"):
        build_structure("glass", 75.0, seed=0, min_width_A=200.0)


@pytest.mark.parametrize("x,f", [(70.0, -0.1), (70.0, 1.0), (55.0, 0.5)])
def test_bad_p2s6_fraction(x, f):
    with pytest.raises(StructureError) as err:
        build_structure("glass", x, seed=0, min_atoms=100, p2s6_fraction=f)
    assert str(f) in str(err.value) and err.value.key == "p2s6_fraction"
