"""The domain facts of lpsens, stated once: materials and phases, compositions, constraints, keys, labels.

Every other module imports these names instead of writing the facts again:

* :class:`Material` (the materials a state point can name) and :data:`PHASES` (every crystal
  phase lpsens knows, with its formula unit; its Li2S content ``x`` follows from the formula);
* :data:`GLASS_X_RANGE` (the glass compositions the builder supports) and :func:`same_x`, the
  one rule for "the same composition" (equal after rounding to :data:`X_DECIMALS` decimals,
  the precision of a canonical state point);
* :class:`Constraint` and its frozen sublattice (:attr:`Constraint.frozen_Z`);
* :data:`STATEPOINT_KEYS`, the keys of a state point, and the labels of one
  (:func:`job_label`, :func:`describe`, :func:`series_label`, :func:`results_group`);
* :data:`TRAJECTORY_FORMAT` / :data:`TRAJECTORY_VERSION`, the name and version of the
  trajectory file format (docs/formats.md);
* the keys of a job's analysis result (``analysis.json``, docs/analysis.md): its format
  (:data:`RESULT_FORMAT`), the keys every result holds (:data:`RESULT_REQUIRED_KEYS`), the
  summary in the job document (:data:`SUMMARY_KEYS`, read by ``lpsens status``) and the scalars
  ``lpsens gather`` writes to ``results.h5`` (:data:`RESULT_ATTRIBUTE_KEYS`, :data:`DYNAMICS_KEYS`).

Nothing here imports the rest of lpsens, so any module can import it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "CRYSTAL_X_MOL_PCT",
    "DYNAMICS_KEYS",
    "DYNAMICS_SUMMARY_KEYS",
    "INTEGRITY_KEYS",
    "RESULT_ATTRIBUTE_KEYS",
    "RESULT_FORMAT",
    "RESULT_REQUIRED_KEYS",
    "RESULT_VERSION",
    "SUMMARY_KEYS",
    "TRANSPORT_KEYS",
    "GLASS_X_RANGE",
    "LI3PS4_PHASES",
    "PHASES",
    "PHASE_X_LI2S",
    "STATEPOINT_KEYS",
    "TRAJECTORY_FORMAT",
    "TRAJECTORY_VERSION",
    "X_DECIMALS",
    "Constraint",
    "Material",
    "Phase",
    "describe",
    "job_label",
    "results_group",
    "same_x",
    "series_label",
]


class Material(str, enum.Enum):
    """The materials a state point can name (the crystal phases of the paper, and glass)."""

    ALPHA_LI3PS4 = "alpha_Li3PS4"
    BETA_LI3PS4 = "beta_Li3PS4"
    GAMMA_LI3PS4 = "gamma_Li3PS4"
    LI7P3S11 = "Li7P3S11"
    GLASS = "glass"


#: Atomic number of the sublattice each constraint freezes (None: nothing frozen).
_FROZEN_Z = {"none": None, "frozen_S": 16, "frozen_P": 15}


class Constraint(str, enum.Enum):
    """Which sublattice is held fixed in the MD (the paper's frozen-anion runs)."""

    NONE = "none"
    FROZEN_S = "frozen_S"
    FROZEN_P = "frozen_P"

    @property
    def frozen_Z(self) -> int | None:
        """Atomic number of the frozen sublattice (16: S, 15: P), None for ``none``."""
        return _FROZEN_Z[self.value]


@dataclass(frozen=True)
class Phase:
    """A crystal phase of the Li2S-P2S5 system.

    Attributes
    ----------
    name
        Material name (in state points and :func:`lpsens.structures.build_structure`).
    formula_unit
        Element -> count per formula unit.
    """

    name: str
    formula_unit: dict

    @property
    def x_Li2S_mol_pct(self) -> float:
        """Li2S content of xLi2S-(100-x)P2S5 fixed by the formula, mol%: 100 Li/(Li + P), to 0.01."""
        li, p = self.formula_unit.get("Li", 0), self.formula_unit.get("P", 0)
        return round(100.0 * li / (li + p), X_DECIMALS)


#: Decimals of x (mol% Li2S) in a canonical state point; two x are the same composition when
#: they agree to this many decimals (:func:`same_x`).
X_DECIMALS = 2

_LI3PS4 = {"Li": 3, "P": 1, "S": 4}
#: Every crystal phase lpsens builds: the paper's (state-point materials) and the reference
#: crystals Li4P2S6 and Li2S that tests and training sets use.
PHASES: dict[str, Phase] = {
    p.name: p
    for p in (
        Phase("alpha_Li3PS4", _LI3PS4),
        Phase("beta_Li3PS4", _LI3PS4),
        Phase("gamma_Li3PS4", _LI3PS4),
        Phase("Li7P3S11", {"Li": 7, "P": 3, "S": 11}),
        Phase("Li4P2S6", {"Li": 4, "P": 2, "S": 6}),
        Phase("Li2S", {"Li": 2, "S": 1}),
    )
}
#: The Li3PS4 polymorphs (alpha, beta, gamma).
LI3PS4_PHASES: tuple[str, ...] = tuple(name for name, p in PHASES.items() if p.formula_unit == _LI3PS4)
#: mol% Li2S of every crystal phase, by name.
CRYSTAL_X_MOL_PCT: dict[str, float] = {name: p.x_Li2S_mol_pct for name, p in PHASES.items()}
#: mol% Li2S fixed by each crystal material of a state point.
PHASE_X_LI2S: dict[Material, float] = {m: CRYSTAL_X_MOL_PCT[m.value] for m in Material if m is not Material.GLASS}
#: Glass compositions the structure builder supports (mol% Li2S, inclusive).
GLASS_X_RANGE: tuple[float, float] = (50.0, 80.0)


def same_x(a: float, b: float) -> bool:
    """True when two compositions (mol% Li2S) are the same to :data:`X_DECIMALS` decimals."""
    return round(float(a), X_DECIMALS) == round(float(b), X_DECIMALS)


#: The keys of a state point (docs/formats.md), in the order of the HDF5 and table layouts.
STATEPOINT_KEYS: tuple[str, ...] = ("material", "x_Li2S_mol_pct", "temperature_K", "replica", "constraint")

#: Name and version of the trajectory file format (``trajectory.h5``, docs/formats.md).
TRAJECTORY_FORMAT = "lpsens-trajectory"
TRAJECTORY_VERSION = 1

# --------------------------------------------------------------------------- the analysis result of a job
#: Name and version of the per-job analysis result (``analysis.json``, docs/analysis.md).
RESULT_FORMAT = "lpsens-analysis"
RESULT_VERSION = 1
#: Tracer transport of a result: finite numbers in every ``analysis.json`` (cm^2/s, S/cm).
TRANSPORT_KEYS: tuple[str, ...] = ("D_cm2_s", "D_err_cm2_s", "sigma_S_cm", "sigma_err_S_cm")
#: Keys every ``analysis.json`` of this format holds (what ``lpsens gather`` needs).
RESULT_REQUIRED_KEYS: tuple[str, ...] = (*TRANSPORT_KEYS, "temperature_K", "n_Li", "volume_A3", "anion_counts")
#: The chemistry verdict of a result: broken (bool) and why (text, None when intact).
INTEGRITY_KEYS: tuple[str, ...] = ("integrity_broken", "integrity_reason")
#: Scalar results beyond tracer Nernst-Einstein (issue 13; each may be None).
DYNAMICS_KEYS: tuple[str, ...] = (
    "sigma_collective_S_cm", "sigma_collective_err_S_cm", "D_sigma_cm2_s", "D_sigma_err_cm2_s",
    "haven_ratio", "haven_ratio_err", "PS4_tau1_ps", "PS4_tau1_err_ps", "PS4_tau1_converged",
    "PS4_reorientations_per_ps", "P2S7_tau1_ps", "P2S7_tau1_err_ps", "P2S7_reorientations_per_ps",
    "Li_jumps_per_ps_per_ion", "Li_jumps_per_ps_per_ion_err", "Li_residence_time_ps",
    "paddlewheel_enrichment", "paddlewheel_enrichment_err", "paddlewheel_observed", "paddlewheel_baseline",
)
#: The dynamics results copied into the job document.
DYNAMICS_SUMMARY_KEYS: tuple[str, ...] = (
    "sigma_collective_S_cm", "sigma_collective_err_S_cm", "haven_ratio", "haven_ratio_err",
    "PS4_tau1_ps", "PS4_reorientations_per_ps", "Li_jumps_per_ps_per_ion", "paddlewheel_enrichment",
)
#: Keys of the result copied into ``job.doc["analysis"]`` (``lpsens status`` reads the
#: :data:`INTEGRITY_KEYS` there).
SUMMARY_KEYS: tuple[str, ...] = (
    *RESULT_REQUIRED_KEYS, "hop_statistics", "n_hops", "uncertain", "li_accessible_fraction", "msd_loglog_slope",
    "analysed", "lpsens_version", *INTEGRITY_KEYS, *DYNAMICS_SUMMARY_KEYS,
)
#: Keys of the result written as attributes of a job's group in ``results.h5`` (JSON for the
#: objects ``anion_counts``, ``fit`` and ``settings``); the :data:`DYNAMICS_KEYS` that are not
#: None follow them.
RESULT_ATTRIBUTE_KEYS: tuple[str, ...] = (
    *RESULT_REQUIRED_KEYS, "li_accessible_fraction", "msd_loglog_slope", "temperature_measured_K", "n_frames",
    "duration_ps", "charge_number", "haven_ratio_assumed", "free_S_count", "fit", "hop_statistics", "n_hops",
    "n_hopping_Li", "uncertain", "settings", "analysed", "complete",
)


# --------------------------------------------------------------------------- labels of a state point
def _value(v):
    return getattr(v, "value", v)


def job_label(sp) -> str:
    """Compact label of one state point for file names and logs: ``glass_x75_600K_none_r0``.

    ``sp`` is a mapping of :data:`STATEPOINT_KEYS` (values may be enums).
    """
    material = _value(sp["material"])
    x = f"x{float(sp['x_Li2S_mol_pct']):g}_" if material == Material.GLASS.value else ""
    return f"{material}_{x}{int(sp['temperature_K'])}K_{_value(sp['constraint'])}_r{int(sp['replica'])}"


def describe(sp) -> str:
    """Readable label of one state point in reports, e.g. ``glass x=75.0 600 K none r0``.

    Missing keys print as ``None`` (a report must not fail on a damaged state point).
    """
    x = f" x={sp.get('x_Li2S_mol_pct')}" if sp.get("material") == Material.GLASS.value else ""
    return f"{sp.get('material')}{x} {sp.get('temperature_K')} K {sp.get('constraint')} r{sp.get('replica')}"


def series_label(material, x) -> str:
    """Legend label of a material series in figures: ``glass 75Li2S`` or ``beta-Li3PS4``."""
    return f"glass {x:g}Li2S" if material == Material.GLASS.value else material.replace("_", "-")


def results_group(sp) -> str:
    """HDF5 group of one state point in ``results.h5``:
    ``statepoints/<material>/x<x>/<constraint>/T<T>K/replica<r>``."""
    return (f"statepoints/{sp['material']}/x{float(sp['x_Li2S_mol_pct']):.2f}/{sp['constraint']}/"
            f"T{int(sp['temperature_K'])}K/replica{int(sp['replica'])}")
