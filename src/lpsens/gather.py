"""Gather per-job analyses into one consolidated HDF5 file, aggregated tables (CSV + text) and figures.

``gather(root, output)`` reads ``analysis.json`` of every job of the signac project, skips (and
reports) jobs whose file is missing or corrupt, and writes ``output`` through a temporary name and a
rename, so a crash never leaves a file that looks complete.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np

from lpsens import __version__
from lpsens.analysis.arrhenius import ArrheniusFit
from lpsens.analysis.composition import ANION_KEYS
from lpsens.analysis.ensemble import dynamics_table, transition_table
from lpsens.analysis.integrity import integrity_summary
from lpsens.analysis.paper import CITATION, paper_comparison
from lpsens.analysis.pipeline import RESULT_FORMAT, uncertainty_flags
from lpsens.errors import DocumentError, LpsensError, ProjectError
from lpsens.status import read_job_document, utcnow
from lpsens.vocabulary import STATEPOINT_KEYS, results_group

__all__ = ["JobRecord", "GatherResult", "load_records", "transport_table", "arrhenius_table", "anion_table",
           "volume_table", "frozen_ratio_table", "build_tables", "format_table", "write_csv", "write_results_h5",
           "gather", "RESULTS_FORMAT", "RESULTS_VERSION", "ARRHENIUS_FIT", "integrity_table"]

RESULTS_FORMAT = "lpsens-results"
RESULTS_VERSION = 1
ARRHENIUS_FIT = "weighted least squares of ln(sigma T) against 1/T (weights 1/(sigma_err/sigma)^2)"
_REQUIRED = ("D_cm2_s", "D_err_cm2_s", "sigma_S_cm", "sigma_err_S_cm", "temperature_K", "n_Li", "volume_A3",
             "anion_counts")


@dataclass
class JobRecord:
    """One analysed job: its state point, its ``analysis.json`` and its job document (provenance)."""

    job_id: str
    statepoint: dict
    result: dict
    doc: dict

    @property
    def integrity(self) -> dict | None:
        """The chemistry integrity entry of the analysis (None: analysed before lpsens checked it)."""
        return integrity_summary(self.result)

    @property
    def broken(self) -> bool:
        """True if the trajectory has broken chemistry (or a crystal lost its units)."""
        entry = self.integrity
        return bool(entry and entry["broken"])

    @property
    def group_key(self) -> tuple:
        sp = self.statepoint
        return (sp["material"], float(sp["x_Li2S_mol_pct"]), sp["constraint"], int(sp["temperature_K"]))


@dataclass
class GatherResult:
    """What :func:`gather` wrote."""

    output: Path
    records: list[JobRecord]
    skipped: list[tuple[str, str]]
    tables: dict[str, list[dict]]
    csv_files: list[Path] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    text: str = ""
    broken: list[JobRecord] = field(default_factory=list)
    include_broken: bool = False


# ---------------------------------------------------------------------------------------------- loading
def _check_result(result) -> str | None:
    if not isinstance(result, dict):
        return "analysis.json is not a JSON object"
    if result.get("format") != RESULT_FORMAT:
        return f"analysis.json format is {result.get('format')!r}, expected {RESULT_FORMAT!r}"
    missing = [k for k in _REQUIRED if k not in result]
    if missing:
        return f"analysis.json lacks {', '.join(missing)}"
    for k in ("D_cm2_s", "D_err_cm2_s", "sigma_S_cm", "sigma_err_S_cm"):
        if not isinstance(result[k], (int, float)) or not math.isfinite(result[k]):
            return f"analysis.json has a non-numeric {k} = {result[k]!r}"
    return None


def load_records(root) -> tuple[list[JobRecord], list[tuple[str, str]]]:
    """Analysed jobs of the project at ``root`` and the (job id, reason) of jobs skipped.

    Jobs that are not ``done`` are not listed as skipped (they have nothing to gather yet).
    """
    records, skipped, _ = _load(root)
    return records, skipped


def _load(root) -> tuple[list[JobRecord], list[tuple[str, str]], list[str]]:
    """:func:`load_records` and the ids of ``failed`` jobs, reading each job document once."""
    import signac

    try:
        project = signac.get_project(str(root), search=False)
    except LookupError:
        raise ProjectError("no signac project here; run 'lpsens init' or pass --root", file=root) from None
    records, skipped, failed = [], [], []
    for job in sorted(project, key=lambda j: j.id):
        try:
            doc = read_job_document(job.path)
        except DocumentError as exc:
            skipped.append((job.id, exc.reason if exc.file is None else f"{exc.file}: {exc.reason}"))
            continue
        if doc.get("status") != "done":
            if doc.get("status") == "failed":
                failed.append(job.id)
            continue
        sp = dict(job.sp())
        missing = [k for k in STATEPOINT_KEYS if k not in sp]
        if missing:
            skipped.append((job.id, f"state point lacks {', '.join(missing)}"))
            continue
        path = Path(job.fn("analysis.json"))
        if not path.is_file():
            reason = doc.get("analysis_error") or "no analysis.json (run 'lpsens analyze')"
            skipped.append((job.id, f"{path}: {reason}"))
            continue
        try:
            with open(path) as fh:
                result = json.load(fh)
        except (OSError, ValueError) as exc:
            skipped.append((job.id, f"{path}: unreadable ({exc}); rerun 'lpsens analyze --force'"))
            continue
        problem = _check_result(result)
        if problem:
            skipped.append((job.id, f"{path}: {problem}; rerun 'lpsens analyze --force'"))
            continue
        records.append(JobRecord(job.id, sp, result, doc))
    return records, skipped, failed


# ---------------------------------------------------------------------------------------------- tables
def _mean_sem(values, errors) -> tuple[float, float, str]:
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


def _group(records):
    groups = defaultdict(list)
    for r in records:
        groups[r.group_key].append(r)
    return dict(sorted(groups.items()))


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
    for (mat, x, con, T), recs in _group(records).items():
        D, D_err, src = _mean_sem([r.result["D_cm2_s"] for r in recs], [r.result["D_err_cm2_s"] for r in recs])
        s, s_err, _ = _mean_sem([r.result["sigma_S_cm"] for r in recs], [r.result["sigma_err_S_cm"] for r in recs])
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
    for (mat, x, con, T), recs in _group(records).items():
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
    for (mat, x, con, T), recs in _group(records).items():
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
        ratio = r["sigma_S_cm"] / base["sigma_S_cm"]
        rel_a = r["sigma_sem_S_cm"] / r["sigma_S_cm"] if r["sigma_S_cm"] else math.inf
        rel_b = base["sigma_sem_S_cm"] / base["sigma_S_cm"]
        err = abs(ratio) * math.sqrt(rel_a**2 + rel_b**2) if math.isfinite(rel_a) else r["sigma_sem_S_cm"] / abs(
            base["sigma_S_cm"])
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


def _fmt(v) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            return "-"
        return f"{v:.4g}" if (v == 0 or 1e-3 <= abs(v) < 1e5) else f"{v:.3e}"
    return str(v)


def format_table(title: str, rows: list[dict], columns: list[str] | None = None) -> str:
    """A readable fixed-width text table."""
    if not rows:
        return f"== {title}: (no data)\n"
    columns = columns or list(rows[0])
    cells = [[_fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    out = io.StringIO()
    out.write(f"== {title}\n")
    out.write("  ".join(c.rjust(w) for c, w in zip(columns, widths)) + "\n")
    for row in cells:
        out.write("  ".join(v.rjust(w) for v, w in zip(row, widths)) + "\n")
    return out.getvalue()


_TEXT_COLUMNS = {
    "transport": ["material", "x_Li2S_mol_pct", "constraint", "temperature_K", "n_replicas", "D_cm2_s", "D_sem_cm2_s",
                  "sigma_S_cm", "sigma_sem_S_cm", "hop_statistics", "flags", "n_excluded_broken"],
    "arrhenius": ["material", "x_Li2S_mol_pct", "constraint", "n_temperatures", "Ea_eV", "Ea_err_eV",
                  "sigma_300K_S_cm", "sigma_300K_ci95_low_S_cm", "sigma_300K_ci95_high_S_cm", "flags",
                  "extrapolation"],
    "anions": ["material", "x_Li2S_mol_pct", "constraint", "temperature_K", "n_replicas", *ANION_KEYS],
    "accessible_volume": ["material", "x_Li2S_mol_pct", "constraint", "temperature_K", "n_replicas",
                          "accessible_fraction", "accessible_fraction_sem"],
    "frozen_ratio": ["material", "x_Li2S_mol_pct", "temperature_K", "constraint", "ratio", "ratio_err", "flags"],
    "paper": ["claim", "paper_value", "campaign_value", "verdict", "why"],
    "integrity": ["job_id", "material", "x_Li2S_mol_pct", "constraint", "temperature_K", "replica", "broken",
                  "broken_fraction", "excluded", "reason"],
    "dynamics": ["material", "x_Li2S_mol_pct", "constraint", "temperature_K", "n_replicas", "sigma_collective_S_cm",
                 "sigma_collective_sem_S_cm", "haven_ratio", "haven_ratio_err", "PS4_tau1_ps",
                 "PS4_reorientations_per_ps", "Li_jumps_per_ps_per_ion", "paddlewheel_enrichment"],
    "transition": ["material", "x_Li2S_mol_pct", "constraint", "arrhenius_break_found", "break_T_K", "break_T_low_K",
                   "break_T_high_K", "rdf_peak_vanish_T_K", "rdf_peak_vanish_T_low_K", "rdf_peak_vanish_T_high_K"],
}


def _atomic_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def write_csv(path, rows: list[dict]) -> Path:
    """Write rows (dicts with equal keys) as CSV, atomically."""
    path = Path(path)
    tmp = _atomic_path(path)
    with open(tmp, "w", newline="") as fh:
        if rows:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------------------------- HDF5
def _elapsed_s(doc) -> float | None:
    try:
        return (datetime.fromisoformat(doc["finished"]) - datetime.fromisoformat(doc["started"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None


def _set_attr(attrs, key, value):
    if value is None:
        return
    if isinstance(value, (dict, list, tuple)):
        attrs[key] = json.dumps(value)
    elif isinstance(value, (bool, int, float, str, np.number)):
        attrs[key] = value
    else:
        attrs[key] = str(value)


def write_results_h5(path, records, tables, skipped, root=None, include_broken: bool = False) -> Path:
    """Write the consolidated HDF5 file through a temporary name and a rename.

    Layout: one group per state point ``/statepoints/<material>/x<x>/<constraint>/T<T>K/replica<r>``
    with the scalar results and the provenance as attributes and the curves as datasets;
    ``/tables/<name>/<column>`` with the aggregated tables.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _atomic_path(path)
    try:
        with h5py.File(tmp, "w") as h:
            h.attrs.update({"format": RESULTS_FORMAT, "format_version": RESULTS_VERSION, "lpsens_version": __version__,
                            "created": utcnow(), "n_jobs": len(records), "root": str(root or ""),
                            "skipped": json.dumps(skipped), "arrhenius_fit": ARRHENIUS_FIT,
                            "n_jobs_broken": sum(r.broken for r in records), "include_broken": include_broken,
                            "paper_reference": CITATION})
            for rec in records:
                g = h.create_group(results_group(rec.statepoint))
                res, doc = rec.result, rec.doc
                g.attrs["job_id"] = rec.job_id
                for k, v in rec.statepoint.items():
                    _set_attr(g.attrs, f"sp_{k}", v)
                for k in (*_REQUIRED, "li_accessible_fraction", "msd_loglog_slope", "temperature_measured_K",
                          "n_frames", "duration_ps", "charge_number", "haven_ratio_assumed", "free_S_count", "fit",
                          "hop_statistics", "n_hops", "n_hopping_Li", "uncertain",
                          "settings", "analysed", "complete"):
                    _set_attr(g.attrs, k, res.get(k))
                _set_attr(g.attrs, "analysis_lpsens_version", res.get("lpsens_version"))
                potential = doc.get("potential") or {}
                _set_attr(g.attrs, "potential_sha256", potential.get("sha256"))
                _set_attr(g.attrs, "potential_label", potential.get("label"))
                for k in ("protocol", "host", "seed", "created", "started", "finished", "attempts", "system",
                          "code_version", "lpsens_version", "timings"):
                    _set_attr(g.attrs, f"job_{k}", doc.get(k))
                _set_attr(g.attrs, "job_elapsed_s", _elapsed_s(doc))
                if "msd" in res:
                    g["msd_lag_time_ps"] = np.asarray(res["msd"]["lag_time_ps"], float)
                    g["msd_A2"] = np.asarray(res["msd"]["msd_A2"], float)
                if "rdf_SS" in res:
                    g["rdf_SS_r_A"] = np.asarray(res["rdf_SS"]["r_A"], float)
                    g["rdf_SS_g"] = np.asarray(res["rdf_SS"]["g"], float)
                if "D_blocks_cm2_s" in res:
                    g["D_blocks_cm2_s"] = np.asarray(res["D_blocks_cm2_s"], float)
                if res.get("D_sigma_blocks_cm2_s"):
                    g["D_sigma_blocks_cm2_s"] = np.asarray(res["D_sigma_blocks_cm2_s"], float)
                for k in ("sigma_collective_S_cm", "sigma_collective_err_S_cm", "haven_ratio", "haven_ratio_err",
                          "PS4_tau1_ps", "PS4_tau1_err_ps", "PS4_reorientations_per_ps", "P2S7_tau1_ps",
                          "P2S7_reorientations_per_ps", "Li_jumps_per_ps_per_ion", "Li_residence_time_ps",
                          "paddlewheel_enrichment", "paddlewheel_enrichment_err"):
                    if res.get(k) is not None:
                        _set_attr(g.attrs, k, res[k])
                for k, v in (res.get("anion_c1") or {}).items():
                    g[f"anion_c1/{k}"] = np.asarray([math.nan if c is None else c for c in v], float)
                for k, v in (res.get("anion_counts_per_frame") or {}).items():
                    g[f"anion_counts_per_frame/{k}"] = np.asarray(v, np.int64)
                entry = rec.integrity
                g.attrs["integrity_checked"] = entry is not None
                if entry is not None:
                    g.attrs["integrity_broken"] = bool(entry["broken"])
                    for k in ("reason", "broken_fraction", "n_frames_checked", "n_frames_broken", "first_broken",
                              "crystal_units_lost", "limits"):
                        _set_attr(g.attrs, f"integrity_{k}", entry.get(k))
                    g["integrity/time_ps"] = np.asarray(entry["time_ps"], float)
                    g["integrity/broken_per_frame"] = np.asarray(entry["broken_per_frame"], np.int8)
                    g["integrity/n_violations_per_frame"] = np.asarray(entry["n_violations_per_frame"], np.int64)
                    for k, v in entry["census_per_frame"].items():
                        g[f"integrity/census_per_frame/{k}"] = np.asarray(v, np.int64)
            for name, rows in tables.items():
                tg = h.create_group(f"tables/{name}")
                if not rows:
                    continue
                for col in rows[0]:
                    vals = [r.get(col) for r in rows]
                    if all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in vals):
                        tg[col] = np.asarray(vals, float)
                    else:
                        tg.create_dataset(col, data=[str(v) for v in vals], dtype=h5py.string_dtype())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


# ---------------------------------------------------------------------------------------------- entry
def gather(root, output, *, tables_dir=None, figures_dir=None, figures: bool = True,
           include_broken: bool = False) -> GatherResult:
    """Consolidated HDF5 + CSV tables + text tables (+ figures) of the project at ``root``.

    Parameters
    ----------
    root
        signac project directory.
    output
        Consolidated HDF5 file.
    tables_dir
        Directory of the CSV tables (default: ``output``'s directory); files ``<name>.csv``.
    figures_dir
        Directory of the figures (default: ``output``'s directory / ``figures``).
    figures
        Whether to draw the figures.
    include_broken
        Include jobs with broken chemistry in the aggregated tables, fits and figures (default:
        excluded and counted).
    """
    output = Path(output)
    records, skipped, failed = _load(root)
    tables, notes = build_tables(records, include_broken)
    if failed:
        notes.insert(0, f"{len(failed)} job(s) failed and have no results in these tables "
                        f"({', '.join(j[:8] for j in failed[:6])}{', ...' if len(failed) > 6 else ''}); "
                        "'lpsens status --root ROOT' lists why")
    write_results_h5(output, records, tables, skipped, root=root, include_broken=include_broken)
    tables_dir = Path(tables_dir) if tables_dir is not None else output.parent
    tables_dir.mkdir(parents=True, exist_ok=True)
    result = GatherResult(output=output, records=records, skipped=skipped, tables=tables, notes=list(notes),
                          broken=[r for r in records if r.broken], include_broken=include_broken)
    text = []
    for name, rows in tables.items():
        result.csv_files.append(write_csv(tables_dir / f"{name}.csv", rows))
        title = f"{name} (reference: {CITATION})" if name == "paper" else name
        text.append(format_table(title, rows, [c for c in _TEXT_COLUMNS[name] if not rows or c in rows[0]]))
    result.text = "\n".join(text)
    if figures:
        from lpsens.plots import make_figures

        figures_dir = Path(figures_dir) if figures_dir is not None else output.parent / "figures"
        shown = records if include_broken else [r for r in records if not r.broken]
        paths, fig_notes = make_figures(shown, tables, figures_dir)
        result.figures = paths
        result.notes.extend(fig_notes)
    return result
