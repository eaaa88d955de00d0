"""The demo's targets (issue 14): what ``lpsens demo`` must show on a good potential, each with a verdict.

The demo (``src/lpsens/data/campaigns/demo.toml``) runs the materials of Staacke et al. 2022
(:data:`lpsens.analysis.paper.CITATION`) at three temperatures. On a potential that holds the
chemistry it should give: no broken frame, crystals that keep their units, the paper's
orderings (alpha-Li3PS4 and Li7P3S11 above beta/gamma, glass 75 above glass 67, frozen S below
free S) and diffusion coefficients precise to 30 %. :func:`demo_targets` turns the gathered
tables and the job states into one row per target with a plain verdict: ``met``, ``not met`` or
``not computed`` (with why), in the manner of :func:`lpsens.analysis.paper.paper_comparison`.

The orderings compare the central values at each demo temperature (the relative uncertainty of
each value is a target of its own); a temperature at which a material has no result makes the
verdict ``not computed`` unless another temperature already contradicts the ordering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lpsens.analysis.paper import HIGH_SIGMA_CRYSTALS, LOW_SIGMA_CRYSTALS, _finite

__all__ = ["Target", "TARGETS", "TARGET_VERDICTS", "MAX_D_REL_ERR", "HIGH_SIGMA_CRYSTALS", "LOW_SIGMA_CRYSTALS",
           "demo_targets", "format_targets"]

TARGET_VERDICTS = ("met", "not met", "not computed")
#: Largest relative uncertainty (standard error / value) of D that the demo accepts.
MAX_D_REL_ERR = 0.30
_CHEMISTRY_STOP = "ChemistryError"  # the failure reason of a run stopped by the chemistry check


@dataclass(frozen=True)
class Target:
    """One target of the demo.

    Attributes
    ----------
    key
        Short identifier (row key of the targets table).
    statement
        The target, in words.
    met_if
        The rule of the verdict, in words.
    """

    key: str
    statement: str
    met_if: str


TARGETS = (
    Target("no_broken_frame", "no trajectory has a broken frame",
           "every job ran to the end and its analysis found no broken frame"),
    Target("crystals_keep_units", "the crystals keep their units",
           "no crystal job was stopped for broken chemistry or lost a PS4/P2S7 unit"),
    Target("order_crystals", "alpha-Li3PS4 and Li7P3S11 above beta/gamma-Li3PS4",
           "min sigma(alpha, Li7P3S11) > max sigma(beta, gamma) at every demo temperature"),
    Target("order_glass", "glass 75 above glass 67 mol% Li2S", "sigma(75) > sigma(67) at every demo temperature"),
    Target("frozen_S_lower", "frozen S below unconstrained",
           "sigma(frozen_S) / sigma(none) < 1 at every temperature with a frozen-S run"),
    Target("D_precision", f"each D with a relative uncertainty <= {MAX_D_REL_ERR:.0%}",
           f"D_sem / D <= {MAX_D_REL_ERR:g} (and D > 0) for every state point"),
)
_BY_KEY = {t.key: t for t in TARGETS}


def _row(key, verdict, value="", why=""):
    t = _BY_KEY[key]
    return {"target": t.key, "statement": t.statement, "value": value, "met_if": t.met_if, "verdict": verdict,
            "why": why}


def _label(material, x=None) -> str:
    return f"glass{x:g}" if material == "glass" else material.replace("_Li3PS4", "")


def _job_label(job) -> str:
    sp = job["statepoint"]
    con = "" if sp.get("constraint", "none") == "none" else f" {sp['constraint']}"
    return f"{_label(sp['material'], float(sp.get('x_Li2S_mol_pct', 0)))}{con} {int(sp['temperature_K'])}K"


def _sorted_jobs(jobs):
    def key(j):
        sp = j["statepoint"]
        return (sp["material"], float(sp.get("x_Li2S_mol_pct", 0)), sp.get("constraint", "none"),
                int(sp["temperature_K"]))
    return sorted(jobs, key=key)


def _chemistry_stopped(job) -> bool:
    return job.get("status") == "failed" and _CHEMISTRY_STOP in str(job.get("reason") or "")


def _broken_target(jobs, integrity):
    key = "no_broken_frame"
    stopped = _sorted_jobs(j for j in jobs if _chemistry_stopped(j))
    broken = [r for r in integrity if r.get("broken") is True]
    unchecked = [j for j in jobs if j.get("status") != "done" and not _chemistry_stopped(j)]
    unchecked_done = [r for r in integrity if not r.get("checked", True)]
    if stopped or broken:
        parts = []
        if stopped:
            parts.append(f"{len(stopped)} stopped by the chemistry check ({', '.join(_job_label(j) for j in stopped)})")
        if broken:
            parts.append(f"{len(broken)} done with broken frames")
        return _row(key, "not met", f"{len(stopped) + len(broken)} of {len(jobs)} jobs broken", "; ".join(parts))
    if unchecked or unchecked_done or not jobs:
        why = (f"{len(unchecked)} job(s) did not finish for other reasons" if unchecked else
               "no jobs" if not jobs else f"{len(unchecked_done)} job(s) analysed without the chemistry check")
        return _row(key, "not computed", "", why)
    return _row(key, "met", f"0 of {len(jobs)} jobs broken")


def _crystal_target(jobs, integrity):
    key = "crystals_keep_units"
    crystal_jobs = [j for j in jobs if j["statepoint"]["material"] != "glass"]
    if not crystal_jobs:
        return _row(key, "not computed", "", "no crystal jobs")
    stopped = _sorted_jobs(j for j in crystal_jobs if _chemistry_stopped(j))
    lost = [r for r in integrity if r["material"] != "glass" and str(r.get("crystal_units_lost")) == "True"]
    if stopped or lost:
        parts = []
        if stopped:
            parts.append(f"stopped for broken chemistry: {', '.join(_job_label(j) for j in stopped)}")
        if lost:
            parts.append("units lost: " + ", ".join(f"{_label(r['material'])} {r['temperature_K']:g}K" for r in lost))
        return _row(key, "not met", f"{len(stopped) + len(lost)} of {len(crystal_jobs)} crystal jobs", "; ".join(parts))
    checked = {r["job_id"] for r in integrity if str(r.get("crystal_units_lost")) == "False"}
    missing = [j for j in crystal_jobs if j["job_id"] not in checked]
    if missing:
        return _row(key, "not computed", "", "no unit check for " + ", ".join(_job_label(j) for j in missing))
    return _row(key, "met", f"0 of {len(crystal_jobs)} crystal jobs lost units")


def _sigma(transport, material, x=None, constraint="none"):
    """{T: sigma} of the unconstrained (or ``constraint``) rows of one material."""
    return {int(r["temperature_K"]): r["sigma_S_cm"] for r in transport
            if r["material"] == material and r["constraint"] == constraint
            and (x is None or abs(r["x_Li2S_mol_pct"] - x) < 1) and _finite(r["sigma_S_cm"])}


def _demo_temperatures(jobs, materials):
    return sorted({int(j["statepoint"]["temperature_K"]) for j in jobs if j["statepoint"]["material"] in materials})


def _ordering(key, points, compare, missing_at, name=lambda T: f"{T} K"):
    """Verdict over state points (temperatures): ``compare(p)`` -> (ratio that must exceed 1, text),
    or None when a result is missing (``missing_at(p)`` says which)."""
    if not points:
        return _row(key, "not computed", "", "no jobs of these materials")
    values, bad, missing = [], [], []
    for p in points:
        got = compare(p)
        if got is None:
            missing.append(f"{name(p)} ({missing_at(p)})")
            continue
        ratio, text = got
        values.append(f"{name(p)}: {text}")
        if not ratio > 1:
            bad.append(name(p))
    value = "; ".join(values)
    if bad:
        why = f"reversed at {', '.join(bad)}" + (f"; no result at {', '.join(missing)}" if missing else "")
        return _row(key, "not met", value, why)
    if missing:
        return _row(key, "not computed", value, "no result at " + ", ".join(missing))
    return _row(key, "met", value)


def _order_crystals(transport, jobs):
    series = {m: _sigma(transport, m) for m in HIGH_SIGMA_CRYSTALS + LOW_SIGMA_CRYSTALS}

    def compare(T):
        if any(T not in series[m] for m in series):
            return None
        hi = min(HIGH_SIGMA_CRYSTALS, key=lambda m: series[m][T])
        lo = max(LOW_SIGMA_CRYSTALS, key=lambda m: series[m][T])
        ratio = series[hi][T] / series[lo][T] if series[lo][T] > 0 else math.inf
        return ratio, f"{_label(hi)} {series[hi][T]:.2g} vs {_label(lo)} {series[lo][T]:.2g} S/cm"

    def missing_at(T):
        return ", ".join(_label(m) for m in series if T not in series[m])

    temps = _demo_temperatures(jobs, series)
    return _ordering("order_crystals", temps, compare, missing_at)


def _order_glass(transport, jobs):
    s75, s67 = _sigma(transport, "glass", 75.0), _sigma(transport, "glass", 67.0)

    def compare(T):
        if T not in s75 or T not in s67:
            return None
        ratio = s75[T] / s67[T] if s67[T] > 0 else math.inf
        return ratio, f"{s75[T]:.2g} vs {s67[T]:.2g} S/cm ({ratio:.2g}x)"

    def missing_at(T):
        return ", ".join(n for n, s in (("glass75", s75), ("glass67", s67)) if T not in s)

    temps = sorted({int(j["statepoint"]["temperature_K"]) for j in jobs if j["statepoint"]["material"] == "glass"
                    and j["statepoint"].get("constraint", "none") == "none"
                    and round(float(j["statepoint"]["x_Li2S_mol_pct"])) in (67, 75)})
    return _ordering("order_glass", temps, compare, missing_at)


def _frozen_target(frozen_ratio, transport, jobs):
    ratios = {(r["material"], r["x_Li2S_mol_pct"], int(r["temperature_K"])): r["ratio"] for r in frozen_ratio
              if r["constraint"] == "frozen_S" and _finite(r["ratio"])}
    points = sorted({(j["statepoint"]["material"], float(j["statepoint"]["x_Li2S_mol_pct"]),
                      int(j["statepoint"]["temperature_K"])) for j in jobs
                     if j["statepoint"].get("constraint") == "frozen_S"}, key=lambda p: (p[2], p[0], p[1]))

    def compare(p):
        if p not in ratios:
            return None
        ratio = ratios[p]
        # "lower" is ratio < 1, i.e. 1/ratio > 1 for the common rule of _ordering
        return (1 / ratio if ratio > 0 else math.inf), f"ratio {ratio:.2g}"

    def missing_at(p):
        have = {c for c in ("none", "frozen_S") if p[2] in _sigma(transport, p[0], p[1], c)}
        return ", ".join(f"{c} run" for c in ("none", "frozen_S") if c not in have) or "no ratio"

    return _ordering("frozen_S_lower", points, compare, missing_at,
                     name=lambda p: f"{_label(p[0], p[1])} {p[2]} K")


def _precision_target(transport, jobs):
    key = "D_precision"
    if not transport:
        return _row(key, "not computed", "", "no transport results")
    rel = {}
    for r in transport:
        D, err = r["D_cm2_s"], r.get("D_sem_cm2_s", math.nan)
        name = (f"{_label(r['material'], r['x_Li2S_mol_pct'])}"
                f"{'' if r['constraint'] == 'none' else ' ' + r['constraint']} {r['temperature_K']:g}K")
        rel[name] = err / D if _finite(D) and D > 0 and _finite(err) else math.inf
    worst = max(rel.values())
    over = sorted(((v, n) for n, v in rel.items() if not v <= MAX_D_REL_ERR), reverse=True)
    value = f"worst {worst:.0%}" if math.isfinite(worst) else "worst: D <= 0 or no error"
    n_points = len({(j["statepoint"]["material"], float(j["statepoint"]["x_Li2S_mol_pct"]),
                     j["statepoint"].get("constraint", "none"), int(j["statepoint"]["temperature_K"])) for j in jobs})
    if over:
        listed = ", ".join(f"{n} {v:.0%}" if math.isfinite(v) else f"{n} (D <= 0)" for v, n in over[:6])
        more = f" and {len(over) - 6} more" if len(over) > 6 else ""
        return _row(key, "not met", value, f"{len(over)} of {len(rel)} above {MAX_D_REL_ERR:.0%}: {listed}{more}")
    if n_points > len(rel):
        return _row(key, "not computed", value, f"{n_points - len(rel)} of {n_points} state points have no D")
    return _row(key, "met", value + f" over {len(rel)} state points")


def demo_targets(tables: dict, jobs: list[dict]) -> list[dict]:
    """The demo's targets, one row per :data:`TARGETS` entry, each with a verdict.

    Parameters
    ----------
    tables
        Aggregated tables of :func:`lpsens.gather.build_tables` (``transport``,
        ``frozen_ratio``, ``integrity`` are used; jobs with broken chemistry left out of the
        first two, as by default).
    jobs
        Every job of the campaign, as dicts with ``job_id``, ``statepoint`` (material,
        x_Li2S_mol_pct, constraint, temperature_K), ``status`` and ``reason`` (job document);
        failed jobs whose reason names a ``ChemistryError`` were stopped by the chemistry check.

    Returns
    -------
    list of dict
        Keys ``target, statement, value, met_if, verdict, why``; ``verdict`` is one of
        :data:`TARGET_VERDICTS` and ``why`` says what is missing or wrong.
    """
    transport = tables.get("transport", [])
    integrity = tables.get("integrity", [])
    return [_broken_target(jobs, integrity), _crystal_target(jobs, integrity), _order_crystals(transport, jobs),
            _order_glass(transport, jobs), _frozen_target(tables.get("frozen_ratio", []), transport, jobs),
            _precision_target(transport, jobs)]


def format_targets(rows: list[dict]) -> str:
    """The targets as text: a title with the count met, then one line per target
    (verdict, target, value, and after ``--`` why it is not met or not computed)."""
    met = sum(r["verdict"] == "met" for r in rows)
    lines = [f"== demo targets: {met} of {len(rows)} met (rules: demo_targets.csv; docs/user_guide.md, 'The demo')"]
    for r in rows:
        line = f"{r['verdict']:<13}{r['target']:<21}{r['value']}"
        if r["why"]:
            line += f" -- {r['why']}" if r["value"] else r["why"]
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"
