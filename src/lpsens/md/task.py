"""One MD task = one signac job: equilibrate, run production in segments, checkpoint, resume.

The launcher, ``lpsens run`` and ``lpsens demo`` all call :func:`run_task`; a task never knows
how many others run beside it. Timeline (steps counted by LAMMPS from the start of
equilibration, ``g``)::

    relax ──► [NPT] ──► 0 ──equilibration (segments)──► E ──production (segments)──► E + P
                                                       frame 0                       last frame

* Relax: energy minimisation with the campaign's own potential (``protocol.minimize_*``,
  optionally with the cell, ``relax_cell``); the result is recorded in ``job.doc["relax"]`` and
  checkpointed as ``relaxed.restart`` so a resumed task never redoes it.
* NPT (``protocol.npt_ps`` > 0, backends ``uf3``/``native``): constant-pressure MD, then the cell
  is set to its mean over the second half (``job.doc["npt"]``). The density of the production
  cell is ``job.doc["density_g_cm3"]``. A task killed during NPT repeats NPT from the relaxed
  state; the first MD checkpoint (step 0) is written after it.

* Segments of ``protocol.segment_steps`` tile equilibration and production separately; at every
  segment boundary the task writes a checkpoint, updates ``job.doc`` progress, calls
  ``on_segment`` and asks ``should_stop``.
* Frames: production step 0 (end of equilibration), then every ``sample_every_steps``; one
  thermo sample per frame. Equilibration is not written to the trajectory.
* Resume: from ``checkpoint.h5`` + its LAMMPS restart file; ``trajectory.h5`` is first cut back
  to the checkpoint's ``n_frames``, so no frame is missing or duplicated.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lpsens.chemistry import ChemistryLimits, check_frame
from lpsens.errors import ChemistryError, MDError, PotentialError, StructureError
from lpsens.launch.lifecycle import serial_ase
from lpsens.md.backends import MULTI_RANK_BACKENDS, Backend
from lpsens.md.checkpoint import (
    Checkpoint,
    commit_restart,
    file_sha256,
    read_checkpoint,
    restart_name,
    write_checkpoint,
)
from lpsens.md.engine import LammpsMD, lammps_seed
from lpsens.md.protocol import MDProtocol
from lpsens.md.trajectory import THERMO_KEYS, TrajectoryWriter, read_trajectory_attrs
from lpsens.potential import (
    PotentialInfo,
    UF3Info,
    check_species,
    check_uf3_matches_gap,
    demo_potential_path,
    inspect_potential,
    inspect_uf3,
)
from lpsens.statepoint import StatePoint
from lpsens.vocabulary import Constraint

__all__ = ["TaskOutcome", "run_task", "TEMPERATURE_LIMIT_FACTOR", "resolve_potential", "resolve_uf3"]

#: The run is stopped with MDError when the mobile temperature exceeds this multiple of the target.
TEMPERATURE_LIMIT_FACTOR = 5.0

#: The ASE serial-I/O context under its earlier name here (lpsens.train.tasks imports it).
_serial_ase = serial_ase

INITIAL_FILE = "initial.extxyz"
TRAJECTORY_FILE = "trajectory.h5"
LOG_FILE = "md.log"
RELAXED_FILE = "relaxed.restart"


@dataclass(frozen=True)
class TaskOutcome:
    """What one call of :func:`run_task` did.

    Attributes
    ----------
    status
        ``"done"`` (production complete) or ``"timeout"`` (stopped by ``should_stop``).
    steps_done
        MD steps run by this call (0 if the job was already complete).
    wall_s
        Wall time of this call in s.
    steps_per_s
        ``steps_done / wall_s`` (0 if no steps were run).
    n_frames
        Complete trajectory frames on disk.
    """

    status: str
    steps_done: int
    wall_s: float
    steps_per_s: float
    n_frames: int


def _plain(value):
    """signac synced collections -> plain JSON values."""
    return json.loads(json.dumps(value, default=lambda o: o() if callable(o) else str(o)))


def resolve_potential(pdoc: dict, project_root=None) -> PotentialInfo:
    """Validate the potential named by a job document's ``potential`` entry.

    ``bundled: true`` means the file shipped in ``lpsens/data/potentials`` (looked up in this
    installation by file name); a relative ``path`` is relative to the project root.

    Raises
    ------
    PotentialError
        Bad file, unknown label, or a sha256 that differs from the one recorded in the job
        (the file changed since the campaign was created).
    """
    if not isinstance(pdoc, dict) or "path" not in pdoc:
        raise PotentialError("job document has no potential.path; re-create the job with `lpsens init`", key="potential")
    path = Path(pdoc["path"])
    if pdoc.get("bundled"):
        path = demo_potential_path().parent / path.name
    elif not path.is_absolute() and project_root is not None:
        path = Path(project_root) / path
    info = inspect_potential(path, pdoc.get("label"))
    expected = pdoc.get("sha256")
    if expected and expected != info.sha256:
        raise PotentialError(
            f"sha256 {info.sha256[:16]}... differs from the job's recorded {str(expected)[:16]}...: the file changed "
            "since the campaign was created; restore it or start a new campaign with the new potential",
            file=info.path,
            key="potential.sha256",
        )
    return info


def resolve_uf3(pdoc: dict, gap_sha256: str, project_root=None) -> UF3Info | None:
    """The compiled GAP named by a job document's ``potential`` entry, checked; None if none.

    ``uf3_bundled: true`` looks the file up in this installation's ``lpsens/data/potentials`` by
    name; a relative ``uf3_path`` is relative to the project root.

    Raises
    ------
    PotentialError
        Bad ``.uf3``/sidecar, a sidecar whose ``gap_sha256`` is not the job's GAP, or a file that
        changed since the campaign was created.
    """
    raw = pdoc.get("uf3_path") if isinstance(pdoc, dict) else None
    if not raw:
        return None
    path = Path(raw)
    if pdoc.get("uf3_bundled"):
        path = demo_potential_path().parent / path.name
    elif not path.is_absolute() and project_root is not None:
        path = Path(project_root) / path
    uinfo = inspect_uf3(path)
    expected = pdoc.get("uf3_sha256")
    if expected and expected != uinfo.sha256:
        raise PotentialError(
            f"sha256 {uinfo.sha256[:16]}... differs from the job's recorded {str(expected)[:16]}...: the compiled "
            "file changed since the campaign was created; restore it or start a new campaign with the new file",
            file=uinfo.path, key="potential.uf3_sha256",
        )
    check_uf3_matches_gap(uinfo, gap_sha256)
    return uinfo


def _read_initial(path: Path):
    import ase.io

    try:
        atoms = ase.io.read(path, format="extxyz", parallel=False)  # ASE would use COMM_WORLD
    except Exception as exc:  # ase raises many kinds on a corrupted file
        raise StructureError(
            f"cannot read the initial structure ({type(exc).__name__}: {exc}); delete it to rebuild it from the state point",
            file=path,
        ) from None
    if len(atoms) == 0 or not all(atoms.pbc) or atoms.cell.volume <= 0 or not np.isfinite(atoms.positions).all():
        raise StructureError(
            "initial structure is empty, not periodic or has a degenerate cell; delete it to rebuild it",
            file=path,
        )
    return atoms


def _ensure_initial(job, job_dir: Path, point: StatePoint, doc: dict, is_root: bool, comm):
    with serial_ase():
        return _ensure_initial_serial(job, job_dir, point, doc, is_root, comm)


def _ensure_initial_serial(job, job_dir: Path, point: StatePoint, doc: dict, is_root: bool, comm):
    path = job_dir / INITIAL_FILE
    error = None
    if is_root and not path.exists():
        try:
            import ase.io

            from lpsens.structures import build_structure

            system = doc.get("system") or {}
            atoms = build_structure(
                point.material.value, point.x_Li2S_mol_pct, doc["seed"],
                min_atoms=int(system.get("min_atoms") or 0), min_width_A=float(system.get("min_width_A") or 0.0),
            )
            tmp = path.with_name(path.name + ".tmp")
            ase.io.write(tmp, atoms, format="extxyz", parallel=False)
            os.replace(tmp, path)
        except Exception as exc:  # re-raised below on every rank, so none waits forever
            error = exc
    message = comm.bcast(None if error is None else str(error), root=0)
    if error is not None:
        raise error
    if message is not None:
        raise StructureError(f"building the initial structure failed on rank 0: {message}", file=path)
    return _read_initial(path)


def _frozen_mask(numbers, constraint: Constraint, path: Path) -> np.ndarray:
    z = constraint.frozen_Z
    mask = np.zeros(len(numbers), bool) if z is None else (np.asarray(numbers) == z)
    if z is not None and not mask.any():
        raise StructureError(f"constraint {constraint.value} but the structure has no atoms with Z={z}", file=path,
                             key="constraint")
    return mask


def run_task(job, *, comm=None, should_stop=None, backend=None, on_segment=None) -> TaskOutcome:
    """Run (or resume) the MD of one signac job.

    Parameters
    ----------
    job
        signac job; state point per docs/formats.md; ``job.doc`` holds ``seed``, ``protocol``,
        ``potential`` and ``system``.
    comm
        mpi4py communicator for LAMMPS (None: ``MPI.COMM_SELF``). Every rank of ``comm`` calls
        ``run_task``; rank 0 writes the files. The ``quippy`` backend needs 1 rank.
    should_stop
        Callable returning True to stop at the next segment boundary (checked at every
        boundary, on rank 0); the task checkpoints and returns status ``"timeout"``.
    backend
        ``"auto"``, ``"uf3"``, ``"native"`` or ``"quippy"`` (see :mod:`lpsens.md.backends`); None
        (default): the job's ``potential.backend`` (the campaign's choice), else ``"auto"``.
    on_segment
        Optional ``callback(progress_steps, total_steps)`` called at every segment boundary.

    Returns
    -------
    TaskOutcome

    Raises
    ------
    SpecError
        The job's state point is not a valid lpsens state point (:meth:`StatePoint.from_job`).
    PotentialError, StructureError, MDError
        Bad potential, unreadable/unbuildable structure, LAMMPS failure or exploding temperature.
        The caller records the reason in the job document.
    ChemistryError
        (an MDError) A frame written since the last segment boundary has broken chemistry and
        ``protocol.stop_on_broken_chemistry`` is on; the frames and the checkpoint up to that
        boundary are on disk, the trajectory is not marked complete.
    """
    from mpi4py import MPI

    t0 = time.perf_counter()
    comm = MPI.COMM_SELF if comm is None else comm
    is_root = comm.Get_rank() == 0
    job_dir = Path(job.path)
    point = StatePoint.from_job(job)
    doc = _plain(job.doc())
    pdoc = doc.get("potential") if isinstance(doc.get("potential"), dict) else {}
    backend = Backend.parse(pdoc.get("backend", "auto") if backend is None else backend)

    traj = TrajectoryWriter(job_dir / TRAJECTORY_FILE)
    attrs = read_trajectory_attrs(traj.path) if traj.exists() else {}
    if attrs.get("complete"):
        return TaskOutcome("done", 0, time.perf_counter() - t0, 0.0, int(attrs["n_frames"]))

    if "protocol" not in doc or "seed" not in doc:
        raise MDError("job document lacks 'protocol' or 'seed'; re-create the job with `lpsens init`", job_id=job.id)
    protocol = MDProtocol.from_dict(doc["protocol"])
    temperature_K = float(point.temperature_K)
    seed = int(doc["seed"])
    constraint = point.constraint
    project = getattr(job, "project", None)
    info = resolve_potential(doc.get("potential"), getattr(project, "path", None))
    uf3 = resolve_uf3(pdoc, info.sha256, getattr(project, "path", None))

    atoms = _ensure_initial(job, job_dir, point, doc, is_root, comm)
    check_species(info, atoms.numbers)
    frozen = _frozen_mask(atoms.numbers, constraint, job_dir / INITIAL_FILE)

    ckpt = read_checkpoint(job_dir)
    if ckpt is not None:
        _check_compatible(ckpt, info, protocol, len(atoms), job_dir)
    elif is_root:  # fresh start: drop leftovers of a run that died before its first checkpoint
        for stale in job_dir.glob("checkpoint_*.restart*"):
            stale.unlink(missing_ok=True)
        traj.path.unlink(missing_ok=True)
    comm.Barrier()
    relax_identity = _relax_identity(protocol, backend, info, uf3)
    relaxed = None if ckpt is not None else _completed_relax(doc, relax_identity, job_dir)
    start_from = job_dir / ckpt.restart_file if ckpt is not None else relaxed

    eq, prod = protocol.equilibration_steps, protocol.production_steps
    total, seg, every = protocol.total_steps, protocol.segment_steps, protocol.sample_every_steps
    dt_ps = protocol.timestep_ps

    engine = LammpsMD(
        atoms, info, timestep_fs=protocol.timestep_fs, frozen=frozen, backend=backend, comm=comm,
        log_path=job_dir / LOG_FILE, restart=start_from, uf3=uf3,
    )
    try:
        if protocol.npt_steps and engine.backend not in MULTI_RANK_BACKENDS:
            raise MDError(f"NPT equilibration (protocol.npt_ps = {protocol.npt_ps:g}) needs backend uf3 or native, "
                          f"this task runs {engine.backend.value}; set npt_ps = 0 or use a compiled GAP", key="protocol.npt_ps")
        stages = {k: doc.get(k) for k in ("relax", "npt", "density_g_cm3")}
        if ckpt is None:
            stages = _prepare(engine, job, protocol, job_dir, relaxed is not None, relax_identity, temperature_K, seed,
                              is_root, comm)
        engine.set_thermostat(protocol.thermostat, temperature_K, protocol.thermostat_damping_fs, seed)
        g = engine.step
        n_frames = 0
        if ckpt is not None:
            if g != ckpt.step:
                raise MDError(f"restart file is at step {g}, checkpoint.h5 says {ckpt.step}", file=job_dir / ckpt.restart_file)
            n_frames = ckpt.n_frames
            if is_root and n_frames > 0:
                traj.truncate(n_frames)

        provenance = {
            "lammps_version": engine.lammps_version,
            "backend": engine.backend.value,
            "potential": {"path": str(info.path), "label": info.label, "sha256": info.sha256, "species": list(info.species),
                          "uf3_path": None if uf3 is None else str(uf3.path),
                          "uf3_sha256": None if uf3 is None else uf3.sha256,
                          "uf3_e0_offset_eV": engine.forces.energy_offset_eV},
            "protocol": protocol.to_dict(),
            "seed": seed,
            "lammps_seeds": {"velocity": lammps_seed(seed, "velocity"), "csvr": lammps_seed(seed, "csvr")},
            "n_atoms": len(atoms),
            "n_frozen": int(frozen.sum()),
            "mpi_ranks": comm.Get_size(),
            "temperature_limit_K": TEMPERATURE_LIMIT_FACTOR * temperature_K,
            "lpsens_version": _version("lpsens"),
            "quippy_version": _version("quippy-ase"),
            "ase_version": _version("ase"),
            "host": socket.gethostname(),
            "started_at_step": g,
        }
        if is_root:
            history = list(doc.get("provenance", {}).get("history", []))
            history.append({"step": g, "backend": engine.backend.value, "lammps_version": engine.lammps_version,
                            "mpi_ranks": comm.Get_size(), "host": provenance["host"]})
            job.doc["provenance"] = {**provenance, "history": history}

        meta = {
            "thermostat": protocol.thermostat.value,
            "thermostat_state": {"stored_in": "LAMMPS restart file (fix nvt chain variables / fix temp/csvr RNG)"},
            "protocol": protocol.to_dict(),
            "potential_sha256": info.sha256,
            "uf3_sha256": None if uf3 is None else uf3.sha256,
            "backend": engine.backend.value,
            "lammps_version": engine.lammps_version,
            "n_atoms": len(atoms),
        }
        ckpt_step = ckpt.step if ckpt is not None else None

        def checkpoint(step: int, frames: int) -> None:
            nonlocal ckpt_step
            name = restart_name(step)
            tmp = job_dir / (name + ".tmp")
            engine.write_restart(tmp)  # collective
            pos, vel, img = engine.positions_unwrapped(), engine.velocities(), engine.image()  # collective
            if is_root:
                sha = commit_restart(tmp, job_dir / name)
                write_checkpoint(job_dir, Checkpoint(step, frames, pos, vel, img, name, sha, meta))
                job.doc.update({"progress_steps": step, "total_steps": total})
            comm.Barrier()
            ckpt_step = step

        def check_temperature(sample: dict) -> None:
            limit = TEMPERATURE_LIMIT_FACTOR * temperature_K
            if sample["temperature_K"] > limit:
                raise MDError(
                    f"temperature {sample['temperature_K']:.0f} K exceeds {TEMPERATURE_LIMIT_FACTOR:g} x the target "
                    f"{temperature_K:g} K at step {sample['step']}: the dynamics exploded (bad structure, potential "
                    "outside its training range, or too long a timestep)",
                    job_id=job.id,
                )

        # the campaign's [analysis] thresholds, as `lpsens analyze` will apply them (read on every
        # rank, so a bad value raises everywhere)
        limits = ChemistryLimits.from_settings(getattr(project, "doc", {}).get("analysis_settings"))

        def check_chemistry(new_frames, first_frame: int) -> None:
            # only the frames written since the last boundary: the cost stays a fixed share of the MD
            message = None
            if protocol.stop_on_broken_chemistry and is_root:
                for k, x in enumerate(new_frames):
                    found = check_frame(atoms.numbers, x, engine.cell, limits)
                    if found:
                        f = first_frame + k
                        more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
                        message = (f"broken chemistry in frame {f} ({f * protocol.sampling_interval_ps:g} ps): "
                                   f"{found[0].message}{more}; found at the segment boundary at step {g}, where the "
                                   "run was stopped: the potential does not hold this structure at this temperature "
                                   "(set [protocol] stop_on_broken_chemistry = false to let such runs go on)")
                        break
            message = comm.bcast(message, root=0)
            if message is not None:
                raise ChemistryError(message, job_id=job.id)

        if ckpt is None and protocol.npt_steps and g < eq:
            checkpoint(g, 0)  # a task killed later need not repeat NPT

        last_sample = None
        steps_done = 0
        status = "done"
        while True:
            if g >= eq and n_frames == 0:  # end of equilibration: frame 0, then checkpoint
                sample = last_sample if last_sample is not None and last_sample["step"] == g else engine.run(0)
                pos = engine.positions_unwrapped()
                if is_root:
                    traj.create(numbers=atoms.numbers, cell=engine.cell, frozen=frozen,
                                attrs=_traj_attrs(point, protocol, info, engine, seed, constraint.value, uf3, stages))
                    traj.append(pos[None], [0.0], [0], {k: [sample[k]] for k in THERMO_KEYS})
                n_frames = 1
                checkpoint(g, n_frames)
                check_chemistry([pos], 0)
            if g >= total:
                break
            stop = bool(should_stop()) if (should_stop is not None and is_root) else False
            if comm.bcast(stop, root=0):
                if ckpt_step != g:
                    checkpoint(g, n_frames)
                status = "timeout"
                break

            seg_end = min(g + seg, eq) if g < eq else eq + min(g - eq + seg, prod)
            frames = []
            while g < seg_end:
                if g < eq:
                    target = min(g + every, seg_end)
                else:
                    target = eq + min(((g - eq) // every + 1) * every, seg_end - eq)
                last_sample = engine.run(target - g)
                steps_done += target - g
                g = target
                check_temperature(last_sample)
                if g > eq and (g - eq) % every == 0:
                    frames.append((engine.positions_unwrapped(), last_sample))
            if frames and is_root:
                steps = np.array([s["step"] - eq for _, s in frames], dtype=np.int64)
                traj.append(
                    np.stack([p for p, _ in frames]), steps * dt_ps, steps,
                    {k: [s[k] for _, s in frames] for k in THERMO_KEYS},
                )
            n_frames += len(frames)
            if not (g == eq and n_frames == 0):  # that boundary is checkpointed with frame 0 above
                checkpoint(g, n_frames)
            check_chemistry([p for p, _ in frames], n_frames - len(frames))
            if on_segment is not None:
                on_segment(g, total)

        if status == "done" and is_root:
            traj.set_attrs(complete=True)
            job.doc.update({"progress_steps": total, "total_steps": total})
    finally:
        engine.close()

    wall = time.perf_counter() - t0
    return TaskOutcome(status, steps_done, wall, steps_done / wall if steps_done else 0.0, n_frames)


def _check_compatible(ckpt: Checkpoint, info: PotentialInfo, protocol: MDProtocol, n_atoms: int, job_dir: Path):
    fix = "restore the original settings (the checkpoint is kept; rerun this job under a new state point or campaign to change them)"
    if ckpt.meta.get("potential_sha256") != info.sha256:
        raise PotentialError(f"checkpoint was made with another potential (sha256 {str(ckpt.meta.get('potential_sha256'))[:12]}); {fix}",
                             file=job_dir / "checkpoint.h5", key="potential_sha256")
    physics = lambda d: {k: v for k, v in (d or {}).items() if k != "stop_on_broken_chemistry"}  # noqa: E731
    if physics(ckpt.meta.get("protocol")) != physics(protocol.to_dict()):
        raise MDError(f"checkpoint was made with another protocol {ckpt.meta.get('protocol')}; {fix}",
                      file=job_dir / "checkpoint.h5", key="protocol")
    if ckpt.meta.get("n_atoms") != n_atoms:
        raise MDError(f"checkpoint has {ckpt.meta.get('n_atoms')} atoms, initial.extxyz {n_atoms}; {fix}",
                      file=job_dir / "checkpoint.h5", key="n_atoms")


def _traj_attrs(point: StatePoint, protocol: MDProtocol, info: PotentialInfo, engine: LammpsMD, seed: int, constraint: str,
                uf3: UF3Info | None, stages: dict) -> dict:
    relax = stages.get("relax") or {}
    npt = stages.get("npt") or {}
    return {
        "temperature_K": float(point.temperature_K),
        "timestep_fs": protocol.timestep_fs,
        "sampling_interval_fs": protocol.sampling_interval_fs,
        "equilibration_ps": protocol.equilibration_ps,
        "production_ps": protocol.production_ps,
        "thermostat": protocol.thermostat.value,
        "thermostat_damping_fs": protocol.thermostat_damping_fs,
        "protocol": protocol.to_dict(),
        "backend": engine.backend.value,
        "potential_sha256": info.sha256,
        "potential_label": info.label,
        "uf3_path": "" if uf3 is None else str(uf3.path),
        "uf3_sha256": "" if uf3 is None else uf3.sha256,
        "mpi_ranks": engine.comm.Get_size(),
        "density_g_cm3": float(stages.get("density_g_cm3") or engine.density_g_cm3()),
        "relax_energy_initial_eV": float(relax.get("energy_initial_eV", float("nan"))),
        "relax_energy_eV": float(relax.get("energy_eV", float("nan"))),
        "relax_max_force_eV_A": float(relax.get("max_force_eV_A", float("nan"))),
        "relax_steps": int(relax.get("steps", 0)),
        "npt_volume_A3": float(npt.get("volume_A3", float("nan"))),
        "lammps_version": engine.lammps_version,
        "constraint": constraint,
        "material": point.material.value,
        "x_Li2S_mol_pct": point.x_Li2S_mol_pct,
        "replica": point.replica,
        "seed": seed,
        "statepoint": dict(sorted(point.to_dict().items())),
    }


def _completed_relax(doc: dict, identity: dict, job_dir: Path) -> Path | None:
    """``relaxed.restart`` if a finished relax with these settings is recorded and intact, else None."""
    relax = doc.get("relax")
    path = job_dir / RELAXED_FILE
    if not isinstance(relax, dict) or relax.get("protocol") != identity or not path.is_file():
        return None
    return path if file_sha256(path) == relax.get("restart_sha256") else None


def _relax_identity(protocol: MDProtocol, backend: Backend, info: PotentialInfo, uf3: UF3Info | None) -> dict:
    """What a relaxed structure depends on: the relax settings and the potential (as requested)."""
    keys = ("minimize_max_steps", "minimize_ftol_eV_A", "minimize_etol", "relax_cell", "pressure_bar", "npt_coupling")
    d = protocol.to_dict()
    return {**{k: d[k] for k in keys}, "backend": backend.value, "potential_sha256": info.sha256,
            "uf3_sha256": None if uf3 is None else uf3.sha256}


def _prepare(engine: LammpsMD, job, protocol: MDProtocol, job_dir: Path, relaxed: bool, identity: dict,
             temperature_K: float, seed: int, is_root: bool, comm) -> dict:
    """Relax (unless done), velocities, optional NPT: the state at MD step 0. Returns the stage records."""
    doc_relax = job.doc.get("relax") if relaxed else None
    if not relaxed:
        relax = None
        if protocol.minimize_max_steps > 0:
            relax = engine.minimize(
                etol=protocol.minimize_etol, ftol_eV_A=protocol.minimize_ftol_eV_A,
                max_steps=protocol.minimize_max_steps, max_evals=10 * protocol.minimize_max_steps,
                relax_cell=protocol.relax_cell, pressure_bar=protocol.pressure_bar, coupling=protocol.npt_coupling.value,
            )
            tmp = job_dir / (RELAXED_FILE + ".tmp")
            engine.write_restart(tmp)  # collective
            if is_root:
                relax["restart_sha256"] = commit_restart(tmp, job_dir / RELAXED_FILE)
                relax["protocol"] = identity
                job.doc["relax"] = relax
            comm.Barrier()
        elif is_root:
            job.doc["relax"] = None
        doc_relax = relax
    engine.create_velocities(temperature_K, seed)
    npt = None
    if protocol.npt_steps:
        npt = engine.equilibrate_npt(
            protocol.npt_steps, temperature_K=temperature_K, pressure_bar=protocol.pressure_bar,
            coupling=protocol.npt_coupling.value, damping_fs=protocol.thermostat_damping_fs,
            barostat_damping_fs=protocol.barostat_damping_fs,
        )
    density = engine.density_g_cm3()
    if is_root:
        job.doc.update({"npt": npt, "density_g_cm3": density})
    return {"relax": _plain(doc_relax) if doc_relax is not None else None, "npt": npt, "density_g_cm3": density}


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"

