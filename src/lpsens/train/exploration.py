"""MD with a candidate GAP: minimise first, then Langevin frames (iteration and stability gates).

Every run starts from the structure minimised with the candidate potential (FIRE), as every
MD task does (issue 9 item 5): a built glass sits far above its minimum and breaks units at
once when heated directly, which would be the builder's failure, not the potential's.
Frames carry the GAP energy per atom in ``info["energy_per_atom_eV"]`` (no calculator, so
they are never mistaken for labels).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units

from lpsens.errors import TrainingError

__all__ = ["gap_calculator", "minimise", "md_frames", "COLLAPSE_A"]

#: A run stops when two atoms come closer than this (Å): nothing after it is physics.
COLLAPSE_A = 0.8


def gap_calculator(xml_path):
    """quippy calculator of a gap_fit XML, including its core potential (the file's top-level ``Potential``).

    Raises
    ------
    TrainingError
        quippy cannot load the file.
    """
    from quippy.potential import Potential

    try:
        return Potential(param_filename=str(xml_path))
    except Exception as exc:  # noqa: BLE001 -- quippy raises bare RuntimeErrors
        raise TrainingError(f"quippy cannot load the GAP: {exc}", file=xml_path) from None


def minimise(atoms: Atoms, calc, steps: int, fmax_eV_A: float = 0.05) -> tuple[Atoms, dict]:
    """FIRE minimisation (fixed cell) for at most ``steps`` steps; returns the copy and a record."""
    from ase.optimize import FIRE

    a = atoms.copy()
    a.calc = calc
    e0 = a.get_potential_energy()
    if steps > 0:
        FIRE(a, logfile=None).run(fmax=fmax_eV_A, steps=steps)
    rec = {"energy_start_eV": float(e0), "energy_min_eV": float(a.get_potential_energy()),
           "max_force_eV_A": float(np.linalg.norm(a.get_forces(), axis=1).max())}
    return a, rec


def md_frames(atoms: Atoms, calc, *, temperature_K: float, steps: int, every: int, timestep_fs: float,
              seed: int, run: str) -> list[Atoms]:
    """Langevin MD; one frame every ``every`` steps (the start is frame 0); stops at a collapse."""
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    a = atoms.copy()
    a.calc = calc
    MaxwellBoltzmannDistribution(a, temperature_K=temperature_K, rng=np.random.default_rng(seed))
    dyn = Langevin(a, timestep_fs * units.fs, temperature_K=temperature_K, friction=0.01 / units.fs, fixcm=False,
                   rng=np.random.default_rng([seed, 1]))
    frames = []

    def snap(step):
        f = Atoms(a.numbers, positions=a.positions, cell=a.cell, pbc=True)
        f.info.update(run=run, md_step=step, energy_per_atom_eV=float(a.get_potential_energy()) / len(a),
                      temperature_K=float(a.get_temperature()))
        frames.append(f)

    snap(0)
    for k in range(1, steps // every + 1):
        dyn.run(every)
        if not np.isfinite(a.positions).all():
            raise TrainingError(f"MD run {run}: non-finite positions at step {k * every} (lost atoms)")
        snap(k * every)
        if len(a) > 1 and a.get_all_distances(mic=True)[np.triu_indices(len(a), 1)].min() < COLLAPSE_A:
            frames[-1].info["collapsed"] = True
            break
    return frames
