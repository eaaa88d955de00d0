"""Reference labels: any ASE calculator named by import path labels energy, forces and stress.

A labelling task reads ``config.extxyz`` from its job directory and writes
``labelled.extxyz`` (atomically, so a killed task leaves either nothing or a complete file).
MD tasks (Langevin with the reference) write each labelled snapshot to
``snapshots.partial.extxyz`` (positions and momenta) and resume from the last one.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.singlepoint import SinglePointCalculator

from lpsens.errors import TrainingError
from lpsens.train.spec import CrosscheckSpec, ReferenceSpec

__all__ = ["calculator_class", "cached_calculator", "make_calculator", "label", "label_md", "crosscheck",
           "bridged_P_fraction", "CONFIG_FILE", "LABELLED_FILE", "PARTIAL_FILE"]

CONFIG_FILE = "config.extxyz"
LABELLED_FILE = "labelled.extxyz"
PARTIAL_FILE = "snapshots.partial.extxyz"


def calculator_class(ref: ReferenceSpec, *, file=None, section: str = "reference"):
    """The class (or factory) named by ``ref.calculator``, imported; checked to offer forces.

    ``section`` is the spec table errors name (``reference`` or ``crosscheck``).

    Raises
    ------
    TrainingError
        Module or attribute not found, or a class whose ``implemented_properties`` lacks forces.
    """
    module_name, _, attr = ref.calculator.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TrainingError(f"cannot import module {module_name!r} of calculator {ref.calculator!r} ({exc}); "
                            "install the package that provides it (SevenNet: pip install '.[train]') or fix the "
                            "import path", file=file, key=f"{section}.calculator") from None
    try:
        cls = getattr(module, attr)
    except AttributeError:
        raise TrainingError(f"module {module_name!r} has no {attr!r}; fix {section}.calculator",
                            file=file, key=f"{section}.calculator") from None
    props = getattr(cls, "implemented_properties", None)
    if props and "forces" not in props:  # some classes (SevenNet) fill the list per instance: only a declared list counts
        raise TrainingError(f"calculator {ref.calculator!r} implements {list(props)} but no forces; a GAP needs "
                            "forces: use a calculator that implements 'forces'", file=file, key=f"{section}.calculator")
    return cls


def make_calculator(ref: ReferenceSpec, *, file=None, section: str = "reference"):
    """Instantiate ``ref.calculator`` (``"module:Class"``) with ``ref.kwargs``.

    ``ref.cores`` sets ``OMP_NUM_THREADS`` and, if torch is already imported, torch's thread
    count, before the calculator is made.

    Raises
    ------
    TrainingError
        Module or attribute not found, or the constructor failed (key ``{section}.calculator``).
    """
    os.environ["OMP_NUM_THREADS"] = str(ref.cores)
    cls = calculator_class(ref, file=file, section=section)
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(ref.cores)
    try:
        return cls(**ref.kwargs)
    except Exception as exc:  # noqa: BLE001 -- any constructor error is the spec's problem
        raise TrainingError(f"calculator {ref.calculator!r} could not be made with kwargs {ref.kwargs}: "
                            f"{type(exc).__name__}: {exc}", file=file, key=f"{section}.kwargs") from None


_CACHE: dict[str, object] = {}


def cached_calculator(ref: ReferenceSpec, *, file=None, section: str = "reference"):
    """:func:`make_calculator`, made once per process and spec (a launcher runs many labelling tasks
    in one process; loading SevenNet-0 takes seconds)."""
    import json

    key = json.dumps([ref.calculator, ref.kwargs, ref.cores], sort_keys=True)
    if key not in _CACHE:
        _CACHE[key] = make_calculator(ref, file=file, section=section)
    return _CACHE[key]


def label(atoms: Atoms, calc, *, name: str = "reference", file=None, section: str = "reference") -> Atoms:
    """A copy of ``atoms`` with the reference energy (eV), forces (eV/Å, (N, 3)) and stress (eV/Å³, Voigt 6) if given.

    Raises
    ------
    TrainingError
        The calculator returns no forces or non-finite values. A calculator exception
        propagates (the launcher records it as the task's failure).
    """
    a = atoms.copy()
    a.calc = calc
    energy = a.get_potential_energy()
    try:
        forces = a.get_forces()
    except PropertyNotImplementedError:
        raise TrainingError(f"calculator {name!r} returns no forces; a GAP needs forces: use a calculator that "
                            "implements 'forces'", file=file, key=f"{section}.calculator") from None
    forces = None if forces is None else np.asarray(forces, float)
    if forces is None or forces.shape != (len(a), 3):
        raise TrainingError(f"calculator {name!r} returned forces of shape {getattr(forces, 'shape', None)}, "
                            f"expected ({len(a)}, 3)", file=file, key=f"{section}.calculator")
    try:
        stress = np.asarray(a.get_stress(), float)
    except (PropertyNotImplementedError, NotImplementedError):
        stress = None
    if not (np.isfinite(energy) and np.isfinite(forces).all()):
        raise TrainingError(f"calculator {name!r} returned a non-finite energy or force", file=file)
    out = Atoms(a.numbers, positions=a.positions, cell=a.cell, pbc=a.pbc)
    out.info.update({k: v for k, v in atoms.info.items() if isinstance(v, (str, int, float))})
    kw = {"energy": float(energy), "forces": forces}
    if stress is not None and np.isfinite(stress).all():
        kw["stress"] = stress
    out.calc = SinglePointCalculator(out, **kw)
    return out


def write_frames(path: Path, frames: list[Atoms]) -> None:
    """Write extxyz atomically (temporary name, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.extxyz")
    ase.io.write(tmp, frames, format="extxyz")
    os.replace(tmp, path)


def label_md(atoms: Atoms, calc, md: dict, *, seed: int, job_dir: Path, name: str,
             should_stop=None) -> tuple[list[Atoms], bool]:
    """Langevin MD with the reference; every ``md["every"]``-th step labelled (step 0 excluded).

    With ``md["minimise_steps"]`` > 0 the start is first relaxed with the reference behind the
    contact wall, then alone (:func:`lpsens.train.wall.minimise_behind_wall`, fmax 0.05 eV/Å,
    so the minimum is the glass's own, not an S-S bond made on the way down): a raw built glass breaks its units within 40-80 fs of MD with SevenNet-0
    (issue 10), a minimised one keeps them for picoseconds, and the labels should describe the
    intact glass and the thermal motion around it. Resumes from ``snapshots.partial.extxyz`` in ``job_dir``. Returns (frames, complete);
    ``complete`` is False when ``should_stop()`` said stop between snapshots.
    """
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    partial = job_dir / PARTIAL_FILE
    frames = ase.io.read(partial, ":") if partial.exists() else []
    n_total = int(md["steps"]) // int(md["every"])
    a = atoms.copy()
    if frames:
        a.positions = frames[-1].positions
        a.set_momenta(frames[-1].get_momenta())
    else:
        if int(md.get("minimise_steps", 0)) > 0:
            from lpsens.train.wall import minimise_behind_wall

            a, _ = minimise_behind_wall(a, calc, int(md["minimise_steps"]))
            a.calc = None
        MaxwellBoltzmannDistribution(a, temperature_K=md["temperature_K"], rng=np.random.default_rng(seed))
    a.calc = calc
    while len(frames) < n_total:
        if should_stop is not None and should_stop():
            return frames, False
        dyn = Langevin(a, md["timestep_fs"] * units.fs, temperature_K=md["temperature_K"], friction=0.02 / units.fs, fixcm=False,
                       rng=np.random.default_rng([seed, len(frames)]))
        dyn.run(int(md["every"]))
        frame = label(a, calc, name=name, file=job_dir / CONFIG_FILE)
        frame.set_momenta(a.get_momenta(), apply_constraint=False)
        frame.info["md_step"] = (len(frames) + 1) * int(md["every"])
        frames.append(frame)
        write_frames(partial, frames)
    return frames, True


def bridged_P_fraction(atoms: Atoms) -> float:
    """Fraction of the P atoms of ``atoms`` that are not in an isolated PS4 unit (0 without P).

    Units by :func:`lpsens.chemistry.unit_census`: P2S7 and whatever a broken or new bridge
    makes of it (chains, edge-sharing P2S6, other) count; PS4 and P2S6 with its P-P bond do not.
    """
    from lpsens.chemistry import unit_census

    kinds = unit_census(atoms.numbers, atoms.positions, atoms.cell.array).kind_of_P
    return float(np.isin(kinds, ("PS4", "P2S6"), invert=True).mean()) if len(kinds) else 0.0


def crosscheck(frames: list[Atoms], calc, cc: CrosscheckSpec, config_type: str, *, file=None) -> list[float]:
    """Re-compute the forces of the P2S7-rich frames with a second reference (issue 10 item 5).

    A frame is checked when ``config_type`` is one of ``cc.config_types`` and
    :func:`bridged_P_fraction` >= ``cc.min_bridged_P_fraction``; it gets
    ``info["crosscheck_force_rms_eV_A"]`` (RMS over all components of the difference between the
    two references' forces, eV/Å) and ``info["crosscheck"]`` (the second reference's name).
    The frames' labels stay the primary reference's.

    Returns
    -------
    list of float
        The RMS differences of the checked frames (empty: none was P2S7-rich).

    Raises
    ------
    TrainingError
        The second reference returns no forces or non-finite values.
    """
    if not cc.calculator or config_type not in cc.config_types:
        return []
    name = cc.name or cc.calculator
    out = []
    for f in frames:
        if bridged_P_fraction(f) < cc.min_bridged_P_fraction:
            continue
        other = label(f, calc, name=name, file=file, section="crosscheck")
        rms = float(np.sqrt(np.mean((other.get_forces() - f.get_forces()) ** 2)))
        f.info.update(crosscheck=name, crosscheck_force_rms_eV_A=rms)
        out.append(rms)
    return out
