"""The demo's targets table on synthetic results over the real demo job set (lpsens.analysis.targets)."""

import math

import pytest

from lpsens.analysis.ensemble import frozen_ratio_table
from lpsens.analysis.targets import MAX_D_REL_ERR, TARGET_VERDICTS, TARGETS, demo_targets
from lpsens.campaign import parse_campaign
from lpsens.demo import demo_spec

#: sigma at 700 K (S/cm) of a world in which every ordering of the paper holds
SIGMA_700 = {("alpha_Li3PS4", "none"): 3e-2, ("Li7P3S11", "none"): 2e-2, ("beta_Li3PS4", "none"): 4e-3,
             ("gamma_Li3PS4", "none"): 1e-3, ("glass67", "none"): 3e-3, ("glass75", "none"): 9e-3,
             ("glass75", "frozen_S"): 1e-4}


def _name(sp):
    return f"glass{sp.x_Li2S_mol_pct:g}" if sp.material == "glass" else sp.material


def _world(rel_err=0.1):
    """Jobs, transport, frozen_ratio and integrity tables of the demo campaign, all targets met."""
    jobs, transport, integrity = [], [], []
    for k, (sp, _) in enumerate(parse_campaign(demo_spec()).state_points()):
        job_id = f"job{k:02d}"
        statepoint = {"material": sp.material, "x_Li2S_mol_pct": sp.x_Li2S_mol_pct, "constraint": sp.constraint,
                      "temperature_K": sp.temperature_K, "replica": sp.replica}
        jobs.append({"job_id": job_id, "statepoint": statepoint, "status": "done", "reason": None})
        sigma = SIGMA_700[(_name(sp), sp.constraint)] * math.exp(-0.3 / 8.617e-5 * (1 / sp.temperature_K - 1 / 700))
        D = sigma * 1e-3  # any positive scale: the targets compare sigma and read D's relative error
        transport.append({"material": sp.material, "x_Li2S_mol_pct": sp.x_Li2S_mol_pct, "constraint": sp.constraint,
                          "temperature_K": sp.temperature_K, "n_replicas": 1, "D_cm2_s": D,
                          "D_sem_cm2_s": rel_err * D, "sigma_S_cm": sigma, "sigma_sem_S_cm": rel_err * sigma})
        integrity.append({"job_id": job_id, "material": sp.material, "x_Li2S_mol_pct": sp.x_Li2S_mol_pct,
                          "constraint": sp.constraint, "temperature_K": sp.temperature_K, "checked": True,
                          "broken": False,
                          "crystal_units_lost": str(False if sp.material != "glass" else None)})
    return jobs, {"transport": transport, "integrity": integrity}


def _targets(jobs, tables):
    tables = {**tables, "frozen_ratio": frozen_ratio_table(tables["transport"])}
    rows = demo_targets(tables, jobs)
    assert [r["target"] for r in rows] == [t.key for t in TARGETS]
    assert {r["verdict"] for r in rows} <= set(TARGET_VERDICTS)
    return {r["target"]: r for r in rows}


def _find(table, material, T, x=None, constraint="none"):
    (row,) = [r for r in table if r["material"] == material and r["temperature_K"] == T
              and r["constraint"] == constraint and (x is None or r["x_Li2S_mol_pct"] == x)]
    return row


def test_every_target_met_in_a_world_that_has_the_papers_orderings():
    jobs, tables = _world()
    got = _targets(jobs, tables)
    assert {k: r["verdict"] for k, r in got.items()} == {t.key: "met" for t in TARGETS}
    assert got["no_broken_frame"]["value"] == "0 of 21 jobs broken"
    assert "600 K" in got["order_crystals"]["value"] and "800 K" in got["order_crystals"]["value"]
    assert got["D_precision"]["value"].startswith("worst 10%")


def test_a_reversed_crystal_ordering_at_one_temperature_is_not_met():
    jobs, tables = _world()
    _find(tables["transport"], "gamma_Li3PS4", 700)["sigma_S_cm"] = 0.5  # above alpha and Li7P3S11
    got = _targets(jobs, tables)
    assert got["order_crystals"]["verdict"] == "not met"
    assert "reversed at 700 K" in got["order_crystals"]["why"]
    assert "gamma" in got["order_crystals"]["value"]
    assert got["order_glass"]["verdict"] == "met"


@pytest.mark.parametrize("which", ["glass", "frozen"])
def test_reversed_glass_and_frozen_orderings_are_not_met(which):
    jobs, tables = _world()
    if which == "glass":
        _find(tables["transport"], "glass", 800, x=67.0)["sigma_S_cm"] = 1.0
        key = "order_glass"
    else:
        _find(tables["transport"], "glass", 600, x=75.0, constraint="frozen_S")["sigma_S_cm"] = 1.0
        key = "frozen_S_lower"
    got = _targets(jobs, tables)
    assert got[key]["verdict"] == "not met", got[key]
    assert ("800 K" if which == "glass" else "glass75 600 K") in got[key]["why"]


def test_an_imprecise_or_negative_D_is_not_met_and_named():
    jobs, tables = _world()
    row = _find(tables["transport"], "beta_Li3PS4", 600)
    row["D_sem_cm2_s"] = (MAX_D_REL_ERR + 0.05) * row["D_cm2_s"]
    got = _targets(jobs, tables)
    assert got["D_precision"]["verdict"] == "not met"
    assert "1 of 21" in got["D_precision"]["why"] and "beta 600K 35%" in got["D_precision"]["why"]
    _find(tables["transport"], "glass", 700, x=67.0)["D_cm2_s"] = -1e-7
    got = _targets(jobs, tables)
    assert "2 of 21" in got["D_precision"]["why"] and "glass67 700K (D <= 0)" in got["D_precision"]["why"]


def test_a_run_stopped_by_the_chemistry_check_breaks_the_frame_target_and_its_results_go_missing():
    jobs, tables = _world()
    # the 75 glass at 800 K stopped: failed, no analysis, no transport row
    job = next(j for j in jobs if j["statepoint"]["material"] == "glass" and j["statepoint"]["temperature_K"] == 800
               and j["statepoint"]["x_Li2S_mol_pct"] == 75.0 and j["statepoint"]["constraint"] == "none")
    job.update(status="failed", reason="ChemistryError: job x: broken chemistry in frame 3 (0.3 ps): ...")
    tables["transport"].remove(_find(tables["transport"], "glass", 800, x=75.0))
    tables["integrity"] = [r for r in tables["integrity"] if r["job_id"] != job["job_id"]]
    got = _targets(jobs, tables)
    assert got["no_broken_frame"]["verdict"] == "not met"
    assert "1 stopped by the chemistry check (glass75 800K)" in got["no_broken_frame"]["why"]
    assert got["crystals_keep_units"]["verdict"] == "met"  # a glass is no crystal
    # the orderings that need the stopped run cannot be judged at 800 K, the others still are
    assert got["order_glass"]["verdict"] == "not computed" and "800 K (glass75)" in got["order_glass"]["why"]
    assert got["frozen_S_lower"]["verdict"] == "not computed" and "none run" in got["frozen_S_lower"]["why"]
    assert got["order_crystals"]["verdict"] == "met"
    assert got["D_precision"]["verdict"] == "not computed" and "1 of 21 state points" in got["D_precision"]["why"]


def test_a_crystal_that_loses_units_or_is_stopped_is_not_met():
    jobs, tables = _world()
    row = next(r for r in tables["integrity"] if r["material"] == "Li7P3S11" and r["temperature_K"] == 800)
    row.update(broken=True, crystal_units_lost="True")
    got = _targets(jobs, tables)
    assert got["crystals_keep_units"]["verdict"] == "not met"
    assert "units lost: Li7P3S11 800K" in got["crystals_keep_units"]["why"]
    assert got["no_broken_frame"]["verdict"] == "not met" and "1 done with broken frames" in got["no_broken_frame"]["why"]


def test_pending_jobs_leave_targets_not_computed_rather_than_met():
    jobs, tables = _world()
    alpha = [j for j in jobs if j["statepoint"]["material"] == "alpha_Li3PS4"]
    for j in alpha:
        j["status"] = "pending"
    ids = {j["job_id"] for j in alpha}
    tables["integrity"] = [r for r in tables["integrity"] if r["job_id"] not in ids]
    tables["transport"] = [r for r in tables["transport"] if r["material"] != "alpha_Li3PS4"]
    got = _targets(jobs, tables)
    assert got["no_broken_frame"]["verdict"] == "not computed"
    assert got["crystals_keep_units"]["verdict"] == "not computed"
    assert got["order_crystals"]["verdict"] == "not computed" and "600 K (alpha)" in got["order_crystals"]["why"]
    assert got["order_glass"]["verdict"] == "met"


def test_no_jobs_at_all_is_not_computed_everywhere():
    got = _targets([], {"transport": [], "integrity": []})
    assert {r["verdict"] for r in got.values()} == {"not computed"}


def test_text_has_one_line_per_target_with_verdict_first_and_why_after_the_value():
    from lpsens.analysis.targets import format_targets

    jobs, tables = _world()
    _find(tables["transport"], "glass", 800, x=67.0)["sigma_S_cm"] = 1.0
    rows = list(_targets(jobs, tables).values())
    lines = format_targets(rows).splitlines()
    assert lines[0].startswith("== demo targets: 5 of 6 met")
    assert len(lines) == 1 + len(TARGETS)
    (glass,) = [line for line in lines if "order_glass" in line]
    assert glass.startswith("not met") and " -- reversed at 800 K" in glass
