import numpy as np
import pytest

from lpsens.analysis import AnionComposition, TrajectoryReader
from lpsens.analysis.synthetic import STRUCTURES, crystal_positions, write_trajectory


def _counts(tmp_path, cif, repeat=(1, 1, 1)):
    pos, cell, num = crystal_positions(STRUCTURES / cif, 10, repeat=repeat, noise_A=0.04)
    path = write_trajectory(tmp_path / "c.h5", pos, cell, num)
    with TrajectoryReader(path) as rd:
        return AnionComposition().compute(rd)


def test_li7p3s11_has_two_ps4_and_two_p2s7(tmp_path):
    an = _counts(tmp_path, "Li7P3S11_P-1_relaxed-7net0_expcell.cif")
    assert an.mean_counts == {"PS4": 2.0, "P2S7": 2.0, "P2S6": 0.0, "P2S6_edge": 0.0, "chain": 0.0, "other": 0.0,
                              "free_S": 0.0}
    assert all(np.all(v == v[0]) for v in an.counts_per_frame.values())


def test_li4p2s6_is_only_p2s6(tmp_path):
    an = _counts(tmp_path, "Li4P2S6_P-31m_relaxed-7net0_expcell.cif", repeat=(2, 2, 2))
    assert an.mean_counts == {"PS4": 0.0, "P2S7": 0.0, "P2S6": 8.0, "P2S6_edge": 0.0, "chain": 0.0, "other": 0.0,
                              "free_S": 0.0}


def test_beta_li3ps4_is_only_ps4(tmp_path):
    an = _counts(tmp_path, "beta_Li3PS4_Pnma_relaxed-7net0_expcell.cif")
    assert an.mean_counts["PS4"] == 4.0
    assert an.mean_counts["P2S7"] == an.mean_counts["other"] == 0.0


def test_broken_bond_is_other(tmp_path):
    pos, cell, num = crystal_positions(STRUCTURES / "beta_Li3PS4_Pnma_relaxed-7net0_expcell.cif", 1, noise_A=0.0)
    p = np.flatnonzero(num == 15)[0]
    s = np.flatnonzero(num == 16)
    nearest = s[np.argmin(np.linalg.norm(pos[0, s] - pos[0, p], axis=1))]
    pos[0, nearest] += 0.8 * (pos[0, nearest] - pos[0, p])  # pull one S off its P: PS3 + free S
    path = write_trajectory(tmp_path / "b.h5", pos, cell, num)
    with TrajectoryReader(path) as rd:
        counts = AnionComposition().compute(rd).mean_counts
    assert counts["other"] >= 1 and counts["free_S"] >= 1 and counts["PS4"] <= 3


def test_cutoff_validation():
    with pytest.raises(ValueError):
        AnionComposition(cutoff_PS_A=5.0)
