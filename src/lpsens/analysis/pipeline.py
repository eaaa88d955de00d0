"""Per-trajectory and per-job analysis: one JSON-able result dict per trajectory file."""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lpsens import __version__
from lpsens.analysis.anions import ANION_KEYS, AnionComposition
from lpsens.analysis.conductivity import NernstEinstein
from lpsens.analysis.msd import LI, MSD, Diffusion
from lpsens.analysis.rdf import RDF
from lpsens.analysis.reader import TrajectoryReader
from lpsens.analysis.settings import AnalysisSettings
from lpsens.analysis.volume import AccessibleVolume
from lpsens.errors import AnalysisError, LpsensError, ProjectError
from lpsens.status import utcnow

__all__ = ["analyze_trajectory", "analyze_job", "analyze_project", "AnalyzeReport", "write_json_atomic",
           "RESULT_FORMAT", "RESULT_VERSION", "SUMMARY_KEYS"]

log = logging.getLogger("lpsens.analysis")

RESULT_FORMAT = "lpsens-analysis"
RESULT_VERSION = 1
#: keys of the result copied into ``job.doc["analysis"]``
SUMMARY_KEYS = ("D_cm2_s", "D_err_cm2_s", "sigma_S_cm", "sigma_err_S_cm", "temperature_K", "n_Li", "volume_A3",
                "anion_counts", "li_accessible_fraction", "msd_loglog_slope", "analysed", "lpsens_version")


def _log_subsample(n: int, points: int = 200) -> np.ndarray:
    """Indices 0..n-1, all of them if few, else ~log-spaced (always with 0 and 1)."""
    if n <= points:
        return np.arange(n)
    idx = np.unique(np.concatenate([[0], np.geomspace(1, n - 1, points - 1).astype(int)]))
    return idx


def _finite(x):
    x = float(x)
    return x if math.isfinite(x) else None


def analyze_trajectory(path, settings: AnalysisSettings | None = None, temperature_K: float | None = None) -> dict:
    """Analyse one trajectory file (docs/formats.md) and return the result dict (see docs/analysis.md).

    Parameters
    ----------
    path
        ``trajectory.h5``.
    settings
        Analysis settings (defaults: :class:`AnalysisSettings()`).
    temperature_K
        Temperature for Nernst-Einstein; default the file's ``temperature_K`` attribute (the target).

    Raises
    ------
    TrajectoryError
        Unreadable file or not in the documented format.
    InsufficientDataError
        Run too short for a diffusive regime (no number is returned then).
    """
    settings = settings or AnalysisSettings()
    with TrajectoryReader(path) as rd:
        if temperature_K is None:
            temperature_K = rd.temperature_K
            t_source = "trajectory attribute temperature_K (thermostat target)"
            if temperature_K is None:
                raise AnalysisError("the trajectory has no temperature_K attribute; pass --temperature-K",
                                    file=rd.path, key="temperature_K")
        else:
            t_source = "given by the caller"
        if not temperature_K > 0:
            raise AnalysisError(f"temperature_K must be > 0, got {temperature_K!r}", key="temperature_K")
        msd = MSD(n_blocks=settings.n_blocks, memory_limit_MB=settings.memory_limit_MB).compute(rd)
        diff = Diffusion(settings.fit_start_ps, settings.fit_end_fraction, settings.min_fit_points).compute(msd)
        n_li = int(np.sum(rd.numbers == LI))
        ne = NernstEinstein(n_li, rd.volume_A3, temperature_K, charge_number=settings.charge_number,
                            haven_ratio=settings.haven_ratio).compute(diff.D_cm2_s, diff.D_err_cm2_s)
        rdf = RDF(settings.rdf_bins, settings.rdf_r_max_A, (16, 16), settings.structure_max_frames).compute(rd)
        an = AnionComposition(settings.bond_cutoff_PS_A, settings.bond_cutoff_PP_A,
                              settings.structure_max_frames).compute(rd)
        vol = AccessibleVolume(settings.volume_grid_spacing_A, settings.volume_smoothing_A, settings.volume_isovalue,
                               settings.volume_max_frames).compute(rd)
        idx = _log_subsample(msd.lag_time_ps.size)
        counts = an.mean_counts
        per_frame = an.counts_per_frame
        attrs = rd.attrs
        result = {
            "format": RESULT_FORMAT,
            "format_version": RESULT_VERSION,
            "lpsens_version": __version__,
            "analysed": utcnow(),
            "trajectory": str(Path(path)),
            "trajectory_attrs": {k: attrs[k] for k in ("backend", "potential_sha256", "lammps_version", "constraint",
                                                       "timestep_fs", "sampling_interval_fs", "uf3_sha256",
                                                       "mpi_ranks", "density_g_cm3") if k in attrs},
            "complete": rd.complete,
            "n_frames": rd.n_frames,
            "duration_ps": float(rd.time_ps[-1] - rd.time_ps[0]),
            "frame_interval_ps": rd.frame_interval_ps,
            "temperature_K": float(temperature_K),
            "temperature_source": t_source,
            "temperature_measured_K": rd.mean_thermo_temperature_K(),
            "n_Li": n_li,
            "n_atoms": rd.n_atoms,
            "volume_A3": rd.volume_A3,
            "n_Li_per_cm3": ne.number_density_per_cm3,
            "charge_number": settings.charge_number,
            "haven_ratio": settings.haven_ratio,
            "D_cm2_s": diff.D_cm2_s,
            "D_err_cm2_s": diff.D_err_cm2_s,
            "D_blocks_cm2_s": (diff.D_blocks_A2_ps * 1e-4).tolist(),
            "sigma_S_cm": ne.sigma_S_cm,
            "sigma_err_S_cm": ne.sigma_err_S_cm,
            "sigma_formula": "sigma = n z^2 e^2 D / (k_B T H_R), tracer Nernst-Einstein",
            "uncertainty": f"block averaging: {settings.n_blocks} time blocks; standard error of the block mean "
                           "x sqrt((n-1)/(n-3))",
            "fit": {"method": "ordinary least squares MSD = 6 D t + c per block (free intercept)",
                    "window_ps": list(diff.window_ps), "block_length_ps": msd.block_length_ps,
                    "n_blocks": settings.n_blocks, "drift_correction": "mass-weighted centre of mass of P+S per frame"},
            "msd_loglog_slope": _finite(diff.loglog_slope),
            "msd": {"lag_time_ps": msd.lag_time_ps[idx].tolist(), "msd_A2": msd.msd_A2[idx].tolist()},
            "rdf_SS": {"r_A": rdf.r_A.tolist(), "g": rdf.g.tolist(), "r_max_A": rdf.r_max_used_A,
                       "n_frames": rdf.n_frames,
                       "normalisation": "ideal-gas pair density N_S (N_S - 1) / V; g -> 1 at large r"},
            "anion_counts": {k: counts[k] for k in ANION_KEYS},
            "free_S_count": counts["free_S"],
            "anion_counts_per_frame": {k: per_frame[k].tolist() for k in ANION_KEYS},
            "anion_time_ps": an.time_ps.tolist(),
            "li_accessible_fraction": vol.fraction,
            "li_accessible_volume": {"fraction": vol.fraction, "volume_A3": vol.volume_A3,
                                     "isovalue_relative": settings.volume_isovalue, "grid_shape": list(vol.grid_shape),
                                     "smoothing_A": settings.volume_smoothing_A, "n_frames": vol.n_frames},
            "settings": settings.to_dict(),
        }
    return result


def write_json_atomic(path, data) -> None:
    """Write JSON to ``path`` through a temporary file and a rename (never a half-written file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1, allow_nan=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def analyze_job(job, settings: AnalysisSettings | None = None) -> dict:
    """Analyse a finished signac job: ``analysis.json`` in the job directory and ``job.doc["analysis"]``."""
    result = analyze_trajectory(job.fn("trajectory.h5"), settings, temperature_K=float(job.sp["temperature_K"]))
    result["job_id"] = job.id
    result["statepoint"] = dict(job.sp)
    write_json_atomic(job.fn("analysis.json"), result)
    job.doc["analysis"] = {k: result[k] for k in SUMMARY_KEYS}
    if "analysis_error" in job.doc:
        del job.doc["analysis_error"]
    return result


@dataclass
class AnalyzeReport:
    """What ``analyze_project`` did: job ids analysed, skipped (with reasons) and failed (with messages)."""

    analysed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def analyze_project(root, settings: AnalysisSettings | None = None, *, force: bool = False) -> AnalyzeReport:
    """Analyse every finished job (``status == "done"``) not analysed yet; ``force`` redoes all.

    A job fails on its own (the message is stored in ``job.doc["analysis_error"]``); the others go on.
    """
    import signac

    try:
        project = signac.get_project(str(root), search=False)
    except LookupError:
        raise ProjectError("no signac project here; run 'lpsens init' or pass --root", file=root) from None
    report = AnalyzeReport()
    for job in sorted(project, key=lambda j: j.id):
        status = job.doc.get("status")
        if status != "done":
            report.skipped.append((job.id, f"status {status!r}"))
            continue
        if not force and "analysis" in job.doc and os.path.isfile(job.fn("analysis.json")):
            report.skipped.append((job.id, "already analysed"))
            continue
        try:
            analyze_job(job, settings)
        except LpsensError as exc:
            job.doc["analysis_error"] = str(exc)
            report.failed.append((job.id, str(exc)))
            log.warning("job %s: %s", job.id, exc)
            continue
        report.analysed.append(job.id)
    return report
