"""Gather per-job analyses into one consolidated HDF5 file, aggregated tables (CSV + text) and figures.

This module reads and writes; the statistics behind the tables (replica errors, Arrhenius fits,
ratios) are :mod:`lpsens.analysis.ensemble`'s, re-exported here under their earlier names.

``gather(root, output)`` reads ``analysis.json`` of every job of the signac project, skips (and
reports) jobs whose file is missing or corrupt, and writes ``output`` through a temporary name and a
rename, so a crash never leaves a file that looks complete.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np

from lpsens import __version__
from lpsens.analysis.composition import ANION_KEYS
from lpsens.analysis.ensemble import (
    ARRHENIUS_FIT,
    anion_table,
    arrhenius_table,
    build_tables,
    frozen_ratio_table,
    integrity_table,
    transport_table,
    volume_table,
)
from lpsens.analysis.integrity import integrity_summary
from lpsens.analysis.paper import CITATION
from lpsens.errors import DocumentError
from lpsens.status import format_columns, read_job_document, utcnow
from lpsens.vocabulary import (
    DYNAMICS_KEYS,
    RESULT_ATTRIBUTE_KEYS,
    RESULT_FORMAT,
    RESULT_REQUIRED_KEYS,
    STATEPOINT_KEYS,
    TRANSPORT_KEYS,
    results_group,
)

__all__ = ["JobRecord", "GatherResult", "load_records", "transport_table", "arrhenius_table", "anion_table",
           "volume_table", "frozen_ratio_table", "build_tables", "format_table", "write_csv", "write_results_h5",
           "gather", "RESULTS_FORMAT", "RESULTS_VERSION", "ARRHENIUS_FIT", "integrity_table"]

RESULTS_FORMAT = "lpsens-results"
RESULTS_VERSION = 1


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
    missing = [k for k in RESULT_REQUIRED_KEYS if k not in result]
    if missing:
        return f"analysis.json lacks {', '.join(missing)}"
    for k in TRANSPORT_KEYS:
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
    from lpsens.project import open_project

    project = open_project(root)
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
    return "".join(f"{line}\n" for line in [f"== {title}", *format_columns(list(columns), cells)])


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
                for k in RESULT_ATTRIBUTE_KEYS:
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
                for k in DYNAMICS_KEYS:
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
