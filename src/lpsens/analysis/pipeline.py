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
from lpsens.analysis.composition import ANION_KEYS, AnionComposition
from lpsens.analysis.conductivity import NernstEinstein
from lpsens.analysis.dynamics import dynamics_result
from lpsens.analysis.integrity import ChemistryIntegrity
from lpsens.analysis.msd import A2_PS_TO_CM2_S, LI, MSD, Diffusion
from lpsens.analysis.rdf import R_MAX_RULE_MINIMUM_IMAGE, RDF
from lpsens.analysis.reader import TrajectoryReader
from lpsens.analysis.settings import AnalysisSettings, resolve_settings
from lpsens.analysis.volume import AccessibleVolume
from lpsens.errors import (
    AnalysisError,
    DocumentError,
    InsufficientDataError,
    LpsensError,
)
from lpsens.statepoint import StatePoint
from lpsens.status import read_job_document, utcnow
from lpsens.vocabulary import RESULT_FORMAT, RESULT_REQUIRED_KEYS, RESULT_VERSION, SUMMARY_KEYS

__all__ = ["uncertainty_flags", "analyze_trajectory", "analyze_job", "analyze_project", "campaign_settings_of", "AnalyzeReport", "write_json_atomic",
           "RESULT_FORMAT", "RESULT_VERSION", "RESULT_REQUIRED_KEYS", "SUMMARY_KEYS"]

log = logging.getLogger("lpsens.analysis")



def _log_subsample(n: int, points: int = 200) -> np.ndarray:
    """Indices 0..n-1, all of them if few, else ~log-spaced (always with 0 and 1)."""
    if n <= points:
        return np.arange(n)
    idx = np.unique(np.concatenate([[0], np.geomspace(1, n - 1, points - 1).astype(int)]))
    return idx


def uncertainty_flags(value: float, error: float, hop_statistics: str | None = None) -> str:
    """Why a value should not be read as a point: ``""`` (fine), or ``;``-joined flags.

    ``error>value``: the uncertainty exceeds the value (a point from it would be meaningless);
    ``few-hops``/``no-hops``: the hop statistics of the run are poor or absent (D is then an
    estimate with a counting error, or only an upper limit).
    """
    flags = []
    if not (math.isfinite(value) and math.isfinite(error)) or error >= abs(value):
        flags.append("error>value")
    if hop_statistics == "poor":
        flags.append("few-hops")
    elif hop_statistics == "none":
        flags.append("no-hops")
    return ";".join(flags)


def _finite(x):
    x = float(x)
    return x if math.isfinite(x) else None


def analyze_trajectory(path, settings: AnalysisSettings | None = None, temperature_K: float | None = None,
                       material: str | None = None) -> dict:
    """Analyse one trajectory file (docs/formats.md) and return the result dict (see docs/analysis.md).

    Parameters
    ----------
    path
        ``trajectory.h5``.
    settings
        Analysis settings (defaults: :class:`AnalysisSettings()`).
    temperature_K
        Temperature for Nernst-Einstein; default the file's ``temperature_K`` attribute (the target).
    material
        Material name of the state point (a crystal unless ``"glass"``; decides whether a P
        leaving PS4/P2S7 is flagged); default the file's ``material`` attribute, and without
        one the run is treated as a glass (no crystal flag).

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
        msd = MSD(n_blocks=settings.n_blocks, memory_limit_MB=settings.memory_limit_MB,
                  hop_length_A=settings.hop_length_A).compute(rd)
        try:
            diff = Diffusion(settings.fit_start_ps, settings.fit_end_fraction, settings.min_fit_points,
                             min_hops=settings.min_hops).compute(msd)
        except InsufficientDataError as exc:  # name the file the run too short came from
            raise InsufficientDataError(exc.reason, file=rd.path, key=exc.key) from None
        n_li = int(np.sum(rd.numbers == LI))
        ne = NernstEinstein(n_li, rd.volume_A3, temperature_K, charge_number=settings.charge_number,
                            haven_ratio=settings.haven_ratio).compute(diff.D_cm2_s, diff.D_err_cm2_s)
        rdf = RDF(settings.rdf_bins, settings.rdf_r_max_A, (16, 16), settings.structure_max_frames).compute(rd)
        an = AnionComposition(settings.bond_cutoff_PS_A, settings.bond_cutoff_PP_A,
                              settings.structure_max_frames).compute(rd)
        material = str(material if material is not None else rd.attrs.get("material", ""))
        integ = ChemistryIntegrity(settings.chemistry_limits(), crystal=bool(material) and material != "glass",
                                   max_frames=settings.integrity_max_frames).compute(rd)
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
            "haven_ratio_assumed": settings.haven_ratio,
            "D_cm2_s": diff.D_cm2_s,
            "D_err_cm2_s": diff.D_err_cm2_s,
            "D_blocks_cm2_s": (diff.D_blocks_A2_ps * A2_PS_TO_CM2_S).tolist(),
            "D_err_blocks_cm2_s": diff.D_err_blocks_A2_ps * A2_PS_TO_CM2_S,
            "D_err_counting_cm2_s": diff.D_err_counting_A2_ps * A2_PS_TO_CM2_S,
            "n_hops": diff.n_hops,
            "n_hopping_Li": diff.n_hopping,
            "hop_statistics": diff.hop_statistics,
            "uncertain": uncertainty_flags(diff.D_cm2_s, diff.D_err_cm2_s, diff.hop_statistics),
            "sigma_S_cm": ne.sigma_S_cm,
            "sigma_err_S_cm": ne.sigma_err_S_cm,
            "sigma_formula": "sigma = n z^2 e^2 D / (k_B T H_R), tracer Nernst-Einstein",
            "uncertainty": f"block averaging ({settings.n_blocks} time blocks; standard error of the block mean "
                           "x sqrt((n-1)/(n-3))) and the Poisson counting error of the Li hops "
                           f"(hop length {settings.hop_length_A:g} A), in quadrature",
            "fit": {"method": "ordinary least squares MSD = 6 D t + c per block (free intercept)",
                    "window_ps": list(diff.window_ps), "block_length_ps": msd.block_length_ps,
                    "n_blocks": settings.n_blocks, "drift_correction": "mass-weighted centre of mass of P+S per frame"},
            "msd_loglog_slope": _finite(diff.loglog_slope),
            "msd": {"lag_time_ps": msd.lag_time_ps[idx].tolist(), "msd_A2": msd.msd_A2[idx].tolist()},
            "rdf_SS": {"r_A": rdf.r_A.tolist(), "g": rdf.g.tolist(), "r_max_A": rdf.r_max_used_A,
                       "r_max_rule": (R_MAX_RULE_MINIMUM_IMAGE if settings.rdf_r_max_A is None
                                      else "[analysis] rdf_r_max_A"),
                       "n_frames": rdf.n_frames,
                       "normalisation": "ideal-gas pair density N_S (N_S - 1) / V; g -> 1 at large r"},
            "anion_counts": {k: counts[k] for k in ANION_KEYS},
            "free_S_count": counts["free_S"],
            "anion_counts_per_frame": {k: per_frame[k].tolist() for k in ANION_KEYS},
            "anion_time_ps": an.time_ps.tolist(),
            "integrity": integ.as_dict(),
            "integrity_broken": integ.broken,
            "integrity_reason": integ.reason(),
            "li_accessible_fraction": vol.fraction,
            "li_accessible_volume": {"fraction": vol.fraction, "volume_A3": vol.volume_A3,
                                     "isovalue_relative": settings.volume_isovalue, "grid_shape": list(vol.grid_shape),
                                     "smoothing_A": settings.volume_smoothing_A, "n_frames": vol.n_frames},
            "settings": settings.to_dict(),
        }
        # beyond tracer Nernst-Einstein: collective sigma, measured Haven ratio, rotations, jumps (issue 13)
        result.update(dynamics_result(rd, settings, float(temperature_K), diff))
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
    point = StatePoint.from_job(job)
    result = analyze_trajectory(job.fn("trajectory.h5"), settings, temperature_K=float(point.temperature_K),
                                material=point.material.value)
    result["job_id"] = job.id
    result["statepoint"] = dict(job.sp)
    write_json_atomic(job.fn("analysis.json"), result)
    job.doc["analysis"] = {k: result[k] for k in SUMMARY_KEYS}
    if "analysis_error" in job.doc:
        del job.doc["analysis_error"]
    return result


def campaign_settings_of(trajectory) -> dict:
    """The ``[analysis]`` settings of the campaign whose job directory holds ``trajectory``; {} if none
    (a file outside a job of a project, e.g. a copy)."""
    import signac

    try:
        job = signac.get_job(str(Path(trajectory).resolve().parent))
        return dict(job.project.doc.get("analysis_settings", {}))
    except (LookupError, OSError, ValueError):
        return {}


@dataclass
class AnalyzeReport:
    """What ``analyze_project`` did: job ids analysed, skipped (with reasons), failed (with messages)
    and unreadable (an empty or truncated job document; with the one-line message)."""

    analysed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)


def analyze_project(root, settings: AnalysisSettings | None = None, *, force: bool = False,
                    overrides: dict | None = None) -> AnalyzeReport:
    """Analyse every finished job (``status == "done"``) not analysed yet; ``force`` redoes all.

    A job fails on its own (the message is stored in ``job.doc["analysis_error"]``); the others go on.
    A job whose document cannot be read is listed in ``unreadable`` and left alone.

    Parameters
    ----------
    root
        Project directory.
    settings
        The settings to use as they are; default (None): the campaign's ``[analysis]`` table
        (stored in the project by ``lpsens init``), then ``overrides`` on top
        (:func:`~lpsens.analysis.settings.resolve_settings`).
    force
        Re-analyse jobs that already have results.
    overrides
        Settings that take precedence over the campaign's (e.g. command-line options); only
        with ``settings=None``.

    Raises
    ------
    ProjectError
        No lpsens project at ``root``, or one of another schema version.
    AnalysisError
        Invalid settings, or ``settings`` and ``overrides`` both given.
    """
    from lpsens.project import open_project

    project = open_project(root)
    if settings is None:
        settings = resolve_settings(project.doc.get("analysis_settings"), overrides)
    elif overrides:
        raise AnalysisError("give either settings or overrides of the campaign's settings, not both")
    report = AnalyzeReport()
    for job in sorted(project, key=lambda j: j.id):
        try:
            doc = read_job_document(job.path)
        except DocumentError as exc:
            report.unreadable.append((job.id, str(exc)))
            log.warning("job %s: %s", job.id, exc)
            continue
        status = doc.get("status")
        if status != "done":
            report.skipped.append((job.id, f"status {status!r}"))
            continue
        if not force and "analysis" in doc and os.path.isfile(job.fn("analysis.json")):
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
