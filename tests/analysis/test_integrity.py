"""Trajectory-level chemistry integrity on synthetic crystal trajectories."""

import numpy as np
import pytest

from lpsens.analysis import AnalysisSettings, ChemistryIntegrity, TrajectoryReader
from lpsens.analysis.synthetic import STRUCTURES, crystal_positions, write_trajectory
from lpsens.errors import AnalysisError

BETA = STRUCTURES / "beta_Li3PS4_Pnma_relaxed-7net0_expcell.cif"


def _beta(n_frames=12, shift_images=True):
    return crystal_positions(BETA, n_frames, noise_A=0.04, shift_images=shift_images)


def _integrity(tmp_path, pos, cell, num, **kw):
    path = write_trajectory(tmp_path / "t.h5", pos, cell, num, sampling_interval_fs=100.0)
    with TrajectoryReader(path) as rd:
        return ChemistryIntegrity(**kw).compute(rd)


def test_thermal_crystal_is_intact(tmp_path):
    pos, cell, num = _beta()
    ci = _integrity(tmp_path, pos, cell, num, crystal=True)
    assert not ci.broken and ci.broken_fraction == 0.0 and ci.first_broken is None and ci.reason() is None
    assert ci.crystal_units_lost is False
    assert np.all(ci.census_per_frame["PS4"] == (num == 15).sum())
    d = ci.as_dict()
    assert d["broken"] is False and d["n_frames_checked"] == 12
    assert "0/12 frames broken" in repr(ci)


def test_first_broken_frame_time_and_reason(tmp_path):
    pos, cell, num = _beta(shift_images=False)
    s = np.flatnonzero(num == 16)
    a, b = int(s[0]), int(s[-1])
    for f in (7, 9):  # fused S from frame 7 on (and again in frame 9)
        pos[f, b] = pos[f, a] + [0.0, 0.0, 1.2]
    ci = _integrity(tmp_path, pos, cell, num, crystal=True)
    assert ci.broken and ci.broken_fraction == pytest.approx(2 / 12)
    first = ci.first_broken
    assert first["frame"] == 7 and first["time_ps"] == pytest.approx(0.7)
    assert first["kind"] == "S-S" and set(first["atoms"]) == {a, b} and first["distance_A"] == pytest.approx(1.2, abs=0.01)
    assert ci.reason().startswith("broken at 0.7 ps (frame 7, 17% of frames broken): ")
    assert list(np.flatnonzero(ci.broken_per_frame)) == [7, 9]


def test_crystal_losing_a_unit_is_flagged_not_a_glass(tmp_path):
    pos, cell, num = _beta(shift_images=False)
    p = int(np.flatnonzero(num == 15)[0])
    s = np.flatnonzero(num == 16)
    nearest = s[np.argmin(np.linalg.norm(pos[0, s] - pos[0, p], axis=1))]
    pos[5:, nearest] += 0.8 * (pos[5:, nearest] - pos[5:, p])  # PS3 + free S from frame 5 on
    ci = _integrity(tmp_path, pos, cell, num, crystal=True)
    assert not ci.broken_per_frame.any()  # 3 S per P and a free S are not broken chemistry
    assert ci.crystal_units_lost and ci.broken
    assert ci.reason().startswith("crystal units lost at 0.5 ps (frame 5): 1 P outside PS4/P2S7")
    assert ci.census_per_frame["free_S"][5] == 1 and ci.census_per_frame["free_S"][4] == 0
    glass = _integrity(tmp_path, pos, cell, num, crystal=False)
    assert glass.crystal_units_lost is None and not glass.broken


def test_thresholds_come_from_the_analysis_settings(tmp_path):
    pos, cell, num = _beta(3)
    strict = AnalysisSettings(integrity_Li_min_A=3.5).chemistry_limits()
    ci = _integrity(tmp_path, pos, cell, num, crystal=True, limits=strict)
    assert ci.broken and ci.first_broken["kind"] == "Li"
    with pytest.raises(AnalysisError, match="analysis.integrity_P_S_min_A"):
        AnalysisSettings(integrity_P_S_min_A=0)
    with pytest.raises(AnalysisError, match="analysis.integrity_max_frames"):
        ChemistryIntegrity(crystal=True, max_frames=0)
    with pytest.raises(AnalysisError, match="compute"):
        _ = ChemistryIntegrity(crystal=True).broken_fraction
