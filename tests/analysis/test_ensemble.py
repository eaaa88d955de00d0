"""Pooling over replicas and the transition table (lpsens.analysis.ensemble), on synthetic ground truth."""

import math
from dataclasses import dataclass

import numpy as np
import pytest

from lpsens.analysis.arrhenius import K_B_EV
from lpsens.analysis.collective import CollectiveConductivity, CollectiveMSD
from lpsens.analysis.ensemble import dynamics_table, transition_table
from lpsens.analysis.msd import MSD, Diffusion
from lpsens.analysis.reader import TrajectoryReader
from lpsens.analysis.synthetic import correlated_pairs_positions, write_trajectory

CELL = np.diag([15.0, 16.0, 17.0])
FIT = {"fit_start_ps": 0.2, "fit_end_fraction": 0.1, "min_fit_points": 5}


@dataclass
class Rec:
    group_key: tuple
    result: dict


def test_replicas_pooled_to_haven_one_half(tmp_path):
    recs = []
    for seed in range(4):
        pos, num = correlated_pairs_positions(16, 5000, D_A2_ps=0.5, dt_ps=0.1, cell=CELL, n_framework=4, seed=seed)
        path = write_trajectory(tmp_path / f"r{seed}.h5", pos, CELL, num, sampling_interval_fs=100.0)
        with TrajectoryReader(path) as rd:
            d = Diffusion(**FIT).compute(MSD(8).compute(rd))
            c = CollectiveConductivity(rd.volume_A3, 600.0, **FIT).compute(CollectiveMSD(8).compute(rd))
            vol = rd.volume_A3
        recs.append(Rec(("Li3PS4", 75.0, "none", 600), {
            "D_blocks_cm2_s": (d.D_blocks_A2_ps * 1e-4).tolist(), "D_sigma_blocks_cm2_s": c.D_sigma_blocks_cm2_s.tolist(),
            "n_Li": 32, "volume_A3": vol, "charge_number": 1, "PS4_tau1_ps": 2.0 + seed, "Li_jumps_per_ps_per_ion": None}))
    (row,) = dynamics_table(recs)
    assert row["n_collective_blocks"] == 32
    assert row["haven_ratio"] == pytest.approx(0.5, rel=0.15)
    assert 0 < row["haven_ratio_err"] < 0.1
    assert row["sigma_collective_sem_S_cm"] < 0.2 * row["sigma_collective_S_cm"]
    assert row["PS4_tau1_ps"] == pytest.approx(3.5)
    assert math.isnan(row["Li_jumps_per_ps_per_ion"])


def test_transition_table_finds_kink_and_rdf_peak():
    T = np.arange(400, 1001, 50)
    rng = np.random.default_rng(1)
    x, xb = 1 / T, 1 / 700.0
    y = 5 - 0.2 / K_B_EV * (x - xb) - 0.2 / K_B_EV * np.maximum(x - xb, 0)
    sigma = np.exp(y) / T * np.exp(0.05 * rng.standard_normal(T.size))
    transport = [{"material": "Li3PS4_beta", "x_Li2S_mol_pct": 75.0, "constraint": "none", "temperature_K": int(t),
                  "sigma_S_cm": s, "sigma_sem_S_cm": 0.05 * s} for t, s in zip(T, sigma, strict=True)]
    r_A = np.linspace(0.5, 7.0, 260)
    recs = []
    for t in T:
        for _rep in range(2):
            amp = 0.8 * max(650.0 - t, 0.0) / 250.0
            g = 1 + amp * np.exp(-((r_A - 4.3) ** 2) / 0.045) + 0.01 * rng.standard_normal(r_A.size)
            recs.append(Rec(("Li3PS4_beta", 75.0, "none", int(t)), {"rdf_SS": {"r_A": r_A.tolist(), "g": g.tolist()}}))
    rows, notes = transition_table(recs, transport)
    (row,) = rows
    assert row["arrhenius_break_found"]
    assert row["break_T_K"] == pytest.approx(700, abs=25)
    assert row["rdf_peak_vanish_T_K"] == pytest.approx(650, abs=25)
    assert not notes
    short, notes = transition_table([], transport[:4])
    assert short == [] and "no break-point Arrhenius fit" in notes[0]
