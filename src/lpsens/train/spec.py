"""Training spec (TOML) -> validated :class:`TrainingSpec`.

One table per stage of the protocol (Staacke et al., Nanomaterials 12, 2950 (2022) §3.1;
Timmermann et al., J. Chem. Phys. 155, 244107 (2021)): ``[training]`` (name, seed, generation
limit), ``[configurations]`` (generation 0), ``[reference]`` (the ASE calculator that labels),
``[fit]`` (gap_fit), ``[iterate]`` (MD with the newest GAP and selection), ``[gates]`` and the
optional ``[crosscheck]`` (a stronger reference for P2S7-rich frames).
Every key is documented in docs/training.md; unknown keys and bad values raise
:class:`~lpsens.errors.SpecError` naming the file and the key, before anything is written.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lpsens.errors import SpecError, check_keys
from lpsens.vocabulary import PHASES

__all__ = [
    "ConfigurationSpec",
    "CrosscheckSpec",
    "FitSpec",
    "GateSpec",
    "IterateSpec",
    "ReferenceSpec",
    "TrainingSpec",
    "load_training_spec",
    "parse_training_spec",
    "PAIRS",
]

#: Element pairs of the short-range scans (the repulsive wall of every pair).
PAIRS = ("Li-S", "P-S", "S-S", "P-P", "Li-Li", "Li-P")
#: Where the ``contact`` core ends per pair (Å): above the chemistry check's contact floor, below
#: the shortest distance of the pair in intact structures (P-S bonds 2.0-2.1 Å, the P-P bond of
#: P2S6 2.2 Å, Li-S 2.3 Å, S...S between and within units >= 3.2 Å).
CONTACT_CUTOFF_A = {"Li-S": 1.9, "P-S": 1.9, "S-S": 2.9, "P-P": 2.05, "Li-Li": 1.9, "Li-P": 1.9}
CORES = ("pair_repulsion", "contact", "none")
#: How MD with a candidate runs: the GAP through quippy, or its compiled uf3 twin through LAMMPS.
MD_BACKENDS = ("quippy", "uf3")


@dataclass(frozen=True)
class RunSpec:
    """Name, seed and generation limit of the campaign."""

    name: str = "training"
    seed: int = 0
    max_generations: int = 3
    holdout_fraction: float = 0.1


@dataclass(frozen=True)
class ConfigurationSpec:
    """Generation 0: which structures, copies, snapshots and scans are labelled."""

    glass_x_mol_pct: tuple[float, ...] = (67.0, 70.0, 75.0)
    glass_p2s6_fraction: float = 0.0
    glass_min_atoms: int = 48
    crystals: tuple[str, ...] = ("gamma_Li3PS4", "beta_Li3PS4", "Li7P3S11")
    crystal_min_atoms: int = 0
    n_distorted: int = 2
    strain_max: float = 0.03
    rattle_A: tuple[float, ...] = (0.05, 0.1)
    compress_scale: tuple[float, ...] = (0.92,)
    md_temperatures_K: tuple[float, ...] = (600.0,)
    md_steps: int = 40
    md_every: int = 10
    md_timestep_fs: float = 2.0
    md_minimise_steps: int = 0
    scan_pairs: tuple[str, ...] = PAIRS
    scan_distances_A: tuple[float, ...] = (1.2, 1.5, 1.8, 2.1, 2.5, 3.0)
    scan_box_A: float = 10.0
    extra_frames: str = ""
    extra_frames_range: tuple[int, ...] = (0, 0)
    extra_frames_energy_offset_eV_atom: float = 0.0
    extra_frames_name: str = "PBE"


@dataclass(frozen=True)
class ReferenceSpec:
    """The ASE calculator that labels: ``calculator = "module:Class"`` and its keyword arguments."""

    calculator: str = ""
    kwargs: dict = field(default_factory=dict)
    cores: int = 1
    name: str = ""


@dataclass(frozen=True)
class CrosscheckSpec:
    """A second, stronger reference that re-computes the forces of P2S7-rich labelled frames.

    Issue 10 item 5: SevenNet-0 loses bridging P-S bonds of P2S7 units where a stronger model
    (SevenNet-l3i5, PBE) may not, so such frames are labelled by both and a frame on which they
    disagree by more than ``force_rms_eV_A`` (RMS over all force components) is screened: the
    primary reference is not trusted there. Off while ``calculator`` is empty.
    """

    calculator: str = ""
    kwargs: dict = field(default_factory=dict)
    name: str = ""
    #: a frame is P2S7-rich when at least this fraction of its P is not in an isolated PS4 unit
    #: (P2S7, and what a broken or new bridge makes of it: chains, edge-sharing P2S6, other)
    min_bridged_P_fraction: float = 0.25
    force_rms_eV_A: float = 0.3
    config_types: tuple[str, ...] = ("bulk", "distorted", "md", "selected")


@dataclass(frozen=True)
class FitSpec:
    """gap_fit descriptors, regularisation per config_type, e0 and the repulsive core."""

    cutoff_2b_A: float = 5.0
    n_sparse_2b: int = 30
    delta_2b: float = 1.0
    cutoff_3b_A: float = 3.2
    n_sparse_3b: int = 100
    delta_3b: float = 0.1
    theta_2b_A: float = 1.0
    theta_3b_A: float = 1.0
    sigma: tuple[float, ...] = (0.005, 0.15, 0.0, 0.0)
    config_type_sigma: dict = field(default_factory=dict)
    e0_eV: dict = field(default_factory=dict)
    e0_method: str = "isolated"
    core: str = "pair_repulsion"
    core_wall_eV: float = 1.0
    core_cutoff_A: float = 2.0
    core_contact_eV: float = 1.0
    core_contact_pair_eV: dict = field(default_factory=dict)
    core_contact_cutoff_A: dict = field(default_factory=lambda: dict(CONTACT_CUTOFF_A))
    train_on_dimers: bool = True
    drop_screened: bool = False
    untrusted_contact_A: dict = field(default_factory=dict)
    compile: bool = False
    compile_tolerance_eV_A: float = 0.01
    tetrahedral_prior_eV: float = 0.0
    tetrahedral_prior_gamma_A: float = 1.0
    tetrahedral_prior_cutoff_A: float = 3.1
    scan_force_radius_A: float = 0.0
    #: forces of at most this many atoms fitted per frame, a seeded random subset (0: all)
    force_atoms_per_frame: int = 0
    extra_args: str = ""


@dataclass(frozen=True)
class IterateSpec:
    """MD with the newest GAP, then selection of new configurations for labelling."""

    materials: tuple[str, ...] = ("glass",)
    glass_x_mol_pct: tuple[float, ...] = (67.0, 75.0)
    min_atoms: int = 48
    temperatures_K: tuple[float, ...] = (600.0, 800.0)
    md_steps: int = 200
    md_every: int = 10
    timestep_fs: float = 2.0
    minimise_steps: int = 100
    select_failures: int = 8
    select_diverse: int = 4
    coordination_scan_A: tuple[float, ...] = ()
    coordination_scan_centres: int = 2
    stretch_scan_A: tuple[float, ...] = ()
    #: reference MD from the last intact frame before each run's first broken one (0: off)
    failure_md_steps: int = 0
    failure_md_every: int = 10
    failure_md_max_runs: int = 0
    #: the GAP's own path into each run's first break, a frame every this many steps (0: off; uf3)
    failure_path_every: int = 0
    #: independent runs per (material, x, temperature): other built structure and velocities
    replicas: int = 1
    backend: str = "quippy"


@dataclass(frozen=True)
class GateSpec:
    """Thresholds and runs of ``lpsens train --validate``."""

    heldout_dft: str = ""
    heldout_dft_frames: tuple[int, int] = (150, 200)
    force_rmse_eV_A: float = 0.20
    energy_rmse_meV_atom: float = 4.0
    stability_materials: tuple[str, ...] = ("glass",)
    stability_glass_x_mol_pct: tuple[float, ...] = (67.0, 70.0, 75.0)
    stability_min_atoms: int = 48
    stability_temperatures_K: tuple[float, ...] = (400.0, 600.0, 800.0)
    stability_steps: int = 500
    stability_every: int = 10
    crystal_temperature_K: float = 800.0
    crystal_units_min_fraction: float = 0.995
    backend: str = "quippy"
    census_steps: int = 0
    census_glass_x_mol_pct: tuple[float, ...] = (67.0, 75.0)
    census_temperature_K: float = 600.0
    census_min_atoms: int = 60
    census_tolerance: float = 0.1
    #: held-out labelled frames the reference gates count (empty: all); the others are reported
    reference_config_types: tuple[str, ...] = ()
    #: glass starts vetted by the reference: minimised with it, a start it breaks is replaced
    reference_starts: bool = False
    reference_start_attempts: int = 4


@dataclass(frozen=True)
class TrainingSpec:
    """A validated training spec (see module docstring)."""

    run: RunSpec
    configurations: ConfigurationSpec
    reference: ReferenceSpec
    fit: FitSpec
    iterate: IterateSpec
    gates: GateSpec
    crosscheck: CrosscheckSpec = field(default_factory=CrosscheckSpec)
    source: Path | None = None

    def to_dict(self) -> dict:
        out = {}
        for name, section in (("training", self.run), ("configurations", self.configurations),
                              ("reference", self.reference), ("fit", self.fit), ("iterate", self.iterate),
                              ("gates", self.gates), ("crosscheck", self.crosscheck)):
            out[name] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(section).items()}
        return out


_SECTIONS = {"training": RunSpec, "configurations": ConfigurationSpec, "reference": ReferenceSpec,
             "fit": FitSpec, "iterate": IterateSpec, "gates": GateSpec, "crosscheck": CrosscheckSpec}


def _coerce(value, default, key: str, file, item=0.0):
    """Coerce a TOML value to the type of the field's default, or raise SpecError (``item``: the
    element prototype of a list whose default is empty)."""
    def bad(what):
        raise SpecError(f"{value!r} {what}", file=file, key=key)

    if isinstance(default, bool):
        if not isinstance(value, bool):
            bad("must be true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            bad("must be an integer")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            bad("must be a finite number")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            bad("must be a string")
        return value
    if isinstance(default, dict):
        if not isinstance(value, dict):
            bad("must be a table")
        return dict(value)
    if isinstance(default, tuple):
        if not isinstance(value, list):
            bad("must be a list")
        proto = default[0] if default else item
        return tuple(_coerce(v, proto, key, file) for v in value)
    raise AssertionError(key)


def _section(cls, data: dict, name: str, file):
    if not isinstance(data, dict):
        raise SpecError(f"[{name}] must be a table", file=file, key=name)
    defaults = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
                for f in dataclasses.fields(cls)}
    check_keys(data, defaults, where=name, file=file)
    # the element type of a list field with an empty default, from its annotation (tuple[str, ...])
    items = {f.name: {"str": "", "int": 0}.get(str(f.type).removeprefix("tuple[").split(",")[0], 0.0)
             for f in dataclasses.fields(cls)}
    return cls(**{k: _coerce(v, defaults[k], f"{name}.{k}", file, items[k]) for k, v in data.items()})


def parse_training_spec(data: dict, *, file=None) -> TrainingSpec:
    """Validate a parsed TOML document; see :func:`load_training_spec`."""
    check_keys(data, _SECTIONS, file=file)
    if "reference" not in data:
        raise SpecError("missing [reference] table with calculator = \"module:Class\"; "
                        "see signac_project/train_demo.toml", file=file, key="reference")
    parts = {name: _section(cls, data.get(name, {}), name, file) for name, cls in _SECTIONS.items()}
    spec = TrainingSpec(run=parts["training"], configurations=parts["configurations"], reference=parts["reference"],
                        fit=parts["fit"], iterate=parts["iterate"], gates=parts["gates"],
                        crosscheck=parts["crosscheck"], source=None if file is None else Path(file))
    _check(spec, file)
    return spec


def _check(spec: TrainingSpec, file) -> None:
    c, r, f, it, g = spec.configurations, spec.reference, spec.fit, spec.iterate, spec.gates
    if not c.glass_x_mol_pct and not c.crystals:
        raise SpecError("no compositions: give configurations.glass_x_mol_pct (e.g. [67, 70, 75]) and/or "
                        "configurations.crystals", file=file, key="configurations.glass_x_mol_pct")
    for key, xs in (("configurations.glass_x_mol_pct", c.glass_x_mol_pct), ("iterate.glass_x_mol_pct", it.glass_x_mol_pct),
                    ("gates.stability_glass_x_mol_pct", g.stability_glass_x_mol_pct),
                    ("gates.census_glass_x_mol_pct", g.census_glass_x_mol_pct)):
        for x in xs:
            if not 50.0 <= x <= 80.0:
                raise SpecError(f"glass x = {x} mol% Li2S is outside 50-80", file=file, key=key)
    for key, names in (("configurations.crystals", c.crystals), ("iterate.materials", it.materials),
                       ("gates.stability_materials", g.stability_materials)):
        for name in names:
            if name not in PHASES and (name != "glass" or key == "configurations.crystals"):
                also = "" if key == "configurations.crystals" else "glass, "
                raise SpecError(f"unknown material {name!r}; allowed: {also}{', '.join(PHASES)}", file=file, key=key)
    for key, temps in (("configurations.md_temperatures_K", c.md_temperatures_K), ("iterate.temperatures_K", it.temperatures_K),
                       ("gates.stability_temperatures_K", g.stability_temperatures_K),
                       ("gates.crystal_temperature_K", (g.crystal_temperature_K,)),
                       ("gates.census_temperature_K", (g.census_temperature_K,))):
        if any(not 0.0 < T <= 3000.0 for T in temps):
            raise SpecError(f"temperatures {list(temps)}: give kelvin, > 0 and <= 3000", file=file, key=key)
    for key, n, least in (("configurations.n_distorted", c.n_distorted, 0), ("configurations.md_steps", c.md_steps, 0),
                          ("configurations.md_every", c.md_every, 1), ("iterate.md_steps", it.md_steps, 1),
                          ("iterate.md_every", it.md_every, 1), ("iterate.minimise_steps", it.minimise_steps, 0),
                          ("iterate.select_failures", it.select_failures, 0), ("iterate.select_diverse", it.select_diverse, 0),
                          ("iterate.replicas", it.replicas, 1), ("fit.force_atoms_per_frame", f.force_atoms_per_frame, 0),
                          ("gates.stability_steps", g.stability_steps, 1), ("gates.stability_every", g.stability_every, 1),
                          ("gates.census_steps", g.census_steps, 0)):
        if n < least:
            raise SpecError(f"{n}: give a whole number >= {least}", file=file, key=key)
    for key, dt in (("configurations.md_timestep_fs", c.md_timestep_fs), ("iterate.timestep_fs", it.timestep_fs)):
        if not 0.0 < dt <= 10.0:
            raise SpecError(f"{dt}: give the MD time step in fs, > 0 and <= 10", file=file, key=key)
    for pair in c.scan_pairs:
        if pair not in PAIRS:
            raise SpecError(f"unknown pair {pair!r}; allowed: {', '.join(PAIRS)}", file=file, key="configurations.scan_pairs")
    if any(d <= 0.3 for d in c.scan_distances_A):
        raise SpecError("scan distances must be > 0.3 Å", file=file, key="configurations.scan_distances_A")
    if c.md_minimise_steps < 0:
        raise SpecError("md_minimise_steps must be >= 0 (0: start the reference MD from the built structure)",
                        file=file, key="configurations.md_minimise_steps")
    if ":" not in r.calculator:
        raise SpecError(f"calculator = {r.calculator!r} must be an import path 'module:Class' "
                        "(e.g. 'sevenn.calculator:SevenNetCalculator')", file=file, key="reference.calculator")
    if r.cores < 1:
        raise SpecError("cores must be >= 1", file=file, key="reference.cores")
    x = spec.crosscheck
    if x.calculator and ":" not in x.calculator:
        raise SpecError(f"calculator = {x.calculator!r} must be an import path 'module:Class' "
                        "(e.g. 'sevenn.calculator:SevenNetCalculator')", file=file, key="crosscheck.calculator")
    if not 0.0 <= x.min_bridged_P_fraction <= 1.0:
        raise SpecError("min_bridged_P_fraction must be in [0, 1]", file=file, key="crosscheck.min_bridged_P_fraction")
    if x.force_rms_eV_A <= 0:
        raise SpecError("force_rms_eV_A must be > 0 (eV/Å)", file=file, key="crosscheck.force_rms_eV_A")
    for key in ("delta_2b", "delta_3b"):
        v = getattr(f, key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise SpecError(f"{key} = {v!r}: give the kernel amplitude in eV, > 0", file=file, key=f"fit.{key}")
    for key in ("theta_2b_A", "theta_3b_A"):
        v = getattr(f, key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.05 <= v <= 10.0:
            raise SpecError(f"{key} = {v!r}: give the kernel length scale in Å, between 0.05 and 10 (default 1.0)",
                            file=file, key=f"fit.{key}")
    if f.e0_method not in ("isolated", "composition"):
        raise SpecError(f"e0_method = {f.e0_method!r}; allowed: isolated, composition", file=file, key="fit.e0_method")
    if f.core not in CORES:
        raise SpecError(f"core = {f.core!r}; allowed: {', '.join(CORES)}", file=file, key="fit.core")
    if f.core == "contact":
        from lpsens.train.fit import contact_floors_A

        floors = contact_floors_A()
        for pair, rc in f.core_contact_cutoff_A.items():
            if pair not in PAIRS or not isinstance(rc, (int, float)) or rc <= floors[pair]:
                raise SpecError(f"core_contact_cutoff_A.{pair} = {rc!r}: give a pair of {', '.join(PAIRS)} and a "
                                f"cutoff above its contact floor ({floors.get(pair, '?')} Å)",
                                file=file, key=f"fit.core_contact_cutoff_A.{pair}")
        if f.core_contact_eV <= 0:
            raise SpecError("core_contact_eV must be > 0 (the core's energy at each contact floor)",
                            file=file, key="fit.core_contact_eV")
        for pair, e in f.core_contact_pair_eV.items():
            if pair not in PAIRS or not isinstance(e, (int, float)) or e <= 0:
                raise SpecError(f"core_contact_pair_eV.{pair} = {e!r}: give a pair of {', '.join(PAIRS)} and an "
                                "energy > 0 (eV at its contact floor)", file=file, key=f"fit.core_contact_pair_eV.{pair}")
    if f.tetrahedral_prior_eV < 0:
        raise SpecError(f"tetrahedral_prior_eV = {f.tetrahedral_prior_eV!r} must be >= 0 (eV; 0 switches the S-P-S angle prior off)",
                        file=file, key="fit.tetrahedral_prior_eV")
    if f.tetrahedral_prior_eV > 0 and f.core == "none":
        raise SpecError("the tetrahedral prior is stored beside the repulsive core: set [fit] core = \"contact\" "
                        "or \"pair_repulsion\", or tetrahedral_prior_eV = 0", file=file, key="fit.tetrahedral_prior_eV")
    if f.tetrahedral_prior_gamma_A <= 0:
        raise SpecError(f"tetrahedral_prior_gamma_A = {f.tetrahedral_prior_gamma_A!r} must be > 0 (Å)", file=file, key="fit.tetrahedral_prior_gamma_A")
    if not 2.2 <= f.tetrahedral_prior_cutoff_A <= 5.0:
        raise SpecError(f"tetrahedral_prior_cutoff_A = {f.tetrahedral_prior_cutoff_A!r}: give a P-S distance in Å "
                        "between the P-S bond and the second shell (2.2-5.0)",
                        file=file, key="fit.tetrahedral_prior_cutoff_A")
    if not (isinstance(f.scan_force_radius_A, (int, float)) and 0.0 <= f.scan_force_radius_A < 50.0):
        raise SpecError(f"scan_force_radius_A = {f.scan_force_radius_A!r}: give a radius in Å (0: every atom's "
                        "force of a scan frame is fitted)", file=file, key="fit.scan_force_radius_A")
    for pair, r in f.untrusted_contact_A.items():
        if pair not in PAIRS or not isinstance(r, (int, float)) or not 0.0 < r < 5.0:
            raise SpecError(f"untrusted_contact_A.{pair} = {r!r}: give a pair of {', '.join(PAIRS)} and a distance "
                            "in Å between 0 and 5", file=file, key=f"fit.untrusted_contact_A.{pair}")
    if c.extra_frames:
        if len(c.extra_frames_range) != 2 or not 0 <= c.extra_frames_range[0] < c.extra_frames_range[1]:
            raise SpecError("extra_frames_range must be [start, stop] with 0 <= start < stop",
                            file=file, key="configurations.extra_frames_range")
        if Path(c.extra_frames).name == Path(g.heldout_dft).name and g.heldout_dft:
            lo, hi = c.extra_frames_range
            if lo < g.heldout_dft_frames[1] and g.heldout_dft_frames[0] < hi:
                raise SpecError(f"training frames {lo}-{hi} overlap the held-out frames {g.heldout_dft_frames[0]}-"
                                f"{g.heldout_dft_frames[1]} of the same file; choose disjoint ranges",
                                file=file, key="configurations.extra_frames_range")
    if len(f.sigma) != 4:
        raise SpecError("sigma must list 4 numbers: energy (eV/atom), force (eV/Å), virial, hessian",
                        file=file, key="fit.sigma")
    for kind, s in f.config_type_sigma.items():
        if not (isinstance(s, list) and len(s) == 4 and all(isinstance(v, (int, float)) for v in s)):
            raise SpecError(f"config_type_sigma.{kind} must list 4 numbers", file=file, key=f"fit.config_type_sigma.{kind}")
    for el, e0 in f.e0_eV.items():
        if el not in ("Li", "P", "S") or not isinstance(e0, (int, float)):
            raise SpecError(f"e0_eV.{el} = {e0!r}: give a number for each of Li, P, S (or omit e0_eV to fit it)",
                            file=file, key="fit.e0_eV")
    if f.e0_eV and set(f.e0_eV) != {"Li", "P", "S"}:
        raise SpecError("e0_eV must give Li, P and S (or be omitted: fitted by least squares)", file=file, key="fit.e0_eV")
    if not 0.0 <= spec.run.holdout_fraction < 0.5:
        raise SpecError("holdout_fraction must be in [0, 0.5)", file=file, key="training.holdout_fraction")
    if spec.run.max_generations < 0:
        raise SpecError("max_generations must be >= 0", file=file, key="training.max_generations")
    for key, value in (("iterate.backend", it.backend), ("gates.backend", g.backend)):
        if value not in MD_BACKENDS:
            raise SpecError(f"backend = {value!r}; allowed: {', '.join(MD_BACKENDS)}", file=file, key=key)
    if any(not 1.8 <= d <= 3.0 for d in it.coordination_scan_A):
        raise SpecError(f"coordination_scan_A = {list(it.coordination_scan_A)}: give P-S distances in Å between "
                        "1.8 and 3.0 (where a fifth S would sit)", file=file, key="iterate.coordination_scan_A")
    if any(not 2.2 <= d <= 3.5 for d in it.stretch_scan_A):
        raise SpecError(f"stretch_scan_A = {list(it.stretch_scan_A)}: give P-S distances in Å between "
                        "2.2 and 3.5 (a P's own S pulled out of its 2.05 Å bond)", file=file, key="iterate.stretch_scan_A")
    if it.coordination_scan_centres < 1:
        raise SpecError(f"coordination_scan_centres = {it.coordination_scan_centres!r} must be >= 1 (P per exploration run)", file=file,
                        key="iterate.coordination_scan_centres")
    if not (isinstance(it.failure_md_steps, int) and isinstance(it.failure_md_every, int) and it.failure_md_steps >= 0
            and it.failure_md_every >= 1 and it.failure_md_steps % it.failure_md_every == 0):
        raise SpecError(f"failure_md_steps = {it.failure_md_steps!r}, failure_md_every = {it.failure_md_every!r}: give "
                        "whole numbers of MD steps, the first a multiple of the second (0 steps: off)", file=file,
                        key="iterate.failure_md_steps")
    if isinstance(it.failure_md_max_runs, bool) or not isinstance(it.failure_md_max_runs, int) or it.failure_md_max_runs < 0:
        raise SpecError(f"failure_md_max_runs = {it.failure_md_max_runs!r}: give the most failure-MD tasks per "
                        "generation, an integer >= 0 (0: one per broken run)", file=file, key="iterate.failure_md_max_runs")
    fpe = it.failure_path_every
    if isinstance(fpe, bool) or not isinstance(fpe, int) or fpe < 0 or (fpe and (fpe >= it.md_every or it.md_every % fpe)):
        raise SpecError(f"failure_path_every = {fpe!r}: give a divisor of md_every = {it.md_every} smaller than it "
                        "(MD steps between the path frames before a break), or 0 (off)", file=file,
                        key="iterate.failure_path_every")
    if fpe and it.backend != "uf3":
        raise SpecError("failure_path_every needs [iterate] backend = \"uf3\" (explorations through quippy do not stop "
                        "at a break)", file=file, key="iterate.failure_path_every")
    if "uf3" in (it.backend, g.backend) and not f.compile:
        raise SpecError("backend = \"uf3\" runs the compiled GAP: set [fit] compile = true", file=file, key="fit.compile")
    kinds = ("bulk", "distorted", "compressed", "md", "isolated", "dimer", "selected", "coordination_scan",
             "failure_md", c.extra_frames_name)
    unknown = [k for k in f.config_type_sigma if k not in kinds]
    if unknown:  # a misspelt kind would leave its frames at the default sigma, silently
        close = difflib.get_close_matches(unknown[0], kinds, n=1)
        raise SpecError(f"unknown config_type {unknown[0]!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                        + f"; the campaign labels {', '.join(kinds)}", file=file, key=f"fit.config_type_sigma.{unknown[0]}")
    unknown = [k for k in g.reference_config_types if k not in kinds]
    if unknown:
        raise SpecError(f"reference_config_types: unknown config_type {unknown[0]!r}; the campaign labels "
                        f"{', '.join(kinds)}", file=file, key="gates.reference_config_types")
    if g.reference_start_attempts < 1:
        raise SpecError("reference_start_attempts must be >= 1", file=file, key="gates.reference_start_attempts")
    if len(g.heldout_dft_frames) != 2 or not 0 <= g.heldout_dft_frames[0] < g.heldout_dft_frames[1]:
        raise SpecError(f"heldout_dft_frames = {list(g.heldout_dft_frames)}: give [start, stop] with 0 <= start < stop "
                        "(frame indices of heldout_dft, stop excluded)", file=file, key="gates.heldout_dft_frames")


def load_training_spec(path) -> TrainingSpec:
    """Read and validate a training spec.

    Raises
    ------
    SpecError
        Missing/unreadable file, bad TOML, unknown section or key, bad value (file and key named).
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError("no such file; give a training spec (see signac_project/train_demo.toml)", file=path) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"not valid TOML: {exc}", file=path) from None
    return parse_training_spec(data, file=path)
