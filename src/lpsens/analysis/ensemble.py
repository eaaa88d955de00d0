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

Replica and temperature statistics of the per-job results (:mod:`lpsens.gather` reads them and
writes what is built here):

* :func:`replica_mean_sem` - the mean over replicas and its standard error;
* :func:`transport_table`, :func:`arrhenius_table` (with the rules for extrapolating to 300 K),
  :func:`anion_table`, :func:`volume_table`, :func:`frozen_ratio_table` (with
  :func:`ratio_with_error`), :func:`integrity_table`, and :func:`build_tables`, all of them.

The records are :class:`lpsens.gather.JobRecord` objects (``group_key``, ``result``, ``broken``).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from lpsens.analysis.arrhenius import ArrheniusFit
from lpsens.analysis.collective import haven_ratio, pooled_blocks
from lpsens.analysis.composition import ANION_KEYS
from lpsens.analysis.conductivity import nernst_einstein_S_cm
from lpsens.analysis.paper import SS_PEAK_A, paper_comparison
from lpsens.analysis.pipeline import uncertainty_flags
from lpsens.analysis.transition import BrokenArrhenius, RDFPeakTransition, peak_prominence
from lpsens.errors import LpsensError

__all__ = ["dynamics_table", "transition_table", "REPLICA_MEAN_KEYS", "RDF_PEAK_A", "ARRHENIUS_FIT",
           "MIN_EXTRAPOLATION_TEMPERATURES", "MAX_CI_RATIO", "replica_mean_sem", "ratio_with_error",
           "transport_table", "arrhenius_table", "anion_table", "volume_table", "frozen_ratio_table",
           "integrity_table", "build_tables"]

ARRHENIUS_FIT = "weighted least squares of ln(sigma T) against 1/T (weights 1/(sigma_err/sigma)^2)"

#: per-run values averaged over replicas (mean and standard error over replicas)
REPLICA_MEAN_KEYS = ("PS4_tau1_ps", "PS4_reorientations_per_ps", "Li_jumps_per_ps_per_ion", "Li_residence_time_ps",
                     "paddlewheel_enrichment")
RDF_PEAK_A = SS_PEAK_A  # the paper's S-S peak


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


def replica_mean_sem(values, errors) -> tuple[float, float, str]:
    """Mean over replicas and its standard error.

    One replica: its own (block-averaging) error. Several: the larger of the spread between replicas
    (std/sqrt(n)) and the combined within-run error (sqrt(sum err^2)/n), so that neither a lucky
    agreement of few replicas nor underestimated block errors make the result look too precise.
    """
    v = np.asarray(values, float)
    e = np.asarray(errors, float)
    n = v.size
    if n == 1:
        return float(v[0]), float(e[0]), "blocks"
    between = float(v.std(ddof=1) / math.sqrt(n))
    within = float(math.sqrt(np.sum(e**2)) / n)
    return float(v.mean()), max(between, within), "replicas" if between >= within else "blocks"


_HOP_ORDER = ("ok", "poor", "none")


def _worst_hops(recs) -> str:
    """The poorest hop statistics over replicas (``""`` for results from before hop counting)."""
    found = [r.result.get("hop_statistics") for r in recs]
    known = [h for h in found if h in _HOP_ORDER]
    return max(known, key=_HOP_ORDER.index) if known else ""


def transport_table(records, excluded=()) -> list[dict]:
    """Per (material, x, constraint, T): replica count, mean D and sigma with standard errors.

    ``hop_statistics`` is the poorest over the replicas; ``flags`` says why a row must not be read
    as a point (``error>value``, ``few-hops``, ``no-hops``; see :func:`uncertainty_flags`).
    ``excluded`` records (broken chemistry) are counted per group in ``n_excluded_broken``.
    """
    n_excluded = defaultdict(int)
    for r in excluded:
        n_excluded[r.group_key] += 1
    rows = []
    for (mat, x, con, T), recs in _groups(records).items():
        D, D_err, src = replica_mean_sem([r.result["D_cm2_s"] for r in recs], [r.result["D_err_cm2_s"] for r in recs])
        s, s_err, _ = replica_mean_sem([r.result["sigma_S_cm"] for r in recs], [r.result["sigma_err_S_cm"] for r in recs])
        hops = _worst_hops(recs)
        rows.append({"material": mat, "x_Li2S_mol_pct": x, "constraint": con, "temperature_K": T,
                     "n_replicas": len(recs), "D_cm2_s": D, "D_sem_cm2_s": D_err, "sigma_S_cm": s,
                     "sigma_sem_S_cm": s_err, "error_from": src, "hop_statistics": hops,
                     "flags": uncertainty_flags(D, D_err, hops or None),
                     "n_excluded_broken": n_excluded[(mat, x, con, T)]})
    return rows


#: An extrapolation needs at least this many temperatures (2 points always lie on a line).
MIN_EXTRAPOLATION_TEMPERATURES = 3
#: ... and a 95 % interval spanning at most this factor (high / low); wider is no number at all.
MAX_CI_RATIO = 100.0


def arrhenius_table(transport_rows, reference_T_K: float = 300.0) -> tuple[list[dict], list[str]]:
    """Per (material, x, constraint): Arrhenius fit of the transport table (see :data:`ARRHENIUS_FIT`).

    Temperatures whose runs saw no Li hop (``hop_statistics == "none"``: D is only an upper
    limit) are left out of the fit and listed in ``excluded_K``. The extrapolation to
    ``reference_T_K`` is reported only with >= :data:`MIN_EXTRAPOLATION_TEMPERATURES`
    temperatures and a 95 % interval narrower than :data:`MAX_CI_RATIO`; otherwise its columns
    are NaN and ``extrapolation`` says why. ``flags`` marks an Ea whose error exceeds it.
    """
    groups = defaultdict(list)
    for row in transport_rows:
        groups[(row["material"], row["x_Li2S_mol_pct"], row["constraint"])].append(row)
    rows, notes = [], []
    ref = f"{reference_T_K:g}K"
    for (mat, x, con), rs in sorted(groups.items()):
        used = [r for r in rs if r.get("hop_statistics") != "none"]
        no_hops = [r["temperature_K"] for r in rs if r.get("hop_statistics") == "none"]
        T = [r["temperature_K"] for r in used]
        base = {"material": mat, "x_Li2S_mol_pct": x, "constraint": con, "n_temperatures": len(T),
                "temperatures_K": " ".join(str(t) for t in T)}
        label = f"{mat} x={x:g} {con}"
        if no_hops:
            notes.append(f"Arrhenius fit of {label}: {', '.join(f'{t:g} K' for t in no_hops)} left out "
                         "(no Li hop in the run: D is only an upper limit)")
        try:
            fit = ArrheniusFit().compute(T, [r["sigma_S_cm"] for r in used], [r["sigma_sem_S_cm"] for r in used])
        except LpsensError as exc:
            notes.append(f"no Arrhenius fit for {label}: {exc.reason}")
            continue
        s_ref, lo, hi = fit.sigma_at(reference_T_K)
        n_T = len(set(T)) - len(fit.excluded_temperatures_K)
        if n_T < MIN_EXTRAPOLATION_TEMPERATURES:
            why = f"not extrapolated: {n_T} temperatures (needs >= {MIN_EXTRAPOLATION_TEMPERATURES})"
        elif not (hi / lo <= MAX_CI_RATIO):
            why = f"not extrapolated: the 95 % interval spans a factor {hi / lo:.2g} (> {MAX_CI_RATIO:g})"
        else:
            why = ""
        if why:
            notes.append(f"sigma({ref}) of {label} {why}")
            s_ref = lo = hi = math.nan
        Ea, Ea_err = fit.activation_energy_eV, fit.activation_energy_err_eV
        rows.append({**base, "Ea_eV": Ea, "Ea_err_eV": Ea_err,
                     "ln_prefactor_S_K_cm": fit.ln_prefactor, f"sigma_{ref}_S_cm": s_ref,
                     f"sigma_{ref}_ci95_low_S_cm": lo, f"sigma_{ref}_ci95_high_S_cm": hi,
                     "extrapolation": why or "ok", "reduced_chi2": fit.reduced_chi2,
                     "excluded_K": " ".join(f"{t:g}" for t in sorted({*fit.excluded_temperatures_K, *no_hops})),
                     "flags": "error>value" if not Ea_err < abs(Ea) else "", "fit": ARRHENIUS_FIT})
    return rows, notes


def anion_table(records) -> list[dict]:
    """Per (material, x, constraint, T): mean anion counts per frame and the share of each kind."""
    rows = []
    for (mat, x, con, T), recs in _groups(records).items():
        counts = {k: float(np.mean([r.result["anion_counts"].get(k, 0.0) for r in recs])) for k in ANION_KEYS}
        total = sum(counts.values())
        row = {"material": mat, "x_Li2S_mol_pct": x, "constraint": con, "temperature_K": T,
               "n_replicas": len(recs), **counts}
        row.update({f"{k}_fraction": (counts[k] / total if total > 0 else math.nan) for k in ANION_KEYS})
        rows.append(row)
    return rows


def volume_table(records) -> list[dict]:
    """Per (material, x, constraint, T): Li accessible fraction of the cell (mean, and sem over replicas)."""
    rows = []
    for (mat, x, con, T), recs in _groups(records).items():
        f = np.array([r.result.get("li_accessible_fraction", math.nan) for r in recs], float)
        f = f[np.isfinite(f)]
        if f.size == 0:
            continue
        sem = float(f.std(ddof=1) / math.sqrt(f.size)) if f.size > 1 else math.nan
        vols = [r.result["volume_A3"] for r in recs]
        rows.append({"material": mat, "x_Li2S_mol_pct": x, "constraint": con, "temperature_K": T,
                     "n_replicas": int(f.size), "accessible_fraction": float(f.mean()), "accessible_fraction_sem": sem,
                     "accessible_volume_A3": float(f.mean() * np.mean(vols)),
                     "isovalue_relative": recs[0].result.get("li_accessible_volume", {}).get("isovalue_relative")})
    return rows


def ratio_with_error(a: float, a_err: float, b: float, b_err: float) -> tuple[float, float]:
    """``a / b`` and its standard error by first-order propagation of independent errors.

    ``err = |a/b| sqrt((a_err/a)^2 + (b_err/b)^2)``; for ``a == 0`` (no relative error of
    ``a``) the error is ``a_err / |b|``. ``b`` must not be 0.
    """
    ratio = a / b
    rel_a = a_err / a if a else math.inf
    rel_b = b_err / b
    err = abs(ratio) * math.sqrt(rel_a**2 + rel_b**2) if math.isfinite(rel_a) else a_err / abs(b)
    return ratio, err


def frozen_ratio_table(transport_rows) -> list[dict]:
    """sigma(frozen_S or frozen_P) / sigma(none) at equal material, x and T, with propagated errors."""
    ref = {(r["material"], r["x_Li2S_mol_pct"], r["temperature_K"]): r for r in transport_rows
           if r["constraint"] == "none"}
    rows = []
    for r in transport_rows:
        if r["constraint"] == "none":
            continue
        base = ref.get((r["material"], r["x_Li2S_mol_pct"], r["temperature_K"]))
        if base is None or base["sigma_S_cm"] == 0:
            continue
        ratio, err = ratio_with_error(r["sigma_S_cm"], r["sigma_sem_S_cm"], base["sigma_S_cm"], base["sigma_sem_S_cm"])
        rows.append({"material": r["material"], "x_Li2S_mol_pct": r["x_Li2S_mol_pct"],
                     "temperature_K": r["temperature_K"], "constraint": r["constraint"],
                     "sigma_S_cm": r["sigma_S_cm"], "sigma_none_S_cm": base["sigma_S_cm"], "ratio": ratio,
                     "ratio_err": err, "flags": "error>value" if not err < abs(ratio) else ""})
    return rows


def integrity_table(records, include_broken: bool = False) -> list[dict]:
    """Per job: the chemistry integrity verdict and whether the job enters the aggregated tables."""
    rows = []
    for r in sorted(records, key=lambda r: (r.group_key, r.statepoint.get("replica", 0), r.job_id)):
        entry = r.integrity
        first = (entry or {}).get("first_broken") or {}
        mat, x, con, T = r.group_key
        rows.append({"job_id": r.job_id, "material": mat, "x_Li2S_mol_pct": x, "constraint": con,
                     "temperature_K": T, "replica": int(r.statepoint.get("replica", 0)),
                     "checked": entry is not None,
                     "broken": r.broken,
                     "broken_fraction": float(entry["broken_fraction"]) if entry else math.nan,
                     "first_broken_ps": float(first["time_ps"]) if first else math.nan,
                     "crystal_units_lost": str((entry or {}).get("crystal_units_lost")),
                     "excluded": r.broken and not include_broken,
                     "reason": (entry or {}).get("reason") or ("" if entry else
                                                              "not checked: rerun 'lpsens analyze --force'")})
    return rows


def build_tables(records, include_broken: bool = False) -> tuple[dict[str, list[dict]], list[str]]:
    """All aggregated tables, by name, and notes on what could not be computed.

    Jobs with broken chemistry (:attr:`JobRecord.broken`) are left out of every aggregated table
    and fit unless ``include_broken``; the ``integrity`` table lists every job and the notes say
    how many were excluded. The ``paper`` table sets the paper's values and trends next to the
    campaign's (:func:`lpsens.analysis.paper.paper_comparison`).
    """
    broken = [r for r in records if r.broken]
    kept = records if include_broken else [r for r in records if not r.broken]
    transport = transport_table(kept, excluded=() if include_broken else broken)
    arrhenius, notes = arrhenius_table(transport)
    if broken and not include_broken:
        notes.insert(0, f"{len(broken)} of {len(records)} jobs have broken chemistry and are excluded from the tables "
                        "and fits (column n_excluded_broken; 'lpsens gather --include-broken' includes them)")
    elif broken:
        notes.insert(0, f"{len(broken)} of {len(records)} jobs have broken chemistry and are INCLUDED in the tables "
                        "and fits (--include-broken)")
    tables = {"transport": transport, "arrhenius": arrhenius, "anions": anion_table(kept),
              "accessible_volume": volume_table(kept), "frozen_ratio": frozen_ratio_table(transport),
              "integrity": integrity_table(records, include_broken)}
    # beyond tracer Nernst-Einstein (issue 13): pooled collective sigma, Haven ratio, rotations, jumps;
    # transition temperatures per series
    tables["dynamics"] = dynamics_table(kept)
    tables["transition"], transition_notes = transition_table(kept, transport)
    tables["paper"] = paper_comparison(tables, kept)
    return tables, notes + transition_notes
