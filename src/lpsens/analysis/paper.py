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
SS_PEAK_CRYSTALS = ("beta_Li3PS4", "gamma_Li3PS4")
SS_PEAK_WINDOW_A = (4.0, 4.6)
#: A peak counts as present when its prominence in g(r) is at least this (g is dimensionless).
SS_PEAK_MIN_PROMINENCE = 0.05
#: The paper: the peak is gone above 650-700 K.
SS_PEAK_GONE_ABOVE_K = (650.0, 700.0)
#: "agrees" tolerances: sigma(300 K) of a fast crystal within this factor of SIGMA300_HIGH_S_CM;
#: sigma(75) / sigma(67) of the glasses ("about 3x"); sigma(frozen) / sigma(free) for a frozen S
#: sublattice ("about 2 orders of magnitude") and a frozen P one ("slightly").
SIGMA300_HIGH_FACTOR = 10
GLASS_75_OVER_67_AGREES = (1.5, 6.0)
FROZEN_RATIO_AGREES = {"frozen_S": (1e-3, 1e-1), "frozen_P": (0.3, 1.2)}


def _sci(x: float) -> str:
    """``3.6e-3``, ``1e-7``: a number in short scientific notation, as the paper writes it."""
    mantissa, exponent = f"{x:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


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


_HIGH = _sci(SIGMA300_HIGH_S_CM)
_LOW = tuple(_sci(v) for v in SIGMA300_LOW_RANGE_S_CM)
_PEAK_WINDOW = f"{SS_PEAK_WINDOW_A[0]:.1f}-{SS_PEAK_WINDOW_A[1]:.1f} A"
_PEAK_T = tuple(f"{T:g}" for T in SS_PEAK_GONE_ABOVE_K)
_FROZEN_S, _FROZEN_P = FROZEN_RATIO_AGREES["frozen_S"], FROZEN_RATIO_AGREES["frozen_P"]


def _label(material: str) -> str:
    return material.replace("_", "-")


def _key(prefix: str, material: str) -> str:
    """Row key of a claim on one crystal: ``sigma300_alpha``, ``sigma300_Li7P3S11``, ``SS_peak_beta``."""
    return f"{prefix}_{material.split('_')[0]}"


CLAIMS = (
    *(Claim(_key("sigma300", m), f"sigma(300 K) of {_label(m)} is among the highest",
            f"up to {_HIGH} S/cm", f"sigma(300 K) within a factor {SIGMA300_HIGH_FACTOR} of {_HIGH} S/cm")
      for m in HIGH_SIGMA_CRYSTALS),
    *(Claim(_key("sigma300", m), f"sigma(300 K) of {_label(m)} is low",
            f"{_LOW[0]} to {_LOW[1]} S/cm", f"the 95 % interval of sigma(300 K) overlaps {_LOW[0]}..{_LOW[1]} S/cm")
      for m in LOW_SIGMA_CRYSTALS),
    Claim("glass_75_over_67", "glass sigma rises from 67 to 75 mol% Li2S", "about 3x",
          "sigma(75) / sigma(67) between {:g} and {:g}".format(*GLASS_75_OVER_67_AGREES)),
    Claim("frozen_S", "freezing the S sublattice lowers sigma", "by about 2 orders of magnitude",
          f"sigma(frozen S) / sigma(free) between {_sci(_FROZEN_S[0])} and {_sci(_FROZEN_S[1])}"),
    Claim("frozen_P", "freezing the P sublattice lowers sigma only slightly", "slightly (well under 1 order)",
          f"sigma(frozen P) / sigma(free) between {_FROZEN_P[0]:g} and {_FROZEN_P[1]:g}"),
    *(Claim(_key("SS_peak", m),
            f"the S-S RDF peak at {SS_PEAK_A:g} A of {_label(m)} is gone above {_PEAK_T[0]}-{_PEAK_T[1]} K",
            f"{SS_PEAK_A:g} A peak present <= {_PEAK_T[0]} K, absent >= {_PEAK_T[1]} K",
            f"a peak (prominence >= {SS_PEAK_MIN_PROMINENCE}) in {_PEAK_WINDOW} at every T <= {_PEAK_T[0]} K "
            f"and at none >= {_PEAK_T[1]} K")
      for m in SS_PEAK_CRYSTALS),
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
    for mat in HIGH_SIGMA_CRYSTALS:
        key = _key("sigma300", mat)
        r = _sigma300(arrhenius, mat)
        if r is None:
            rows.append(_row(key, "not computed", why=f"no Arrhenius extrapolation of {mat} to 300 K"))
            continue
        s = r["sigma_300K_S_cm"]
        ok = SIGMA300_HIGH_S_CM / SIGMA300_HIGH_FACTOR <= s <= SIGMA300_HIGH_S_CM * SIGMA300_HIGH_FACTOR
        rows.append(_row(key, "agrees" if ok else "disagrees", s,
                         f"Arrhenius fit over {r.get('n_temperatures', '?')} temperatures extrapolated to 300 K"))
    for mat in LOW_SIGMA_CRYSTALS:
        key = _key("sigma300", mat)
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
    lo, hi = GLASS_75_OVER_67_AGREES
    return _row(key, "agrees" if lo <= ratio <= hi else "disagrees", ratio, basis)


def _frozen_claims(frozen_ratio):
    rows = []
    for key, con, (lo, hi) in ((con, con, FROZEN_RATIO_AGREES[con]) for con in ("frozen_S", "frozen_P")):
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
    for mat in SS_PEAK_CRYSTALS:
        key = _key("SS_peak", mat)
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
                why.append(f"RDF too short to reach {SS_PEAK_WINDOW_A[1]:.1f} A at " + ", ".join(short))
            why.append(f"needs {mat} runs at <= {lo_K:g} K and >= {hi_K:g} K with the RDF past "
                       f"{SS_PEAK_WINDOW_A[1]:.1f} A")
            rows.append(_row(key, "not computed", value or math.nan, why="; ".join(why)))
            continue
        ok = all(below.values()) and not any(above.values())
        rows.append(_row(key, "agrees" if ok else "disagrees", value,
                         f"S-S RDF averaged over replicas, peak search {_PEAK_WINDOW}"))
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
