"""Configurations to label: the fifth-S coordination scans."""

import numpy as np
import pytest

from lpsens.chemistry import check_frame
from lpsens.structures import build_structure
from lpsens.train.configurations import coordination_scan


def test_coordination_scan_moves_one_s_towards_a_p_it_is_not_bonded_to():
    atoms = build_structure("gamma_Li3PS4", 75.0, 0, min_atoms=100)
    scans = coordination_scan(atoms, np.random.default_rng(0), (2.3, 2.5, 2.8), n_centres=2)
    assert len(scans) == 6
    for name, a in scans:
        p, s = (int(t[1:]) for t in name.split("/")[0].split("-"))
        target = float(name.split("/")[1][:-1])
        assert a.get_distance(p, s, mic=True) == pytest.approx(target, abs=1e-9)
        assert atoms.get_distance(p, s, mic=True) > 3.0  # not one of its own S
        moved = np.flatnonzero(np.linalg.norm(a.positions - atoms.positions, axis=1) > 1e-12)
        assert moved.tolist() == [s]
        fifth = [b.message for b in check_frame(a.numbers, a.positions, a.cell.array)]
        assert any(f"P {p} has 5 S" in m for m in fifth) == (target < 2.6)


def test_coordination_scan_without_candidates_is_empty():
    atoms = build_structure("gamma_Li3PS4", 75.0, 0, min_atoms=100)
    assert coordination_scan(atoms, np.random.default_rng(0), (2.4,), n_centres=2, search_A=(3.0, 3.01)) == []
