"""The issue-13 keys of analysis.json (lpsens.analysis.dynamics) through analyze_trajectory."""

import json

import numpy as np
import pytest

from lpsens.analysis import AnalysisSettings, analyze_trajectory
from lpsens.analysis.dynamics import DYNAMICS_KEYS
from lpsens.analysis.synthetic import tetrahedra_positions, write_trajectory

CELL = np.diag([20.0, 20.0, 20.0])
FAST = {"structure_max_frames": 5, "volume_max_frames": 20}  # the RDF/anion/volume parts are not tested here


@pytest.fixture(scope="module")
def li_and_anions(tmp_path_factory):
    pos, num, _ = tetrahedra_positions(27, 2000, dt_ps=0.1, cell=CELL, flip_rate_per_ps=0.05, noise_A=0.05, n_li=32,
                                       li_hop_rate_per_ps=0.2, seed=11)
    return write_trajectory(tmp_path_factory.mktemp("d") / "trajectory.h5", pos, CELL, num,
                            sampling_interval_fs=100.0)


def test_dynamics_keys_present_and_sane(li_and_anions):
    r = analyze_trajectory(li_and_anions, AnalysisSettings(**FAST))
    json.dumps(r, allow_nan=False)
    for key in ("sigma_collective_S_cm", "sigma_collective_err_S_cm", "haven_ratio", "haven_ratio_err",
                "PS4_tau1_ps", "PS4_tau1_err_ps", "PS4_reorientations_per_ps", "Li_jumps_per_ps_per_ion",
                "Li_residence_time_ps", "paddlewheel_enrichment", "paddlewheel_enrichment_err"):
        assert r[key] is not None, (key, r["dynamics_notes"])
    assert r["dynamics_notes"] == []
    assert r["Li_jumps_per_ps_per_ion"] == pytest.approx(0.2, rel=0.15)
    assert r["PS4_reorientations_per_ps"] == pytest.approx(0.05, rel=0.25)
    assert r["P2S7_tau1_ps"] is None  # only PS4 in this system
    assert len(r["D_sigma_blocks_cm2_s"]) == len(r["D_blocks_cm2_s"])
    assert set(r["anion_c1"]) == {"lag_time_ps", "PS4"}


def test_dynamics_off_and_partial_failures(li_and_anions, walkers):
    r = analyze_trajectory(li_and_anions, AnalysisSettings(dynamics=False, **FAST))
    assert all(r[k] is None for k in DYNAMICS_KEYS)
    assert "disabled" in r["dynamics_notes"][0]
    # random P/S framework: no tetrahedra, yet the collective part and the tracer result are there
    r = analyze_trajectory(walkers, AnalysisSettings(**FAST))
    assert r["sigma_collective_S_cm"] is not None and r["D_cm2_s"] > 0
    assert r["PS4_tau1_ps"] is None


def test_dynamics_setting_validation():
    from lpsens.errors import AnalysisError

    with pytest.raises(AnalysisError, match="analysis.dynamics"):
        AnalysisSettings(dynamics=1)
    with pytest.raises(AnalysisError, match="analysis.jump_distance_A"):
        AnalysisSettings(jump_distance_A=0)
