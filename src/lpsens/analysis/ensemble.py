"""Ensemble tables beyond tracer Nernst-Einstein (issue 13): replicas pooled per state point, and the
transition temperature per crystal phase over the temperature series.

* :func:`dynamics_table` - per (material, x, constraint, T): the collective conductivity from the
  ``D_sigma`` block values of all replicas pooled (``n_replicas x n_blocks`` blocks, standard error of
  their mean x sqrt((n-1)/(n-3)); the collective MSD of one run is too noisy alone), the Haven ratio
  from the paired (tracer, collective) blocks of all replicas (delta method with their covariance),
  and replica means of tau1, re-orientation and jump rates and the paddle-wheel enrichment.
* :func:`transition_table` - per (material, x, constraint) with enough temperatures: the broken
  Arrhenius fit (:class:`~lpsens.analysis.transition.BrokenArrhenius`) of the transport table and the
  temperature at which the S-S RDF peak near 4.3 A vanishes
  (:class:`~lpsens.analysis.transition.RDFPeakTransition`), each with its interval.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from lpsens.analysis.collective import haven_ratio, pooled_blocks
from lpsens.analysis.conductivity import nernst_einstein_S_cm
from lpsens.analysis.transition import BrokenArrhenius, RDFPeakTransition, peak_prominence
from lpsens.errors import LpsensError

__all__ = ["dynamics_table", "transition_table", "REPLICA_MEAN_KEYS", "RDF_PEAK_A"]

#: per-run values averaged over replicas (mean and standard error over replicas)
REPLICA_MEAN_KEYS = ("PS4_tau1_ps", "PS4_reorientations_per_ps", "Li_jumps_per_ps_per_ion", "Li_residence_time_ps",
                     "paddlewheel_enrichment")
RDF_PEAK_A = 4.3


def _nan(x):
    return math.nan if x is None else float(x)


def _replica_mean(values) -> tuple[float, float]:
    v = np.array([_nan(x) for x in values], float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan


def _groups(records):
    g = defaultdict(list)
    for r in records:
        g[r.group_key].append(r)
    return dict(sorted(g.items()))


def dynamics_table(records) -> list[dict]:
    """Per (material, x, constraint, T) pooled dynamics; records are ``gather.JobRecord`` objects.

    Rows lack nothing: values that cannot be formed (no collective blocks, dynamics disabled) are NaN.
    """
    rows = []
    for (mat, x, con, T), recs in _groups(records).items():
        row = {"material": mat, "x_Li2S_mol_pct": x, "constraint": con, "temperature_K": T,
               "n_replicas": len(recs)}
        pairs = [(r.result.get("D_blocks_cm2_s"), r.result.get("D_sigma_blocks_cm2_s")) for r in recs]
        pairs = [(a, b) for a, b in pairs if a and b and len(a) == len(b)]
        sig = sig_err = H = H_err = D_s = D_s_err = math.nan
        if pairs:
            Dt = np.concatenate([np.asarray(a, float) for a, _ in pairs])
            Ds = np.concatenate([np.asarray(b, float) for _, b in pairs])
            try:
                D_s, D_s_err = pooled_blocks(Ds)
                factor = float(np.mean([nernst_einstein_S_cm(1.0, r.result["n_Li"], r.result["volume_A3"], T,
                                                             charge_number=r.result.get("charge_number", 1))
                                        for r in recs]))
                sig, sig_err = factor * D_s, factor * D_s_err
                H, H_err = haven_ratio(Dt, Ds)
            except LpsensError:
                pass
        row.update({"n_collective_blocks": sum(len(b) for _, b in pairs), "D_sigma_cm2_s": D_s,
                    "D_sigma_sem_cm2_s": D_s_err, "sigma_collective_S_cm": sig, "sigma_collective_sem_S_cm": sig_err,
                    "haven_ratio": H, "haven_ratio_err": H_err})
        for key in REPLICA_MEAN_KEYS:
            m, e = _replica_mean(r.result.get(key) for r in recs)
            row[key] = m
            row[f"{key}_sem"] = e
        rows.append(row)
    return rows


def transition_table(records, transport_rows) -> tuple[list[dict], list[str]]:
    """Per (material, x, constraint): broken-Arrhenius break temperature and RDF-peak vanishing temperature.

    Returns
    -------
    (rows, notes)
        One row per series with at least one of the two analyses; notes say what could not be fitted.
    """
    rows, notes = [], []
    series = defaultdict(list)
    for r in transport_rows:
        series[(r["material"], r["x_Li2S_mol_pct"], r["constraint"])].append(r)
    rdf = defaultdict(lambda: defaultdict(list))
    for rec in records:
        res = rec.result.get("rdf_SS")
        if not res:
            continue
        try:
            h = peak_prominence(res["r_A"], res["g"], RDF_PEAK_A)
        except LpsensError:
            continue
        mat, x, con, T = rec.group_key
        rdf[(mat, x, con)][T].append(h)
    for key in sorted(set(series) | set(rdf)):
        mat, x, con = key
        label = f"{mat} x={x:g} {con}"
        row = {"material": mat, "x_Li2S_mol_pct": x, "constraint": con}
        rs = sorted(series.get(key, []), key=lambda r: r["temperature_K"])
        try:
            b = BrokenArrhenius().compute([r["temperature_K"] for r in rs], [r["sigma_S_cm"] for r in rs],
                                          [r["sigma_sem_S_cm"] for r in rs]).result
            row.update({"arrhenius_break_found": b["break_found"], "arrhenius_break_p_value": b["p_value"],
                        "arrhenius_delta_bic": b["delta_bic"], "break_T_K": b["break_T_K"],
                        "break_T_low_K": b["break_T_low_K"], "break_T_high_K": b["break_T_high_K"],
                        "Ea_low_T_eV": b["Ea_low_T_eV"], "Ea_high_T_eV": b["Ea_high_T_eV"]})
        except LpsensError as exc:
            notes.append(f"no break-point Arrhenius fit for {label}: {exc}")
        by_T = rdf.get(key, {})
        if by_T:
            Ts = sorted(by_T)
            h = [float(np.mean(by_T[t])) for t in Ts]
            sem = [float(np.std(by_T[t], ddof=1) / math.sqrt(len(by_T[t]))) if len(by_T[t]) > 1 else math.nan
                   for t in Ts]
            # equal weights unless every temperature has a replica spread
            err = sem if all(math.isfinite(s) and s > 0 for s in sem) else None
            row["rdf_peak_prominence"] = " ".join(f"{t}:{v:.3f}" for t, v in zip(Ts, h, strict=True))
            try:
                p = RDFPeakTransition().compute(Ts, h, err).result
                row.update({"rdf_peak_vanish_T_K": p["vanish_T_K"], "rdf_peak_vanish_T_low_K": p["vanish_T_low_K"],
                            "rdf_peak_vanish_T_high_K": p["vanish_T_high_K"], "rdf_peak_decreasing": p["decreasing"]})
            except LpsensError as exc:
                notes.append(f"no RDF-peak transition for {label}: {exc}")
        if len(row) > 3:
            rows.append(row)
    # equal columns in every row (CSV, HDF5)
    cols = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    return [{c: r.get(c, math.nan) for c in cols} for r in rows], notes
