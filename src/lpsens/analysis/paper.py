"""The paper's reported values and trends, and a plain verdict on each from a campaign's own results.

Source (the only place these numbers are stated in lpsens):
C. G. Staacke, T. Huss, J. T. Margraf, K. Reuter, C. Scheurer, "Tackling Structural Complexity in
Li2S-P2S5 Solid-State Electrolytes Using Machine Learning Potentials", Nanomaterials 2022, 12,
2950, doi:10.3390/nano12092950 (GAP MD of Li3PS4 phases, Li7P3S11 and glasses).

Each claim gets one verdict: ``agrees``, ``disagrees`` or ``not computed`` (with why). The
tolerances of "agrees" are stated next to each claim (:data:`CLAIMS`) and in docs/analysis.md;
they are deliberately loose (orders of magnitude, factors of two) because the paper's own numbers
are ranges or trends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["CITATION", "CLAIMS", "Claim", "paper_comparison", "has_ss_peak", "SS_PEAK_A", "VERDICTS",
           "SIGMA300_HIGH_S_CM", "SIGMA300_LOW_RANGE_S_CM", "SS_PEAK_GONE_ABOVE_K"]

CITATION = ("Staacke, Huss, Margraf, Reuter, Scheurer, Nanomaterials 2022, 12, 2950, "
            "doi:10.3390/nano12092950")
VERDICTS = ("agrees", "disagrees", "not computed")

#: The paper's fast crystals and its slow ones (Fig. 1).
HIGH_SIGMA_CRYSTALS = ("alpha_Li3PS4", "Li7P3S11")
LOW_SIGMA_CRYSTALS = ("beta_Li3PS4", "gamma_Li3PS4")
#: sigma(300 K) of alpha-Li3PS4 and Li7P3S11: "up to" this (S/cm).
SIGMA300_HIGH_S_CM = 3.6e-3
#: sigma(300 K) range of beta- and gamma-Li3PS4 (S/cm).
SIGMA300_LOW_RANGE_S_CM = (1e-7, 1e-5)
#: The S-S RDF peak of beta/gamma-Li3PS4 whose disappearance marks the transition to the alpha-like phase.
SS_PEAK_A = 4.3
SS_PEAK_WINDOW_A = (4.0, 4.6)
#: A peak counts as present when its prominence in g(r) is at least this (g is dimensionless).
SS_PEAK_MIN_PROMINENCE = 0.05
#: The paper: the peak is gone above 650-700 K.
SS_PEAK_GONE_ABOVE_K = (650.0, 700.0)


@dataclass(frozen=True)
class Claim:
    """One reported value or trend of the paper.

    Attributes
    ----------
    key
        Short identifier (row key of the comparison table).
    statement
        The paper's statement, in words.
    paper_value
        The number(s) the paper gives, as text.
    agrees_if
        The tolerance used for the verdict, in words.
    """

    key: str
    statement: str
    paper_value: str
    agrees_if: str


CLAIMS = (
    Claim("sigma300_alpha", "sigma(300 K) of alpha-Li3PS4 is among the highest", "up to 3.6e-3 S/cm",
          "sigma(300 K) within a factor 10 of 3.6e-3 S/cm"),
    Claim("sigma300_Li7P3S11", "sigma(300 K) of Li7P3S11 is among the highest", "up to 3.6e-3 S/cm",
          "sigma(300 K) within a factor 10 of 3.6e-3 S/cm"),
    Claim("sigma300_beta", "sigma(300 K) of beta-Li3PS4 is low", "1e-7 to 1e-5 S/cm",
          "the 95 % interval of sigma(300 K) overlaps 1e-7..1e-5 S/cm"),
    Claim("sigma300_gamma", "sigma(300 K) of gamma-Li3PS4 is low", "1e-7 to 1e-5 S/cm",
          "the 95 % interval of sigma(300 K) overlaps 1e-7..1e-5 S/cm"),
    Claim("glass_75_over_67", "glass sigma rises from 67 to 75 mol% Li2S", "about 3x",
          "sigma(75) / sigma(67) between 1.5 and 6"),
    Claim("frozen_S", "freezing the S sublattice lowers sigma", "by about 2 orders of magnitude",
          "sigma(frozen S) / sigma(free) between 1e-3 and 1e-1"),
    Claim("frozen_P", "freezing the P sublattice lowers sigma only slightly", "slightly (well under 1 order)",
          "sigma(frozen P) / sigma(free) between 0.3 and 1.2"),
    Claim("SS_peak_beta", "the S-S RDF peak at 4.3 A of beta-Li3PS4 is gone above 650-700 K",
          "4.3 A peak present <= 650 K, absent >= 700 K",
          f"a peak (prominence >= {SS_PEAK_MIN_PROMINENCE}) in 4.0-4.6 A at every T <= 650 K and at none >= 700 K"),
    Claim("SS_peak_gamma", "the S-S RDF peak at 4.3 A of gamma-Li3PS4 is gone above 650-700 K",
          "4.3 A peak present <= 650 K, absent >= 700 K",
          f"a peak (prominence >= {SS_PEAK_MIN_PROMINENCE}) in 4.0-4.6 A at every T <= 650 K and at none >= 700 K"),
)
_BY_KEY = {c.key: c for c in CLAIMS}


def _finite(v) -> bool:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and math.isfinite(v)


def _row(key, verdict, value=math.nan, basis="", why=""):
    c = _BY_KEY[key]
    return {"claim": c.key, "statement": c.statement, "paper_value": c.paper_value, "campaign_value": value,
            "basis": basis, "agrees_if": c.agrees_if, "verdict": verdict, "why": why}


def _sigma300(arrhenius, material, x=None):
    for r in arrhenius:
        if r["material"] == material and r["constraint"] == "none" and (x is None or abs(r["x_Li2S_mol_pct"] - x) < 1):
            s = r.get("sigma_300K_S_cm")
            if _finite(s) and s > 0:
                return r
    return None


def _sigma_claims(arrhenius):
    rows = []
    for key, mat in zip(("sigma300_alpha", "sigma300_Li7P3S11"), HIGH_SIGMA_CRYSTALS, strict=True):
        r = _sigma300(arrhenius, mat)
        if r is None:
            rows.append(_row(key, "not computed", why=f"no Arrhenius extrapolation of {mat} to 300 K"))
            continue
        s = r["sigma_300K_S_cm"]
        ok = SIGMA300_HIGH_S_CM / 10 <= s <= SIGMA300_HIGH_S_CM * 10
        rows.append(_row(key, "agrees" if ok else "disagrees", s,
                         f"Arrhenius fit over {r.get('n_temperatures', '?')} temperatures extrapolated to 300 K"))
    for key, mat in zip(("sigma300_beta", "sigma300_gamma"), LOW_SIGMA_CRYSTALS, strict=True):
        r = _sigma300(arrhenius, mat)
        if r is None:
            rows.append(_row(key, "not computed", why=f"no Arrhenius extrapolation of {mat} to 300 K"))
            continue
        s = r["sigma_300K_S_cm"]
        lo, hi = r.get("sigma_300K_ci95_low_S_cm", s), r.get("sigma_300K_ci95_high_S_cm", s)
        lo = lo if _finite(lo) else s
        hi = hi if _finite(hi) else s
        ok = hi >= SIGMA300_LOW_RANGE_S_CM[0] and lo <= SIGMA300_LOW_RANGE_S_CM[1]
        rows.append(_row(key, "agrees" if ok else "disagrees", s,
                         f"Arrhenius fit over {r.get('n_temperatures', '?')} temperatures extrapolated to 300 K, "
                         f"95 % interval {lo:.2g}..{hi:.2g} S/cm"))
    return rows


def _glass_claim(arrhenius, transport):
    key = "glass_75_over_67"
    a75, a67 = _sigma300(arrhenius, "glass", 75.0), _sigma300(arrhenius, "glass", 67.0)
    if a75 is not None and a67 is not None:
        ratio, basis = a75["sigma_300K_S_cm"] / a67["sigma_300K_S_cm"], "Arrhenius fits at 300 K"
    else:
        def by_T(x):
            return {r["temperature_K"]: r["sigma_S_cm"] for r in transport if r["material"] == "glass"
                    and r["constraint"] == "none" and abs(r["x_Li2S_mol_pct"] - x) < 1 and r["sigma_S_cm"] > 0}
        s75, s67 = by_T(75.0), by_T(67.0)
        common = sorted(set(s75) & set(s67))
        if not common:
            return _row(key, "not computed", why="no glass at 67 and 75 mol% Li2S at a common temperature")
        ratio = float(np.exp(np.mean([np.log(s75[T] / s67[T]) for T in common])))
        basis = "geometric mean over the common temperatures " + " ".join(f"{T:g}" for T in common) + " K"
    return _row(key, "agrees" if 1.5 <= ratio <= 6 else "disagrees", ratio, basis)


def _frozen_claims(frozen_ratio):
    rows = []
    for key, con, (lo, hi) in (("frozen_S", "frozen_S", (1e-3, 1e-1)), ("frozen_P", "frozen_P", (0.3, 1.2))):
        rs = [r for r in frozen_ratio if r["constraint"] == con and _finite(r["ratio"]) and r["ratio"] > 0]
        if not rs:
            rows.append(_row(key, "not computed", why=f"no {con} run next to an unconstrained one at equal T"))
            continue
        ratio = float(np.exp(np.mean([np.log(r["ratio"]) for r in rs])))
        where = sorted({f"{r['material']} x={r['x_Li2S_mol_pct']:g} {r['temperature_K']:g} K" for r in rs})
        rows.append(_row(key, "agrees" if lo <= ratio <= hi else "disagrees", ratio,
                         "geometric mean of sigma ratios: " + ", ".join(where)))
    return rows


def has_ss_peak(r_A, g) -> bool | None:
    """Whether g(r) has a peak in :data:`SS_PEAK_WINDOW_A` with prominence >= :data:`SS_PEAK_MIN_PROMINENCE`.

    None if the RDF does not reach past the window (r_max too short).
    """
    from scipy.signal import find_peaks

    r, g = np.asarray(r_A, float), np.asarray(g, float)
    if r.size < 5 or r[-1] < SS_PEAK_WINDOW_A[1] + 0.2:
        return None
    peaks, props = find_peaks(g, prominence=SS_PEAK_MIN_PROMINENCE)
    inside = (r[peaks] >= SS_PEAK_WINDOW_A[0]) & (r[peaks] <= SS_PEAK_WINDOW_A[1])
    return bool(inside.any())


def _peak_claims(records):
    rows = []
    lo_K, hi_K = SS_PEAK_GONE_ABOVE_K
    for key, mat in (("SS_peak_beta", "beta_Li3PS4"), ("SS_peak_gamma", "gamma_Li3PS4")):
        curves = {}
        for rec in records:
            sp = rec.statepoint
            if sp["material"] == mat and sp["constraint"] == "none" and "rdf_SS" in rec.result:
                curves.setdefault(int(sp["temperature_K"]), []).append(rec.result["rdf_SS"])
        present, short = {}, []
        for T, cs in sorted(curves.items()):
            n = min(len(c["r_A"]) for c in cs)
            g = np.mean([np.asarray(c["g"][:n], float) for c in cs], axis=0)
            p = has_ss_peak(cs[0]["r_A"][:n], g)
            if p is None:
                short.append(f"{T} K (r_max {cs[0]['r_A'][n - 1]:.2f} A)")
            else:
                present[T] = p
        below = {T: p for T, p in present.items() if T <= lo_K}
        above = {T: p for T, p in present.items() if T >= hi_K}
        value = " ".join(f"{T}K:{'peak' if p else 'none'}" for T, p in sorted(present.items()))
        if not below or not above:
            why = []
            if short:
                why.append("RDF too short to reach 4.6 A at " + ", ".join(short))
            why.append(f"needs {mat} runs at <= {lo_K:g} K and >= {hi_K:g} K with the RDF past 4.6 A")
            rows.append(_row(key, "not computed", value or math.nan, why="; ".join(why)))
            continue
        ok = all(below.values()) and not any(above.values())
        rows.append(_row(key, "agrees" if ok else "disagrees", value,
                         "S-S RDF averaged over replicas, peak search 4.0-4.6 A"))
    return rows


def paper_comparison(tables: dict, records) -> list[dict]:
    """The paper's values and trends next to the campaign's, one row per :data:`CLAIMS` entry.

    Parameters
    ----------
    tables
        Aggregated tables of :func:`lpsens.gather.build_tables` (``transport``, ``arrhenius``,
        ``frozen_ratio`` are used).
    records
        The gathered :class:`lpsens.gather.JobRecord` (their ``rdf_SS`` curves are used).

    Returns
    -------
    list of dict
        Keys ``claim, statement, paper_value, campaign_value, basis, agrees_if, verdict, why``;
        ``verdict`` is one of :data:`VERDICTS`.
    """
    arrhenius = tables.get("arrhenius", [])
    rows = _sigma_claims(arrhenius)
    rows.append(_glass_claim(arrhenius, tables.get("transport", [])))
    rows += _frozen_claims(tables.get("frozen_ratio", []))
    rows += _peak_claims(records)
    order = {c.key: k for k, c in enumerate(CLAIMS)}
    return sorted(rows, key=lambda r: order[r["claim"]])
