"""Campaign spec (TOML) -> validated :class:`Campaign` -> canonical state points.

Every error names the file, the key, the bad value and what is allowed, and is raised before
anything is written.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lpsens.errors import LpsensError, SpecError, check_keys
from lpsens.md.backends import MULTI_RANK_BACKENDS, Backend
from lpsens.md.protocol import MDProtocol
from lpsens.statepoint import (
    StatePoint,
    coerce_enum,
    coerce_float,
    coerce_int,
    derive_seed,
)
from lpsens.vocabulary import GLASS_X_RANGE, PHASE_X_LI2S, Constraint, Material, same_x

__all__ = ["Campaign", "MaterialSpec", "PotentialSpec", "SystemSpec", "load_campaign", "BundledPotential"]


class BundledPotential(str, enum.Enum):
    DEMO = "demo"


#: ``[potential] backend`` values (see :mod:`lpsens.md.backends`).
BACKENDS = tuple(b.value for b in Backend)


@dataclass(frozen=True)
class PotentialSpec:
    """A GAP XML file and its label (or the bundled demo GAP), and how MD evaluates it.

    Attributes
    ----------
    backend
        ``auto``, ``uf3``, ``quippy`` or ``native`` (docs/md.md).
    uf3
        The GAP compiled to a ``.uf3`` file (absolute), or None.
    ranks_per_task
        MPI ranks of one task (LAMMPS domain decomposition); > 1 needs ``uf3`` or ``native``.
    """

    path: Path
    label: str | None
    bundled: BundledPotential | None = None
    backend: str = "auto"
    uf3: Path | None = None
    ranks_per_task: int = 1
    #: ``uf3`` is the compiled file shipped with lpsens (looked up by name in each installation).
    uf3_bundled: bool = False


@dataclass(frozen=True)
class SystemSpec:
    """How big each cell is: at least ``min_atoms`` atoms and ``min_width_A`` perpendicular width."""

    min_atoms: int = 0
    min_width_A: float = 0.0

    def to_dict(self) -> dict:
        return {"min_atoms": self.min_atoms, "min_width_A": self.min_width_A}


@dataclass(frozen=True)
class MaterialSpec:
    material: Material
    x_Li2S_mol_pct: float | None
    temperatures_K: tuple[int, ...]
    replicas: int
    constraints: tuple[Constraint, ...]
    protocol: MDProtocol


@dataclass(frozen=True)
class Campaign:
    """A validated campaign spec."""

    name: str
    seed: int
    materials: tuple[MaterialSpec, ...]
    system: SystemSpec
    potential: PotentialSpec
    source: Path | None = None
    #: Per-trajectory analysis settings (``[analysis]``; see docs/analysis.md); used by
    #: ``lpsens analyze --root`` unless overridden on the command line.
    analysis: dict = field(default_factory=dict)

    def state_points(self):
        """Yield ``(StatePoint, MDProtocol)`` for every job, in a stable order without duplicates."""
        seen = set()
        for m in self.materials:
            for T, c, r in itertools.product(m.temperatures_K, m.constraints, range(m.replicas)):
                sp = StatePoint.canonical(m.material, m.x_Li2S_mol_pct, T, r, c)
                if sp in seen:
                    continue
                seen.add(sp)
                yield sp, m.protocol

    def seed_for(self, sp: StatePoint) -> int:
        return derive_seed(self.seed, sp)


_TOP_KEYS = {"campaign", "system", "protocol", "potential", "material", "analysis"}
_CAMPAIGN_KEYS = {"name", "seed", "temperatures_K", "replicas", "constraints"}
_MATERIAL_KEYS = {"name", "x_Li2S_mol_pct", "temperatures_K", "replicas", "constraints", "protocol"}


def _check_keys(table, allowed, where, file):
    if not isinstance(table, dict):
        raise SpecError(f"expected a table, got {table!r}", file=file, key=where)
    check_keys(table, allowed, where=where, file=file)


def _rekey(exc: SpecError, file, prefix) -> SpecError:
    key = f"{prefix}.{exc.key}" if exc.key else prefix
    return SpecError(exc.reason, file=file, key=key)


def load_campaign(path: str | Path) -> Campaign:
    """Read and validate a campaign spec.

    Raises
    ------
    SpecError
        With the file, the key, the bad value and what is allowed.
    """
    path = Path(path)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise SpecError("no such file; give the path of a campaign TOML (see signac_project/demo.toml)", file=path) from None
    except OSError as exc:
        raise SpecError(f"cannot read it ({exc.strerror})", file=path) from None
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"not valid TOML: {exc}", file=path) from None
    return parse_campaign(data, file=path)


def parse_campaign(data: dict, *, file: Path | None = None) -> Campaign:
    """A :class:`Campaign` from a parsed campaign spec (``file``: where it was read from, for messages).

    Raises
    ------
    SpecError
        For an unknown key, a missing table or a bad value; the message names the file and the key.
    """
    _check_keys(data, _TOP_KEYS, "", file)
    for required in ("campaign", "potential", "material"):
        if required not in data:
            raise SpecError(f"missing [{required}] section; see signac_project/demo.toml", file=file, key=required)

    camp = data["campaign"]
    _check_keys(camp, _CAMPAIGN_KEYS, "campaign", file)
    name = camp.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SpecError(f"expected a non-empty string, got {name!r}", file=file, key="campaign.name")
    try:
        seed = coerce_int(camp.get("seed"), "campaign.seed", minimum=0)
        default_T = _temperatures(camp.get("temperatures_K"), "campaign.temperatures_K") if "temperatures_K" in camp else None
        default_reps = coerce_int(camp.get("replicas", 1), "campaign.replicas", minimum=1)
        default_cons = _constraints(camp.get("constraints", ["none"]), "campaign.constraints")
    except SpecError as exc:
        raise SpecError(exc.reason, file=file, key=exc.key) from None

    system = _system(data.get("system", {}), file)
    base_protocol = data.get("protocol", {})
    _check_keys(base_protocol, {f for f in MDProtocol.__dataclass_fields__}, "protocol", file)
    try:
        MDProtocol.from_dict(base_protocol)
    except SpecError as exc:
        raise SpecError(exc.reason, file=file, key=exc.key) from None

    mats = data["material"]
    if not isinstance(mats, list) or not mats:
        raise SpecError("expected one or more [[material]] tables", file=file, key="material")
    materials = []
    for i, m in enumerate(mats):
        where = f"material[{i}]"
        _check_keys(m, _MATERIAL_KEYS, where, file)
        _check_keys(m.get("protocol", {}), {f for f in MDProtocol.__dataclass_fields__}, f"{where}.protocol", file)
        try:
            mat = coerce_enum(Material, m.get("name"), "name")
            x = m.get("x_Li2S_mol_pct")
            if mat is Material.GLASS and x is None:
                raise SpecError("a glass needs x_Li2S_mol_pct (mol% Li2S, {:g}-{:g})".format(*GLASS_X_RANGE),
                               key="x_Li2S_mol_pct")
            if mat is not Material.GLASS and x is not None and not same_x(coerce_float(x, "x_Li2S_mol_pct"), PHASE_X_LI2S[mat]):
                raise SpecError(
                    f"{mat.value} has x = {PHASE_X_LI2S[mat]:g} by its formula, got {x!r}; leave it out for crystals",
                    key="x_Li2S_mol_pct",
                )
            temps = _temperatures(m["temperatures_K"], "temperatures_K") if "temperatures_K" in m else default_T
            if temps is None:
                raise SpecError("no temperatures: set temperatures_K here or in [campaign]", key="temperatures_K")
            reps = coerce_int(m.get("replicas", default_reps), "replicas", minimum=1)
            cons = _constraints(m["constraints"], "constraints") if "constraints" in m else default_cons
            proto_over = m.get("protocol", {})
            protocol = MDProtocol.from_dict({**base_protocol, **proto_over})
            # Validate the canonical state point once (x range etc.).
            StatePoint.canonical(mat, x, temps[0], 0, cons[0])
        except SpecError as exc:
            raise _rekey(exc, file, where) from None
        materials.append(MaterialSpec(mat, None if x is None else float(x), temps, reps, cons, protocol))

    potential = _potential(data["potential"], file)
    if not _lammps_evaluates(potential.backend, potential.uf3):
        for i, m in enumerate(materials):
            if m.protocol.npt_ps > 0:
                raise SpecError(
                    f"npt_ps = {m.protocol.npt_ps:g} needs a backend that LAMMPS evaluates itself (uf3 or native); "
                    f"[potential] backend {potential.backend!r} runs the GAP through quippy. Set npt_ps = 0 "
                    "(relax_cell = true still relaxes the cell) or use a compiled GAP",
                    file=file, key=f"material[{i}].protocol.npt_ps",
                )
    analysis = _analysis(data.get("analysis", {}), file)
    return Campaign(name.strip(), seed, tuple(materials), system, potential, source=file, analysis=analysis)


def _analysis(table, file) -> dict:
    from lpsens.analysis.settings import AnalysisSettings

    _check_keys(table, {f.name for f in dataclasses.fields(AnalysisSettings)}, "analysis", file)
    try:
        return AnalysisSettings.from_dict(table).to_dict() if table else {}
    except LpsensError as exc:
        key = exc.key if (exc.key or "").startswith("analysis") else f"analysis.{exc.key}" if exc.key else "analysis"
        raise SpecError(exc.reason, file=file, key=key) from None


def _temperatures(value, key) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise SpecError(f"expected a non-empty list of temperatures in K, got {value!r}", key=key)
    temps = []
    for i, t in enumerate(value):
        t = coerce_int(t, f"{key}[{i}]", minimum=1)
        if not 50 <= t <= 3000:
            raise SpecError(f"{t} K is outside 50-3000 K", key=f"{key}[{i}]")
        temps.append(t)
    if len(set(temps)) != len(temps):
        raise SpecError(f"duplicate temperatures in {value!r}", key=key)
    return tuple(temps)


def _constraints(value, key) -> tuple[Constraint, ...]:
    if not isinstance(value, list) or not value:
        raise SpecError(f"expected a non-empty list such as [\"none\", \"frozen_S\"], got {value!r}", key=key)
    out = tuple(coerce_enum(Constraint, c, f"{key}[{i}]") for i, c in enumerate(value))
    if len(set(out)) != len(out):
        raise SpecError(f"duplicate constraints in {value!r}", key=key)
    return out


def _system(table, file) -> SystemSpec:
    _check_keys(table, {"min_atoms", "min_width_A"}, "system", file)
    try:
        n = coerce_int(table.get("min_atoms", 0), "system.min_atoms", minimum=0)
        w = coerce_float(table.get("min_width_A", 0.0), "system.min_width_A")
    except SpecError as exc:
        raise SpecError(exc.reason, file=file, key=exc.key) from None
    if w < 0 or w > 200:
        raise SpecError(f"{w} A is outside 0-200 A", file=file, key="system.min_width_A")
    if n > 100_000:
        raise SpecError(f"{n} atoms is more than the supported 100000", file=file, key="system.min_atoms")
    return SystemSpec(n, w)


def _potential(table, file) -> PotentialSpec:
    _check_keys(table, {"bundled", "path", "label", "backend", "uf3", "ranks_per_task"}, "potential", file)
    if ("bundled" in table) == ("path" in table):
        raise SpecError(
            "give exactly one of bundled = \"demo\" or path = \"your_gap.xml\" (with label)",
            file=file,
            key="potential",
        )
    label = table.get("label")
    if label is not None and (not isinstance(label, str) or not label.strip()):
        raise SpecError(f"expected the GAP label as a string, got {label!r}", file=file, key="potential.label")
    backend = table.get("backend", "auto")
    if backend not in BACKENDS:
        raise SpecError(f"unknown backend {backend!r}; allowed: {', '.join(BACKENDS)}", file=file, key="potential.backend")
    try:
        ranks = coerce_int(table.get("ranks_per_task", 1), "potential.ranks_per_task", minimum=1)
    except SpecError as exc:
        raise SpecError(exc.reason, file=file, key=exc.key) from None
    uf3 = None
    if "uf3" in table:
        uf3 = _spec_file(table["uf3"], file, "potential.uf3", "the path of a compiled .uf3 file",
                         "compiled GAP {} does not exist (make it with `lpsens potential compile`)")
    if "bundled" in table:
        try:
            which = coerce_enum(BundledPotential, table["bundled"], "potential.bundled")
        except SpecError as exc:
            raise SpecError(exc.reason, file=file, key=exc.key) from None
        from lpsens.potential import demo_potential_path

        gap, bundled = demo_potential_path(), which
        uf3_bundled = uf3 is None
        if uf3 is None:
            uf3 = _bundled_uf3()
            uf3_bundled = uf3 is not None
    else:
        gap = _spec_file(table["path"], file, "potential.path", "a file path", "GAP file {} does not exist")
        bundled, uf3_bundled = None, False
    if backend == "uf3" and uf3 is None:
        raise SpecError("backend \"uf3\" needs the compiled GAP: add uf3 = \"file.uf3\" "
                        "(make it with `lpsens potential compile GAP.xml -o file.uf3`)", file=file, key="potential.uf3")
    if ranks > 1 and not _lammps_evaluates(backend, uf3):
        raise SpecError(
            f"ranks_per_task = {ranks} needs a backend that LAMMPS evaluates itself (uf3 or native); "
            f"backend {backend!r}{'' if uf3 else ' without a uf3 file'} runs the GAP serially through quippy. "
            "Set ranks_per_task = 1 or backend = \"uf3\" with a compiled file",
            file=file, key="potential.ranks_per_task",
        )
    return PotentialSpec(gap, label, bundled, backend, uf3, ranks, uf3_bundled)


def _spec_file(raw, file, key: str, expected: str, missing: str) -> Path:
    """A file named in a spec, resolved: relative paths are relative to the spec file.

    Raises
    ------
    SpecError
        If ``raw`` is not a non-empty string (``expected`` says what it should be) or the file
        does not exist (``missing``, with ``{}`` for the path).
    """
    if not isinstance(raw, str) or not raw:
        raise SpecError(f"expected {expected}, got {raw!r}", file=file, key=key)
    path = Path(raw).expanduser()
    if not path.is_absolute() and file is not None:
        path = Path(file).resolve().parent / path
    if not path.is_file():
        raise SpecError(f"{missing.format(path)}; paths are relative to the spec file", file=file, key=key)
    return path.resolve()


def _lammps_evaluates(backend: str, uf3) -> bool:
    """True if MD runs the potential inside LAMMPS (uf3/native), so multi-rank tasks and NPT work."""
    return Backend(backend) in MULTI_RANK_BACKENDS or (backend == "auto" and uf3 is not None)


def _bundled_uf3() -> Path | None:
    """The compiled demo GAP shipped with lpsens, if this installation has it."""
    try:
        from lpsens.potential import demo_uf3_path
    except ImportError:  # an lpsens without the UF3 compiler
        return None
    path = demo_uf3_path()
    return path if path.is_file() else None


def validate_potential(spec: PotentialSpec, file=None):
    """Inspect the GAP XML (well-formed, label, species Li/P/S) before quippy ever sees it.

    Raises
    ------
    SpecError
        If the potential file cannot be used (the reason of its :class:`~lpsens.errors.PotentialError`).
    """
    from lpsens.potential import check_species, inspect_potential

    try:
        info = inspect_potential(spec.path, spec.label)
        check_species(info, [3, 15, 16])
    except LpsensError as exc:
        raise SpecError(f"{exc}", file=file, key="potential") from None
    return info


def validate_uf3(spec: PotentialSpec, gap_sha256: str, file=None):
    """Inspect the compiled GAP and check that its sidecar names this GAP (sha256); None if none.

    Raises
    ------
    SpecError
        Bad ``.uf3`` or sidecar, or a sidecar whose ``gap_sha256`` differs from the GAP's.
    """
    if spec.uf3 is None:
        return None
    from lpsens.potential import check_uf3_matches_gap, inspect_uf3

    try:
        uinfo = inspect_uf3(spec.uf3)
        check_uf3_matches_gap(uinfo, gap_sha256)
    except LpsensError as exc:
        raise SpecError(f"{exc}", file=file, key="potential.uf3") from None
    return uinfo
