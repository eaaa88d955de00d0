"""Configurations to label: the fifth-S and bond-stretch coordination scans."""

import numpy as np
import pytest

from lpsens.chemistry import check_frame
from lpsens.structures import build_structure
from lpsens.train.configurations import coordination_scan, scan_atoms, stretch_scan


def test_coordination_scan_moves_one_s_towards_a_p_it_is_not_bonded_to():
    atoms = build_structure("gamma_Li3PS4", 75.0, 0, min_atoms=100)
    scans = coordination_scan(atoms, np.random.default_rng(0), (2.3, 2.5, 2.8), n_centres=2)
    assert len(scans) == 6
    for name, a in scans:
        p, s = scan_atoms(f"coordination_scan/g1/glass/75/900K/step300/{name}")  # as the fit reads it back
        target = float(name.split("/")[1][:-1])
        assert a.get_distance(p, s, mic=True) == pytest.approx(target, abs=1e-9)
        assert atoms.get_distance(p, s, mic=True) > 3.0  # not one of its own S
        moved = np.flatnonzero(np.linalg.norm(a.positions - atoms.positions, axis=1) > 1e-12)
        assert moved.tolist() == [s]
        fifth = [b.message for b in check_frame(a.numbers, a.positions, a.cell.array)]
        assert any(f"P {p} has 5 S" in m for m in fifth) == (target < 2.6)


def test_coordination_scan_without_candidates_is_empty_and_refused_frames_do_not_count():
    from ase import Atoms

    tet = 2.05 / np.sqrt(3) * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
    lone = Atoms("PS4", positions=np.vstack([[0, 0, 0], tet]) + 6.0, cell=np.eye(3) * 12.0, pbc=True)
    assert coordination_scan(lone, np.random.default_rng(0), (2.4,), n_centres=1) == []  # only its own S
    atoms = build_structure("gamma_Li3PS4", 75.0, 0, min_atoms=100)
    seen = []

    def refuse_first_centre(a):
        seen.append(a)
        return len(seen) > 2  # both frames of the first P refused

    scans = coordination_scan(atoms, np.random.default_rng(0), (2.3, 2.5), n_centres=1, accept=refuse_first_centre)
    assert len(seen) == 4 and len(scans) == 2  # the next P was tried
    assert scans[0][0].split("/")[0] != coordination_scan(atoms, np.random.default_rng(0), (2.3,), n_centres=1)[0][0].split("/")[0]


def test_stretch_scan_pulls_one_of_a_ps_own_s_out_along_its_bond():
    atoms = build_structure("gamma_Li3PS4", 75.0, 0, min_atoms=100)
    scans = stretch_scan(atoms, np.random.default_rng(0), (2.4, 2.7, 3.0), n_centres=2)
    assert len(scans) == 6
    centres = {name.split("/")[0] for name, _ in scans}
    assert len(centres) == 2
    for name, a in scans:
        p, s = scan_atoms(f"coordination_scan/g1/glass/75/900K/step300/{name}")  # as the fit reads it back
        target = float(name.split("/")[1].removeprefix("stretch")[:-1])
        before = atoms.get_distance(p, s, mic=True)
        assert before < 2.2  # one of its own S
        assert a.get_distance(p, s, mic=True) == pytest.approx(target, abs=1e-9)
        moved = np.flatnonzero(np.linalg.norm(a.positions - atoms.positions, axis=1) > 1e-12)
        assert moved.tolist() == [s]
        # along the bond: the P-S direction is unchanged
        u0 = atoms.get_distance(p, s, mic=True, vector=True) / before
        assert np.dot(a.get_distance(p, s, mic=True, vector=True) / target, u0) == pytest.approx(1.0)
        two = [b.message for b in check_frame(a.numbers, a.positions, a.cell.array)]
        assert not any(f"P {p} has" in m for m in two)  # 3 S left: a P with <= 2 S is what it guards against


def test_stretch_scan_needs_a_p_with_four_s_and_skips_refused_centres():
    from ase import Atoms

    tri = 2.05 * np.array([[1, 0, 0], [-0.5, 0.866, 0], [-0.5, -0.866, 0]])
    ps3 = Atoms("PS3", positions=np.vstack([[0, 0, 0], tri]) + 6.0, cell=np.eye(3) * 12.0, pbc=True)
    assert stretch_scan(ps3, np.random.default_rng(0), (2.6,), n_centres=1) == []
    atoms = build_structure("gamma_Li3PS4", 75.0, 0, min_atoms=100)
    seen = []

    def refuse_first_centre(a):
        seen.append(a)
        return len(seen) > 1

    scans = stretch_scan(atoms, np.random.default_rng(0), (2.6,), n_centres=1, accept=refuse_first_centre)
    assert len(seen) == 2 and len(scans) == 1
    assert scans[0][0].split("/")[0] != stretch_scan(atoms, np.random.default_rng(0), (2.6,), n_centres=1)[0][0].split("/")[0]


def test_scan_atoms_reads_only_scan_names():
    assert scan_atoms("P3-S17/2.5A") == (3, 17)
    assert scan_atoms("coordination_scan/g2/glass/67/600K/step50/P66-S114/stretch3A") == (66, 114)
    for other in ("selected/g1/glass/75/900K/step300", "dimer/P-S/2.3A", "glass_x67.0/rattle1", ""):
        assert scan_atoms(other) is None


def test_a_scan_never_puts_its_s_on_another_atom():
    """A Li on the P-S line: the scan frames that would put the moved S within SCAN_CLEARANCE_A of
    it are not made (whatever `accept` says), the others along the line are."""
    from ase import Atoms

    from lpsens.train.configurations import SCAN_CLEARANCE_A

    tet = 2.05 / np.sqrt(3) * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
    # P, its 4 S, a fifth S 4.4 A out along -x... and a Li on that line 2.5 A from the P
    pos = np.vstack([[0, 0, 0], tet, [-4.4, 0, 0], [-2.5, 0, 0]]) + 8.0
    atoms = Atoms("PS4SLi", positions=pos, cell=np.eye(3) * 16.0, pbc=True)
    scans = coordination_scan(atoms, np.random.default_rng(0), (2.3, 2.5, 2.8, 4.3), n_centres=1, accept=lambda a: True)
    assert [n for n, _ in scans] == ["P0-S5/4.3A"]  # 0.2, 0.0 and 0.3 A from the Li; 4.3 is 1.8 A from it
    d = scans[0][1].get_distances(5, [6], mic=True)[0]
    assert d == pytest.approx(1.8) and d >= SCAN_CLEARANCE_A["Li"]
