"""Per-job analysis settings: one typed, validated object (defaults documented in docs/analysis.md)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from lpsens.chemistry import ChemistryLimits
from lpsens.errors import AnalysisError, check_keys

__all__ = ["AnalysisSettings", "resolve_settings"]


@dataclass(frozen=True)
class AnalysisSettings:
    """Settings of the per-trajectory analysis.

    Attributes
    ----------
    fit_start_ps
        Start of the MSD fit window (lag time, ps). Skips the ballistic and caging regime.
    fit_end_fraction
        End of the fit window as a fraction of the block length (0 < f <= 0.5): the MSD at long
        lags is averaged over few origins and is noisy, so the fit stops well before the end.
    n_blocks
        Number of equal time blocks a run is split into; D is fitted in each block and the
        spread of the block values gives the uncertainty (>= 4, see docs/analysis.md).
    min_fit_points
        Minimum number of MSD lags inside the fit window.
    hop_length_A
        A Li hops when it moves this far from where it last settled; the hop count sets the
        counting error of D and its ``hop_statistics`` flag (docs/analysis.md).
    min_hops
        Fewer hops in a run flag its D ``"poor"`` (0 hops: ``"none"``, D is an upper limit).
    memory_limit_MB
        Budget for the positions read from HDF5 at once (and the FFT buffers that go with them).
    charge_number
        Charge number z of the mobile ion (Li+: 1).
    haven_ratio
        Haven ratio H_R in sigma = n z^2 e^2 D / (k_B T H_R) (1: tracer Nernst-Einstein, as in the paper).
    structure_max_frames
        At most this many frames (evenly strided) are used for the RDF and the anion composition.
    rdf_bins
        Number of histogram bins of the S-S RDF.
    rdf_r_max_A
        Largest distance of the RDF in Angstrom; ``None`` = half the shortest perpendicular cell width.
    bond_cutoff_PS_A, bond_cutoff_PP_A
        Pair cutoffs (Angstrom) of the P-S and P-P bonds that define thiophosphate anions.
    volume_max_frames
        At most this many frames (evenly strided) enter the Li density histogram.
    volume_grid_spacing_A
        Target voxel edge (Angstrom) of the fractional grid of the Li density.
    volume_smoothing_A
        Width (Angstrom, Gaussian sigma) of the periodic smoothing of the Li density; 0 = none.
    volume_isovalue
        Isovalue relative to the mean Li density: voxels with rho/<rho> >= isovalue are accessible.
    integrity_S_S_min_A, integrity_P_S_min_A, integrity_P_P_min_A, integrity_Li_min_A
        Broken chemistry: a pair closer than this (Angstrom; Li: to any atom); see
        :class:`lpsens.chemistry.ChemistryLimits` and docs/analysis.md.
    integrity_coordination_PS_A, integrity_P_min_S, integrity_P_max_S
        Broken chemistry: a P with fewer than ``P_min_S`` or more than ``P_max_S`` S within
        ``coordination_PS_A`` Angstrom. The unit census uses ``bond_cutoff_PS_A``/``bond_cutoff_PP_A``.
    integrity_max_frames
        At most this many frames (evenly strided) are checked for broken chemistry.
    dynamics
        Compute the collective conductivity, anion rotations, Li jumps and the paddle-wheel coupling
        (docs/analysis.md, "Beyond tracer Nernst-Einstein"); false skips them (keys are then null).
    jump_distance_A
        Displacement from its anchor that counts as a Li jump, Angstrom.
    jump_smooth_ps
        Moving-average window over Li positions before jump detection, ps.
    rotation_jump_angle_deg
        Turn of a P-S bond that counts as a large anion re-orientation, degrees.
    rotation_smooth_ps
        Moving-average window over bond directions before re-orientation counting, ps.
    paddlewheel_window_ps, paddlewheel_distance_A
        Time half-window and Li-P distance of a (Li jump, anion re-orientation) coincidence.
    """

    fit_start_ps: float = 2.0
    fit_end_fraction: float = 0.5
    n_blocks: int = 8
    min_fit_points: int = 10
    hop_length_A: float = 2.5
    min_hops: int = 20
    memory_limit_MB: float = 256.0
    charge_number: int = 1
    haven_ratio: float = 1.0
    structure_max_frames: int = 200
    rdf_bins: int = 200
    rdf_r_max_A: float | None = None
    bond_cutoff_PS_A: float = ChemistryLimits.bond_PS_A
    bond_cutoff_PP_A: float = ChemistryLimits.bond_PP_A
    volume_max_frames: int = 2000
    volume_grid_spacing_A: float = 0.2
    volume_smoothing_A: float = 0.3
    volume_isovalue: float = 0.1
    # the chemistry check's defaults are ChemistryLimits' (lpsens.chemistry)
    integrity_S_S_min_A: float = ChemistryLimits.S_S_min_A
    integrity_P_S_min_A: float = ChemistryLimits.P_S_min_A
    integrity_P_P_min_A: float = ChemistryLimits.P_P_min_A
    integrity_Li_min_A: float = ChemistryLimits.Li_min_A
    integrity_coordination_PS_A: float = ChemistryLimits.coordination_PS_A
    integrity_P_min_S: int = ChemistryLimits.P_min_S
    integrity_P_max_S: int = ChemistryLimits.P_max_S
    integrity_max_frames: int = 2000
    # dynamics beyond tracer Nernst-Einstein (issue 13)
    dynamics: bool = True
    jump_distance_A: float = 1.5
    jump_smooth_ps: float = 0.5
    rotation_jump_angle_deg: float = 90.0
    rotation_smooth_ps: float = 0.3
    paddlewheel_window_ps: float = 1.0
    paddlewheel_distance_A: float = 5.0

    _INTS = ("n_blocks", "min_fit_points", "min_hops", "charge_number", "structure_max_frames", "rdf_bins",
             "volume_max_frames", "integrity_P_min_S", "integrity_P_max_S", "integrity_max_frames")

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "rdf_r_max_A" and value is None:
                continue
            if f.name == "dynamics":
                if not isinstance(value, bool):
                    raise AnalysisError(f"must be true or false, got {value!r}", key="analysis.dynamics")
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise AnalysisError(f"must be a finite number, got {value!r}", key=f"analysis.{f.name}")
            if f.name in self._INTS:
                if value != int(value):
                    raise AnalysisError(f"must be an integer, got {value!r}", key=f"analysis.{f.name}")
                object.__setattr__(self, f.name, int(value))
            else:
                object.__setattr__(self, f.name, float(value))
        checks = [
            ("fit_start_ps", self.fit_start_ps > 0, "> 0"),
            ("fit_end_fraction", 0 < self.fit_end_fraction <= 0.5, "in (0, 0.5]"),
            ("n_blocks", self.n_blocks >= 4, ">= 4 (the error estimate needs >= 3 degrees of freedom)"),
            ("min_fit_points", self.min_fit_points >= 3, ">= 3"),
            ("hop_length_A", 0.5 <= self.hop_length_A <= 6.0, "in [0.5, 6] Angstrom"),
            ("min_hops", self.min_hops >= 1, ">= 1"),
            ("memory_limit_MB", self.memory_limit_MB >= 1, ">= 1"),
            ("charge_number", self.charge_number != 0, "non-zero"),
            ("haven_ratio", self.haven_ratio > 0, "> 0"),
            ("structure_max_frames", self.structure_max_frames >= 1, ">= 1"),
            ("rdf_bins", self.rdf_bins >= 5, ">= 5"),
            ("rdf_r_max_A", self.rdf_r_max_A is None or self.rdf_r_max_A > 0, "> 0 or None"),
            ("bond_cutoff_PS_A", 1.5 <= self.bond_cutoff_PS_A <= 3.2, "in [1.5, 3.2] Angstrom"),
            ("bond_cutoff_PP_A", 1.5 <= self.bond_cutoff_PP_A <= 3.0, "in [1.5, 3.0] Angstrom"),
            ("volume_max_frames", self.volume_max_frames >= 1, ">= 1"),
            ("volume_grid_spacing_A", 0.02 <= self.volume_grid_spacing_A <= 2.0, "in [0.02, 2] Angstrom"),
            ("volume_smoothing_A", self.volume_smoothing_A >= 0, ">= 0"),
            ("volume_isovalue", self.volume_isovalue > 0, "> 0"),
            ("integrity_max_frames", self.integrity_max_frames >= 1, ">= 1"),
            ("jump_distance_A", self.jump_distance_A > 0, "> 0"),
            ("jump_smooth_ps", self.jump_smooth_ps >= 0, ">= 0"),
            ("rotation_jump_angle_deg", 0 < self.rotation_jump_angle_deg < 180, "in (0, 180) degrees"),
            ("rotation_smooth_ps", self.rotation_smooth_ps >= 0, ">= 0"),
            ("paddlewheel_window_ps", self.paddlewheel_window_ps > 0, "> 0"),
            ("paddlewheel_distance_A", self.paddlewheel_distance_A > 0, "> 0"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise AnalysisError(f"must be {expected}, got {getattr(self, name)!r}", key=f"analysis.{name}")

        self.chemistry_limits()  # validates the integrity thresholds

    def chemistry_limits(self):
        """The thresholds of the chemistry integrity check as :class:`lpsens.chemistry.ChemistryLimits`."""
        return ChemistryLimits.from_settings(self.to_dict())

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AnalysisSettings:
        check_keys(data, (f.name for f in dataclasses.fields(cls)), where="analysis", error=AnalysisError)
        return cls(**data)


def resolve_settings(stored: dict | None, overrides: dict | None = None) -> AnalysisSettings:
    """The settings in force: the defaults, then the campaign's ``[analysis]`` table (``stored``),
    then ``overrides`` (e.g. command-line options): the one precedence rule of lpsens.

    Raises
    ------
    AnalysisError
        For unknown keys or invalid values (the key names the setting).
    """
    return AnalysisSettings.from_dict({**(stored or {}), **(overrides or {})})
