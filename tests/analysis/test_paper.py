"""Verdicts of the paper comparison on synthetic gathered results (agrees / disagrees / not computed)."""

import numpy as np
import pytest

from lpsens.analysis.paper import CLAIMS, VERDICTS, has_ss_peak, paper_comparison
from lpsens.gather import JobRecord


def _arr(material, s300, lo=None, hi=None, x=75.0):
    return {"material": material, "x_Li2S_mol_pct": x, "constraint": "none", "sigma_300K_S_cm": s300,
            "sigma_300K_ci95_low_S_cm": s300 / 3 if lo is None else lo,
            "sigma_300K_ci95_high_S_cm": s300 * 3 if hi is None else hi}


def _tr(material, x, T, sigma, constraint="none"):
    return {"material": material, "x_Li2S_mol_pct": x, "constraint": constraint, "temperature_K": T,
            "sigma_S_cm": sigma, "sigma_sem_S_cm": 0.1 * sigma}


def _rdf_record(material, T, peak, r_max=7.0, replica=0):
    r = np.linspace(0.05, r_max, 140)
    g = np.where(r > 3.2, 1.0, 0.0) + 1.5 * np.exp(-((r - 3.6) / 0.15) ** 2)
    if peak:
        g = g + 0.4 * np.exp(-((r - 4.3) / 0.12) ** 2)
    sp = {"material": material, "x_Li2S_mol_pct": 75.0, "temperature_K": T, "replica": replica, "constraint": "none"}
    return JobRecord(f"{material}{T}{replica}", sp, {"rdf_SS": {"r_A": r.tolist(), "g": g.tolist()}}, {})


def _verdicts(tables, records=()):
    rows = paper_comparison(tables, list(records))
    assert [r["claim"] for r in rows] == [c.key for c in CLAIMS]
    assert all(r["verdict"] in VERDICTS for r in rows)
    return {r["claim"]: r for r in rows}


def test_nothing_computed_says_why():
    v = _verdicts({})
    assert all(r["verdict"] == "not computed" and r["why"] for r in v.values())


def test_conductivity_values_at_300K():
    arr = [_arr("alpha_Li3PS4", 2e-3), _arr("Li7P3S11", 1e-6, x=70.0), _arr("gamma_Li3PS4", 1e-6),
           _arr("beta_Li3PS4", 1e-3, lo=5e-4, hi=2e-3)]
    v = _verdicts({"arrhenius": arr})
    assert v["sigma300_alpha"]["verdict"] == "agrees" and v["sigma300_alpha"]["campaign_value"] == 2e-3
    assert v["sigma300_Li7P3S11"]["verdict"] == "disagrees"
    assert v["sigma300_gamma"]["verdict"] == "agrees"
    assert v["sigma300_beta"]["verdict"] == "disagrees"
    # an interval that reaches into the paper's range agrees; no finite extrapolation is not computed
    v = _verdicts({"arrhenius": [_arr("beta_Li3PS4", 3e-5, lo=8e-6, hi=1e-4),
                                 _arr("gamma_Li3PS4", float("nan"))]})
    assert v["sigma300_beta"]["verdict"] == "agrees" and v["sigma300_gamma"]["verdict"] == "not computed"


@pytest.mark.parametrize("factor, verdict", [(3.0, "agrees"), (1.0, "disagrees"), (20.0, "disagrees")])
def test_glass_composition_trend(factor, verdict):
    transport = [_tr("glass", 66.7, T, 1e-3) for T in (500, 600, 700)]
    transport += [_tr("glass", 75.0, T, factor * 1e-3) for T in (600, 700, 800)]
    v = _verdicts({"transport": transport})["glass_75_over_67"]
    assert v["verdict"] == verdict and v["campaign_value"] == pytest.approx(factor)
    assert "600 700 K" in v["basis"]


def test_glass_trend_prefers_the_300K_fits():
    arr = [_arr("glass", 3e-4, x=75.0), _arr("glass", 1e-4, x=67.0)]
    transport = [_tr("glass", 67.0, 600, 1e-3), _tr("glass", 75.0, 600, 1e-3)]
    v = _verdicts({"arrhenius": arr, "transport": transport})["glass_75_over_67"]
    assert v["verdict"] == "agrees" and v["basis"] == "Arrhenius fits at 300 K"


def test_frozen_sublattices():
    rows = [{"material": "glass", "x_Li2S_mol_pct": 75.0, "temperature_K": 600, "constraint": "frozen_S", "ratio": 0.01},
            {"material": "glass", "x_Li2S_mol_pct": 75.0, "temperature_K": 600, "constraint": "frozen_P", "ratio": 0.8}]
    v = _verdicts({"frozen_ratio": rows})
    assert v["frozen_S"]["verdict"] == "agrees" and v["frozen_P"]["verdict"] == "agrees"
    rows[0]["ratio"], rows[1]["ratio"] = 0.7, 0.01  # swapped roles: both contradict the paper
    v = _verdicts({"frozen_ratio": rows})
    assert v["frozen_S"]["verdict"] == "disagrees" and v["frozen_P"]["verdict"] == "disagrees"


def test_ss_peak_detection_and_its_trend():
    rec = _rdf_record("gamma_Li3PS4", 500, True)
    assert has_ss_peak(rec.result["rdf_SS"]["r_A"], rec.result["rdf_SS"]["g"]) is True
    flat = _rdf_record("gamma_Li3PS4", 500, False)
    assert has_ss_peak(flat.result["rdf_SS"]["r_A"], flat.result["rdf_SS"]["g"]) is False
    records = [_rdf_record("gamma_Li3PS4", T, T < 700) for T in (400, 600, 700, 800)]
    records += [_rdf_record("beta_Li3PS4", T, True) for T in (400, 800)]  # peak survives at 800 K
    v = _verdicts({}, records)
    assert v["SS_peak_gamma"]["verdict"] == "agrees"
    assert v["SS_peak_gamma"]["campaign_value"] == "400K:peak 600K:peak 700K:none 800K:none"
    assert v["SS_peak_beta"]["verdict"] == "disagrees"


def test_ss_peak_needs_an_rdf_past_the_peak():
    # half of a 7.7 A cell: the 4.3 A peak cannot appear at all
    records = [_rdf_record("gamma_Li3PS4", T, True, r_max=3.85) for T in (500, 800)]
    v = _verdicts({}, records)["SS_peak_gamma"]
    assert v["verdict"] == "not computed" and "r_max 3.85 A" in v["why"]
