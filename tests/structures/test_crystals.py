"""Crystal phases: composition, charge, bonds, density, supercells, beta 4b/4c occupancy, errors."""

import itertools

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from lpsens.errors import StructureError
from lpsens.structures import MATERIALS, build_structure, density_g_cm3, formal_charge_e, read_cif
from lpsens.structures.checks import cell_widths_A
from lpsens.structures.crystals import BETA_4C_SITE_FRACTIONAL, CRYSTAL_PHASES

PHASES = [("gamma_Li3PS4", 75.0), ("beta_Li3PS4", 75.0), ("Li7P3S11", 70.0), ("Li4P2S6", 66.67), ("Li2S", 100.0)]


@pytest.mark.parametrize("material,x", PHASES)
def test_composition_charge_and_bonds(material, x):
    atoms = build_structure(material, x, seed=0)
    sym = np.array(atoms.get_chemical_symbols())
    fu = CRYSTAL_PHASES[material].formula_unit
    n_fu = (sym == "S").sum() / fu["S"]
    for el, n in fu.items():
        assert (sym == el).sum() == n * n_fu
    assert formal_charge_e(atoms) == 0
    assert atoms.pbc.all()
    assert atoms.info["material"] == material and atoms.info["x_Li2S_mol_pct_realised"] == x
    i, j, d = neighbor_list("ijd", atoms, 2.4)
    for p in np.nonzero(sym == "P")[0]:
        nb = sym[j[i == p]]
        n_s, n_p = (nb == "S").sum(), (nb == "P").sum()
        assert (n_s, n_p) in {(4, 0), (3, 1)}, (material, p, n_s, n_p)
        assert n_s == 4 or material == "Li4P2S6"
        d_ps = d[i == p][nb == "S"]
        assert d_ps.min() >= 1.95 and d_ps.max() <= 2.20


def test_gamma_density_matches_published():
    atoms = build_structure("gamma_Li3PS4", 75.0, seed=0, min_atoms=200)
    assert density_g_cm3(atoms) == pytest.approx(1.93, abs=0.01)  # Homma 2011 / ICSD 180318


@pytest.mark.parametrize("material,x", PHASES[:3])
@pytest.mark.parametrize("width", [10.0, 15.5])
def test_supercell_width_and_matrix(material, x, width):
    atoms = build_structure(material, x, seed=1, min_width_A=width)
    assert cell_widths_A(atoms).min() >= width
    m = np.array(atoms.info["supercell_matrix"])
    assert np.array_equal(m, np.diag(m.diagonal())) and (m.diagonal() >= 1).all()
    # the unit cell's widths, from the supercell
    unit_cell = atoms.cell.array / m.diagonal()[:, None]
    vol = abs(np.linalg.det(unit_cell))
    unit_w = vol / np.linalg.norm(np.cross(unit_cell[[1, 2, 0]], unit_cell[[2, 0, 1]]), axis=1)
    n_unit = len(atoms) // round(np.prod(m.diagonal()))
    fewest = n_unit * np.prod(np.ceil(width / unit_w))
    assert len(atoms) <= 1.5 * fewest  # never more than 1.5x the smallest cell that is wide enough


def test_min_atoms_respected_and_near_cubic():
    atoms = build_structure("beta_Li3PS4", 75.0, seed=3, min_atoms=300)
    assert len(atoms) >= 300
    w = cell_widths_A(atoms)
    assert w.max() / w.min() <= 1.6


def _beta_site_occupation(atoms):
    """(occupied 4b, occupied 4c, n_4b_sites, n_4c_sites) found geometrically from Li positions."""
    m = np.array(atoms.info["supercell_matrix"]).diagonal()
    x, _, z = BETA_4C_SITE_FRACTIONAL
    sites_4b = [[0, 0, 0.5], [0.5, 0, 0], [0, 0.5, 0.5], [0.5, 0.5, 0]]
    sites_4c = [[x, 0.25, z], [0.5 - x, 0.75, z + 0.5], [-x, 0.75, -z], [x + 0.5, 0.25, 0.5 - z]]
    shifts = np.array(list(itertools.product(*(range(k) for k in m))))

    def expand(sites):
        return ((np.array(sites)[None] + shifts[:, None]) / m).reshape(-1, 3)

    li = atoms.get_scaled_positions()[np.array(atoms.get_chemical_symbols()) == "Li"]
    occ = []
    for sites in (expand(sites_4b), expand(sites_4c)):
        diff = li[:, None] - sites[None]
        diff -= np.round(diff)
        dist = np.linalg.norm((diff * m) @ (atoms.cell.array / m[:, None]), axis=2)
        occ.append((dist < 0.05).any(axis=0))
    return occ[0], occ[1]


def test_beta_occupancy_statistics_over_seeds():
    occ_b, occ_c = [], []
    for seed in range(60):
        atoms = build_structure("beta_Li3PS4", 75.0, seed=seed, min_atoms=250)
        b, c = _beta_site_occupation(atoms)
        n = b.size
        assert c.size == n == 4 * round(np.prod(np.diag(atoms.info["supercell_matrix"])))
        # every Li on 4b/4c sites is accounted for: 4 per unit cell in total
        assert b.sum() + c.sum() == n
        occ_b.append(b)
        occ_c.append(c)
    occ_b, occ_c = np.array(occ_b, float), np.array(occ_c, float)
    assert occ_b.mean() == pytest.approx(0.7, abs=0.5 / n)
    assert occ_c.mean() == pytest.approx(0.3, abs=0.5 / n)
    # every individual site is occupied with the statistical probability (binomial, 60 draws)
    sigma = np.sqrt(0.3 * 0.7 / 60)
    assert np.abs(occ_c.mean(axis=0) - 0.3).max() < 4.5 * sigma
    assert np.abs(occ_b.mean(axis=0) - 0.7).max() < 4.5 * sigma


def test_beta_4c_site_is_a_s4_tetrahedral_void():
    atoms = build_structure("beta_Li3PS4", 75.0, seed=11, min_atoms=250)
    _, c = _beta_site_occupation(atoms)
    assert c.any()
    sym = np.array(atoms.get_chemical_symbols())
    i, j, d = neighbor_list("ijd", atoms, 2.8)
    li = np.nonzero(sym == "Li")[0]
    n_s = np.array([(sym[j[i == k]] == "S").sum() for k in li])
    assert (n_s >= 4).all()


def test_same_seed_same_structure_and_replicas_differ():
    a = build_structure("beta_Li3PS4", 75.0, seed=5, min_atoms=250)
    b = build_structure("beta_Li3PS4", 75.0, seed=5, min_atoms=250)
    c = build_structure("beta_Li3PS4", 75.0, seed=6, min_atoms=250)
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.numbers, b.numbers)
    assert not np.array_equal(a.positions, c.positions)


def test_ordered_crystal_rattle_is_seeded():
    a = build_structure("gamma_Li3PS4", 75.0, seed=1, rattle_A=0.01)
    b = build_structure("gamma_Li3PS4", 75.0, seed=1, rattle_A=0.01)
    c = build_structure("gamma_Li3PS4", 75.0, seed=2, rattle_A=0.01)
    assert np.array_equal(a.positions, b.positions)
    assert not np.array_equal(a.positions, c.positions)


def test_unknown_material_names_value_and_allowed():
    with pytest.raises(StructureError) as err:
        build_structure("delta_Li3PS4", 75.0, seed=0)
    msg = str(err.value)
    assert "delta_Li3PS4" in msg and all(m in msg for m in MATERIALS)


def test_crystal_x_must_match_phase():
    with pytest.raises(StructureError) as err:
        build_structure("Li7P3S11", 75.0, seed=0)
    msg = str(err.value)
    assert "75.0" in msg and "70.0" in msg and "Li7P3S11" in msg


@pytest.mark.parametrize("kw,key", [({"min_width_A": 1000.0}, "min_width_A"), ({"min_atoms": -1}, "min_atoms"),
                                    ({"min_width_A": float("nan")}, "min_width_A"),
                                    ({"min_atoms": 10**6}, "min_atoms")])
def test_impossible_sizes(kw, key):
    with pytest.raises(StructureError) as err:
        build_structure("gamma_Li3PS4", 75.0, seed=0, **kw)
    assert err.value.key == key and str(list(kw.values())[0]) in str(err.value)


def test_bad_seed():
    with pytest.raises(StructureError, match="seed"):
        build_structure("gamma_Li3PS4", 75.0, seed=-3)


def test_unreadable_cif(tmp_path):
    bad = tmp_path / "broken.cif"
    bad.write_text("data_x\n_cell_length_a 5\nloop_\n_atom_site_label\nthis is not a cif\n")
    with pytest.raises(StructureError) as err:
        build_structure("gamma_Li3PS4", 75.0, seed=0, cif_path=bad)
    assert "broken.cif" in str(err.value)
    with pytest.raises(StructureError, match="not found"):
        read_cif(tmp_path / "missing.cif")


_CIF = """data_test
_cell_length_a 6.0
_cell_length_b 6.0
_cell_length_c 6.0
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
loop_
 _atom_site_label
 _atom_site_type_symbol
 _atom_site_fract_x
 _atom_site_fract_y
 _atom_site_fract_z
 _atom_site_occupancy
 P1 P 0.0 0.0 0.0 1
 S1 S 0.5 0.5 0.5 1.0
 LiA Li 0.5 0.0 0.0 {a}
 LiB Li 0.0 0.5 0.0 {b}
"""


def test_partial_occupancy_refused_naming_the_sites(tmp_path):
    ordered = tmp_path / "ordered.cif"
    ordered.write_text(_CIF.format(a="1", b="1"))
    assert read_cif(ordered).get_chemical_symbols().count("Li") == 2
    disordered = tmp_path / "disordered.cif"
    disordered.write_text(_CIF.format(a="0.7(1)", b="0.3"))  # Li split over two sites, as in beta-Li3PS4 4b/4c
    with pytest.raises(StructureError, match=r"2 partially occupied.*LiA \(Li, occupancy 0.7\); LiB \(Li, "
                                             r"occupancy 0.3\).*ordered") as err:
        read_cif(disordered)
    assert err.value.key == "_atom_site_occupancy"
    with pytest.raises(StructureError, match="partially occupied"):
        build_structure("beta_Li3PS4", 75.0, 0, min_atoms=64, cif_path=disordered)
