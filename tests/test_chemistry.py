"""Broken-chemistry check and unit census on synthetic frames (bundled crystals, hand-made units)."""

import ase.io
import numpy as np
import pytest

from lpsens.analysis.synthetic import STRUCTURES
from lpsens.chemistry import ChemistryLimits, check_frame, unit_census
from lpsens.errors import AnalysisError

BETA = STRUCTURES / "beta_Li3PS4_Pnma_relaxed-7net0_expcell.cif"
GAMMA = STRUCTURES / "gamma_Li3PS4_Pmn21_relaxed-7net0_expcell.cif"


def _crystal(cif, repeat=(1, 1, 1)):
    atoms = ase.io.read(cif).repeat(repeat)
    return atoms.numbers, atoms.positions.copy(), atoms.cell[:]


def _place(pos, cell, atom, anchor, distance_A, direction):
    """Move ``atom`` to ``distance_A`` from ``anchor`` (minimum image) along ``direction``."""
    u = np.asarray(direction, float) / np.linalg.norm(direction)
    pos[atom] = pos[anchor] + distance_A * u


def _far_s(num, pos, cell, p):
    """An S of another unit than P ``p`` (farther than 4 A from it in the minimum image)."""
    import ase

    atoms = ase.Atoms(num, pos, cell=cell, pbc=True)
    s = np.flatnonzero(num == 16)
    d = atoms.get_distances(p, s, mic=True)
    return int(s[np.argmax(d)])


@pytest.mark.parametrize("cif", [BETA, GAMMA])
def test_intact_ps4_crystal_passes(cif):
    num, pos, cell = _crystal(cif)
    assert check_frame(num, pos, cell) == []
    census = unit_census(num, pos, cell)
    assert census.counts["PS4"] == (num == 15).sum()
    assert sum(census.counts.values()) == census.counts["PS4"]
    # unwrapped positions (atoms shifted by lattice vectors) give the same answer
    shifted = pos + np.array([1, -2, 3]) @ cell
    assert check_frame(num, shifted, cell) == [] and unit_census(num, shifted, cell).counts == census.counts


def test_p_with_a_fifth_s_is_broken():
    num, pos, cell = _crystal(BETA, (1, 2, 1))
    p = int(np.flatnonzero(num == 15)[0])
    s_own = np.flatnonzero(num == 16)
    d = np.linalg.norm(pos[s_own] - pos[p], axis=1)
    apex = s_own[np.argmin(d)]
    extra = _far_s(num, pos, cell, p)
    _place(pos, cell, extra, p, 2.1, pos[p] - pos[apex])  # opposite a vertex: fifth S of the P
    found = check_frame(num, pos, cell)
    coord = [b for b in found if b.kind == "P_coordination" and b.atoms == (p,)]
    assert coord and coord[0].n_S == 5
    assert coord[0].message == f"P {p} has 5 S within 2.6 Å"


@pytest.mark.parametrize("distance_A", [1.2, 2.05])
def test_fused_or_bonded_s_is_broken(distance_A):
    num, pos, cell = _crystal(BETA, (1, 2, 1))
    s = np.flatnonzero(num == 16)
    a = int(s[0])
    b = _far_s(num, pos, cell, a)
    _place(pos, cell, b, a, distance_A, [0.3, 0.2, 1.0])
    found = check_frame(num, pos, cell)
    ss = [x for x in found if x.kind == "S-S"]
    assert ss and set(ss[0].atoms) == {a, b} and ss[0].distance_A == pytest.approx(distance_A, abs=1e-6)
    assert found[0].kind in ("S-S", "Li")  # pairs come before coordination


def _unit_box(extra_atoms=(), size=12.0, cell=None):
    """One PS4 tetrahedron at (1, 1, 1) next to a cell corner, plus ``extra_atoms``."""
    t = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float) / np.sqrt(3)
    num = [15, 16, 16, 16, 16]
    pos = [np.zeros(3), *(2.05 * t)]
    for z, x in extra_atoms:
        num.append(z)
        pos.append(np.asarray(x, float))
    pos = np.array(pos) + 1.0  # the unit straddles the periodic boundary
    cell = np.eye(3) * size if cell is None else np.asarray(cell, float)
    return np.array(num), pos, cell


def test_p2s6_p2s7_units_and_free_s_are_not_broken():
    for cif, kind, n in (("Li4P2S6_P-31m_relaxed-7net0_expcell.cif", "P2S6", 1),
                         ("Li7P3S11_P-1_relaxed-7net0_expcell.cif", "P2S7", 2)):
        num, pos, cell = _crystal(STRUCTURES / cif)
        assert check_frame(num, pos, cell) == [], cif
        assert unit_census(num, pos, cell).counts[kind] == n
    num, pos, cell = _unit_box([(16, (6.0, 6.0, 6.0)), (3, (6.0, 6.0, 8.4)), (3, (6.0, 6.0, 3.6))])
    assert check_frame(num, pos, cell) == []
    counts = unit_census(num, pos, cell).counts
    assert counts["PS4"] == 1 and counts["free_S"] == 1 and counts["other"] == 0


def test_triclinic_cell_gives_the_same_answer():
    num, pos, cell = _crystal(GAMMA)
    sheared = cell.copy()
    sheared[2] = cell[2] + cell[0]  # the same lattice, a triclinic basis
    assert check_frame(num, pos, sheared) == []
    assert unit_census(num, pos, sheared).counts == unit_census(num, pos, cell).counts
    # a short S-S contact across the boundary of a triclinic cell is found
    tri = [[10.0, 0, 0], [4.0, 9.0, 0], [3.0, 2.0, 9.5]]
    num, pos, cell = _unit_box([(16, (-0.2, -0.2, -1.2))], cell=tri)
    pos[-1] += np.asarray(tri[2])  # same point, one lattice vector away
    kinds = [b.kind for b in check_frame(num, pos, cell)]
    assert "S-S" in kinds


def test_li_too_close_and_lost_atoms():
    num, pos, cell = _unit_box([(3, (3.3, 3.3, 3.3))])
    s = 1 + int(np.argmax(pos[1:5, 0] + pos[1:5, 1] + pos[1:5, 2]))
    pos[-1] = pos[s] + [0.0, 0.0, 1.3]
    found = check_frame(num, pos, cell)
    assert found[0].kind == "Li" and found[0].elements == ("Li", "S") and found[0].atoms == (5, s)
    pos[2] = np.nan
    found = check_frame(num, pos, cell)
    assert [b.kind for b in found] == ["lost_atoms"] and "S 2" in found[0].message
    assert check_frame(num, pos[:-1], cell)[0].kind == "lost_atoms"


def test_limits_are_configurable_and_validated():
    num, pos, cell = _unit_box()
    assert check_frame(num, pos, cell) == []
    assert check_frame(num, pos, cell, ChemistryLimits(P_S_min_A=2.1))[0].kind == "P-S"
    with pytest.raises(AnalysisError, match="analysis.integrity_S_S_min_A"):
        ChemistryLimits(S_S_min_A=-1)
    with pytest.raises(AnalysisError, match="P_min_S"):
        ChemistryLimits(P_min_S=5, P_max_S=4)


def test_the_three_neighbour_searches_agree():
    """Periodic k-d tree (orthorhombic), k-d tree over images (triclinic) and ASE's list (narrow cells)."""
    from lpsens.chemistry import _pairs

    rng = np.random.default_rng(1)
    num, pos, cell = _crystal(GAMMA, (2, 2, 2))
    pos = pos + rng.normal(0, 0.3, pos.shape)
    from ase.neighborlist import primitive_neighbor_list

    def reference(p, c, r):
        i, j, d = primitive_neighbor_list("ijd", (True,) * 3, c, p, r)
        k = i < j
        return sorted(zip(i[k].tolist(), j[k].tolist(), np.round(d[k], 9).tolist(), strict=True))

    sheared = cell.copy()
    sheared[1] += 0.5 * cell[0]
    for c in (cell, sheared):
        i, j, d = _pairs(num, pos, c, 3.0)
        ours = sorted(zip(i.tolist(), j.tolist(), np.round(d, 9).tolist(), strict=True))
        frac = np.linalg.solve(c.T, pos.T).T
        assert ours == reference((frac - np.floor(frac)) @ c, c, 3.0)
    narrow = np.diag([4.0, 4.5, 5.0])  # narrower than twice the cutoff: ASE's list
    few = rng.uniform(0, 4, (6, 3))
    i, j, d = _pairs(np.full(6, 16), few, narrow, 3.0)
    assert len(i) > 0 and np.all(d < 3.0)


def test_limits_from_an_analysis_table():
    limits = ChemistryLimits.from_settings({"integrity_Li_min_A": 1.2, "bond_cutoff_PS_A": 2.4, "n_blocks": 8})
    assert limits.Li_min_A == 1.2 and limits.bond_PS_A == 2.4 and limits.S_S_min_A == 2.3
    assert ChemistryLimits.from_settings(None) == ChemistryLimits()
    with pytest.raises(AnalysisError, match="analysis.integrity_P_max_S"):
        ChemistryLimits.from_settings({"integrity_P_max_S": 4.5})
