import copy

import numpy as np
import pytest

from lpsens.analysis import analyze_trajectory
from lpsens.analysis.ensemble import build_tables
from lpsens.analysis.synthetic import write_random_walk
from lpsens.gather import JobRecord
from lpsens.plots import make_figures


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = write_random_walk(tmp_path_factory.mktemp("p") / "trajectory.h5", n_frames=2000, n_walkers=8,
                             n_framework=12)
    result = analyze_trajectory(path)
    # random walkers overlap (broken chemistry by design); these tests are about the statistics
    assert result["integrity"]["broken"]
    result["integrity"].update(broken=False, reason=None)
    return result


def _record(template, material, T, constraint="none", replica=0, x=75.0):
    res = copy.deepcopy(template)
    res["temperature_K"] = float(T)
    sp = {"material": material, "x_Li2S_mol_pct": x, "temperature_K": T, "replica": replica, "constraint": constraint}
    return JobRecord(f"{material}{T}{constraint}{replica}", sp, res, {})


def test_demo_sized_campaign_draws_all_figures(tmp_path, template):
    recs = [_record(template, "beta_Li3PS4", 600), _record(template, "beta_Li3PS4", 600, replica=1)]
    tables, notes = build_tables(recs)
    paths, fig_notes = make_figures(recs, tables, tmp_path)
    names = {p.name for p in paths}
    assert {"fig1_arrhenius.png", "fig1_arrhenius.pdf", "fig2_rdf_SS.png", "fig3_anions.png",
            "fig4_volume_frozen.pdf"} <= names
    assert all(p.stat().st_size > 1000 for p in paths)
    assert any("alpha_Li3PS4" in n for n in fig_notes)  # missing phases are noted, not fatal
    assert any("frozen" in n for n in fig_notes)


def test_no_li3ps4_skips_rdf_figure(tmp_path, template):
    recs = [_record(template, "glass", T) for T in (500, 600)]
    recs[0].result["anion_counts_per_frame"] = {"PS4": [3, 4, 4], "P2S7": [1, 0, 0], "P2S6": [0, 0, 0],
                                               "other": [0, 0, 1]}
    tables, _ = build_tables(recs)
    paths, notes = make_figures(recs, tables, tmp_path)
    assert not (tmp_path / "fig2_rdf_SS.png").exists()
    assert any("Fig. 2" in n for n in notes)
    assert (tmp_path / "fig3_anions.png").is_file()


def test_empty_campaign(tmp_path):
    tables, _ = build_tables([])
    paths, notes = make_figures([], tables, tmp_path)
    assert paths == []
    assert len(notes) == 4


def test_nonpositive_sigma_does_not_crash(tmp_path, template):
    recs = [_record(template, "gamma_Li3PS4", T) for T in (500, 600, 700)]
    recs[0].result["sigma_S_cm"] = -1e-5
    tables, _ = build_tables(recs)
    assert tables["arrhenius"][0]["excluded_K"] == "500"
    paths, _ = make_figures(recs, tables, tmp_path)
    assert (tmp_path / "fig1_arrhenius.png").is_file()
    assert np.isfinite(tables["arrhenius"][0]["Ea_eV"])


def test_reference_overlays_and_rdf_range_note(tmp_path, template):
    recs = [_record(template, "gamma_Li3PS4", T) for T in (500, 700)]
    tables, _ = build_tables(recs)
    paths, notes = make_figures(recs, tables, tmp_path)
    assert template["rdf_SS"]["r_max_A"] > 4.3 and not any("RDF stops" in n for n in notes)
    for rec in recs:  # a 7.7 A cell: the RDF ends at 3.85 A, before the paper's 4.3 A peak
        rdf = rec.result["rdf_SS"]
        keep = np.asarray(rdf["r_A"]) <= 3.85
        rdf.update(r_A=list(np.asarray(rdf["r_A"])[keep]), g=list(np.asarray(rdf["g"])[keep]), r_max_A=3.85)
    paths, notes = make_figures(recs, tables, tmp_path)
    assert any("gamma_Li3PS4 RDF stops at r_max = 3.85 Å" in n for n in notes)
    assert (tmp_path / "fig2_rdf_SS.png").is_file() and (tmp_path / "fig1_arrhenius.png").is_file()


def test_transition_series_draws_break_band_and_rdf_inset(tmp_path, template):
    """Issue 13: a series with a slope break and a vanishing 4.3 A peak gets the Fig. 1 band and the Fig. 2 inset."""
    from lpsens.analysis.arrhenius import K_B_EV

    recs = []
    r_A = np.asarray(template["rdf_SS"]["r_A"])
    for T in range(400, 1001, 50):
        rec = _record(template, "beta_Li3PS4", T)
        x, xb = 1 / T, 1 / 700
        y = 5 - 0.2 / K_B_EV * (x - xb) - 0.2 / K_B_EV * max(x - xb, 0)
        rec.result["sigma_S_cm"] = float(np.exp(y) / T)
        rec.result["sigma_err_S_cm"] = 0.03 * rec.result["sigma_S_cm"]
        amp = 0.8 * max(650 - T, 0) / 250
        rec.result["rdf_SS"]["g"] = (1 + amp * np.exp(-((r_A - 4.3) ** 2) / 0.045)).tolist()
        recs.append(rec)
    tables, _ = build_tables(recs)
    (row,) = tables["transition"]
    assert row["arrhenius_break_found"] and row["rdf_peak_vanish_T_K"] == pytest.approx(650, abs=25)
    paths, _ = make_figures(recs, tables, tmp_path)
    assert (tmp_path / "fig1_arrhenius.png").is_file() and (tmp_path / "fig2_rdf_SS.png").is_file()


def test_demo_v2_layout_draws_every_figure_with_the_frozen_S_comparison(tmp_path, template):
    """Issue 14: the paper's 7 materials/conditions at 3 temperatures, as the demo runs them."""
    conditions = [("alpha_Li3PS4", 75.0, "none"), ("beta_Li3PS4", 75.0, "none"), ("gamma_Li3PS4", 75.0, "none"),
                  ("Li7P3S11", 70.0, "none"), ("glass", 67.0, "none"), ("glass", 75.0, "none"),
                  ("glass", 75.0, "frozen_S")]
    recs = [_record(template, m, T, constraint=c, x=x) for m, x, c in conditions for T in (600, 700, 800)]
    tables, _ = build_tables(recs)
    assert len({(r["material"], r["x_Li2S_mol_pct"], r["constraint"]) for r in tables["arrhenius"]}) == 7
    assert len([r for r in tables["frozen_ratio"] if r["constraint"] == "frozen_S"]) == 3
    paths, notes = make_figures(recs, tables, tmp_path)
    assert {p.name for p in paths} >= {f"{f}.png" for f in ("fig1_arrhenius", "fig2_rdf_SS", "fig3_anions",
                                                              "fig4_volume_frozen")}
    assert not any("no frozen-lattice runs" in n or "no data for" in n for n in notes), notes


def test_rdf_range_note_says_why():
    from lpsens.analysis.rdf import R_MAX_RULE_MINIMUM_IMAGE
    from lpsens.plots import _r_max_note

    note = _r_max_note(5.63, [[{"r_max_rule": R_MAX_RULE_MINIMUM_IMAGE}]])
    assert "r_max = 5.63 Å = half the narrowest" in note and "(11.3 Å)" in note and "past the 4.3 Å" in note
    assert "short of the 4.3 Å" in _r_max_note(3.85, [[{"r_max_rule": R_MAX_RULE_MINIMUM_IMAGE}]])
    assert _r_max_note(4.0, [[{"r_max_rule": "[analysis] rdf_r_max_A"}]]) == "r_max = 4.00 Å: [analysis] rdf_r_max_A"
