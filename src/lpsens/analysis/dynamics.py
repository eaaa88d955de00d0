"""The per-trajectory result keys beyond tracer Nernst-Einstein (issue 13), for ``analysis.json``.

Collects :mod:`~lpsens.analysis.collective`, :mod:`~lpsens.analysis.rotations` and
:mod:`~lpsens.analysis.jumps` into one flat dict. A part that cannot be computed for a trajectory
(no P-S bonds, no Li jumps, too few blocks) gives ``None`` values and a line in ``dynamics_notes``;
it does not fail the analysis (the tracer D, which these extend, is the required result).
"""

from __future__ import annotations

import math

import numpy as np

from lpsens.analysis.collective import CollectiveConductivity, CollectiveMSD, haven_ratio
from lpsens.analysis.jumps import LiJumps, Paddlewheel
from lpsens.analysis.rotations import AnionRotations
from lpsens.errors import LpsensError
from lpsens.vocabulary import DYNAMICS_KEYS

__all__ = ["dynamics_result", "DYNAMICS_KEYS", "empty_dynamics"]



def _num(x):
    if x is None or isinstance(x, bool):
        return x
    x = float(x)
    return x if math.isfinite(x) else None


def empty_dynamics(note: str) -> dict:
    """The keys with ``None`` values and one note (``dynamics = false`` or a failure)."""
    return {**dict.fromkeys(DYNAMICS_KEYS), "D_sigma_blocks_cm2_s": None, "anion_c1": None, "dynamics": {},
            "dynamics_notes": [note]}


def dynamics_result(reader, settings, temperature_K: float, diffusion, *, c1_points: int = 100) -> dict:
    """Collective conductivity, Haven ratio, anion rotations, Li jumps and paddle-wheel coupling.

    Parameters
    ----------
    reader
        An open :class:`~lpsens.analysis.reader.TrajectoryReader`.
    settings
        :class:`~lpsens.analysis.settings.AnalysisSettings` (fit window, blocks, dynamics settings).
    temperature_K
        Temperature of the Einstein relation, K.
    diffusion
        The computed tracer :class:`~lpsens.analysis.msd.Diffusion` of the same run and blocks
        (paired with the collective blocks for the Haven ratio).

    Returns
    -------
    dict
        :data:`DYNAMICS_KEYS`, ``D_sigma_blocks_cm2_s`` (for pooling over replicas), ``anion_c1``
        (log-subsampled C1 curves), ``dynamics`` (methods and parameters) and ``dynamics_notes``.
    """
    if not settings.dynamics:
        return empty_dynamics("dynamics disabled (analysis.dynamics = false)")
    out = {**dict.fromkeys(DYNAMICS_KEYS), "D_sigma_blocks_cm2_s": None, "anion_c1": None}
    notes = []
    method = {}
    try:
        cmsd = CollectiveMSD(settings.n_blocks, settings.memory_limit_MB).compute(reader)
        cc = CollectiveConductivity(reader.volume_A3, temperature_K, charge_number=settings.charge_number,
                                    fit_start_ps=settings.fit_start_ps, fit_end_fraction=settings.fit_end_fraction,
                                    min_fit_points=settings.min_fit_points).compute(cmsd)
        H, H_err = haven_ratio(diffusion.D_blocks_A2_ps, cc.D_sigma_blocks_cm2_s * 1e4)
        out.update(sigma_collective_S_cm=_num(cc.sigma_S_cm), sigma_collective_err_S_cm=_num(cc.sigma_err_S_cm),
                   D_sigma_cm2_s=_num(cc.D_sigma_cm2_s), D_sigma_err_cm2_s=_num(cc.D_sigma_err_cm2_s),
                   haven_ratio=_num(H), haven_ratio_err=_num(H_err),
                   D_sigma_blocks_cm2_s=cc.D_sigma_blocks_cm2_s.tolist())
        method["collective"] = ("sigma = z^2 e^2 / (6 V k_B T) d<|sum_i dr_i|^2>/dt, framework drift removed; "
                                "D_sigma per time block with the tracer fit window; error: standard error of the "
                                "block mean x sqrt((n-1)/(n-3)); H = <D_tracer>/<D_sigma> over paired blocks, delta "
                                "method with their covariance. One run is noisy: pool replicas (gather).")
    except LpsensError as exc:
        notes.append(f"collective conductivity: {exc}")
    rot = None
    try:
        rot = AnionRotations(settings.n_blocks, settings.bond_cutoff_PS_A, settings.rotation_jump_angle_deg,
                             settings.rotation_smooth_ps, settings.memory_limit_MB).compute(reader)
        for kind in ("PS4", "P2S7"):
            out[f"{kind}_tau1_ps"] = _num(rot.tau1_ps(kind))
            out[f"{kind}_tau1_err_ps"] = _num(rot.tau1_err_ps(kind))
            out[f"{kind}_reorientations_per_ps"] = _num(rot.reorientations_per_ps(kind))
        out["PS4_tau1_converged"] = rot.tau1_converged("PS4") if "PS4" in rot.kinds else None
        lag = rot.lag_time_ps()
        idx = np.unique(np.concatenate([[0], np.geomspace(1, lag.size - 1, c1_points).astype(int)])) \
            if lag.size > c1_points else np.arange(lag.size)
        out["anion_c1"] = {"lag_time_ps": lag[idx].tolist(),
                           **{k: [_num(v) for v in rot.c1(k)[idx]] for k in rot.kinds}}
        method["rotations"] = (f"C1 of P->S unit vectors (bonds < {settings.bond_cutoff_PS_A:g} A at the first "
                               "frame), FFT over all origins per block; tau1 = integral to C1 = 0.1 plus a fitted "
                               f"exponential tail; re-orientation = bond turn >= {settings.rotation_jump_angle_deg:g} "
                               f"deg (anchored, {settings.rotation_smooth_ps:g} ps smoothing), dead-time corrected "
                               f"(dead time {rot.dead_time_ps:g} ps)")
    except LpsensError as exc:
        notes.append(f"anion rotations: {exc}")
    jumps = None
    try:
        jumps = LiJumps(settings.jump_distance_A, settings.jump_smooth_ps, settings.memory_limit_MB).compute(reader)
        out.update(Li_jumps_per_ps_per_ion=_num(jumps.jumps_per_ps_per_ion),
                   Li_jumps_per_ps_per_ion_err=_num(jumps.jumps_per_ps_per_ion_err),
                   Li_residence_time_ps=_num(jumps.residence_time_ps))
        method["jumps"] = (f"Li jump = smoothed ({settings.jump_smooth_ps:g} ps) position >= "
                           f"{settings.jump_distance_A:g} A from its anchor (the site since the last jump); rate per "
                           f"Li dead-time corrected (dead time {jumps.dead_time_ps:g} ps); residence time = mean "
                           "complete residence")
    except LpsensError as exc:
        notes.append(f"Li jumps: {exc}")
    if jumps is not None and rot is not None:
        try:
            pw = Paddlewheel(settings.paddlewheel_window_ps, settings.paddlewheel_distance_A).compute(jumps, rot)
            out.update(paddlewheel_enrichment=_num(pw.enrichment), paddlewheel_enrichment_err=_num(pw.enrichment_err),
                       paddlewheel_observed=pw.observed, paddlewheel_baseline=pw.baseline)
            method["paddlewheel"] = (f"(Li jump, anion re-orientation) pairs within +-{settings.paddlewheel_window_ps:g} "
                                     f"ps and Li-P <= {settings.paddlewheel_distance_A:g} A, over the mean of "
                                     f"{pw.n_shuffles} baselines with each anion's events circularly time-shifted")
        except LpsensError as exc:
            notes.append(f"paddle-wheel: {exc}")
    out["dynamics"] = method
    out["dynamics_notes"] = notes
    return out
