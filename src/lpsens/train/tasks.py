"""Training tasks for the launcher: label, fit, explore (one signac job each).

:func:`run_train_task` has the contract of :func:`lpsens.md.task.run_task` (same arguments,
same :class:`~lpsens.md.task.TaskOutcome`), so ``lpsens launch`` packs, claims, journals,
resumes and isolates failures of training tasks exactly like MD tasks. Only rank 0 of the
group computes (reference calculators and gap_fit are single-process here); the others wait
and share its outcome.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import ase.io

from lpsens.errors import PotentialError, TrainingError
from lpsens.md.task import TaskOutcome, _serial_ase
from lpsens.potential.prior import TetrahedralPrior
from lpsens.train import fit as fitting
from lpsens.train.labelling import (
    CONFIG_FILE,
    LABELLED_FILE,
    PARTIAL_FILE,
    cached_calculator,
    crosscheck,
    label,
    label_md,
    write_frames,
)
from lpsens.train.spec import CONTACT_CUTOFF_A, PAIRS, ReferenceSpec

__all__ = ["run_train_task", "fit_generation", "FRAMES_FILE", "PATH_FILE", "GAP_FILE", "UF3_FILE"]

FRAMES_FILE = "frames.extxyz"
#: an exploration's path into its first break ([iterate] failure_path_every)
PATH_FILE = "failure_path.extxyz"
GAP_FILE = "gap.xml"
UF3_FILE = "gap.uf3"


def _spec(job):
    from lpsens.train.generations import spec_of

    return spec_of(job.project)


def label_md_cost(md: dict, n_frames: int | None = None) -> int:
    """Force calls of a reference-MD label (the launcher's cost unit): the minimisation's budget
    (behind the contact wall, then alone: 2 x ``minimise_steps``), then ``every`` MD steps and one
    labelled snapshot per frame; of the first ``n_frames`` frames (None: all ``steps / every``)."""
    n = int(md["steps"]) // int(md["every"]) if n_frames is None else n_frames
    minimise = 2 * int(md.get("minimise_steps") or 0)
    return (minimise + n * (int(md["every"]) + 1)) if n else 0


def _label_task(job, spec, should_stop) -> tuple[str, int]:
    job_dir = Path(job.path)
    if (job_dir / LABELLED_FILE).exists():
        return "done", 0
    atoms = ase.io.read(job_dir / CONFIG_FILE)
    calc = cached_calculator(spec.reference, file=spec.source)
    name = spec.reference.name or spec.reference.calculator
    md = job.doc.get("md")
    if md:
        # force calls, the unit of the job's cost_steps (label_md_cost): the minimisation's budget,
        # then every MD step and every labelled snapshot
        before = int(job.doc.get("progress_steps") or 0)  # of earlier runs (a resumed reference MD)
        frames, complete = label_md(atoms, calc, dict(md), seed=int(job.doc["seed"]), job_dir=job_dir,
                                    name=name, should_stop=should_stop)
        done = label_md_cost(md, len(frames))
        job.doc["progress_steps"] = done  # the launcher's run record: from here on
        calls = max(0, done - before)
        if not complete:
            return "timeout", calls
        for f in frames:
            f.arrays.pop("momenta", None)
    else:
        frames = [label(atoms, calc, name=name, file=job_dir / CONFIG_FILE)]
    cc = spec.crosscheck
    if cc.calculator:
        cc_calc = cached_calculator(ReferenceSpec(calculator=cc.calculator, kwargs=cc.kwargs, cores=spec.reference.cores,
                                                  name=cc.name), file=spec.source, section="crosscheck")
        rms = crosscheck(frames, cc_calc, cc, job.doc["config_type"], file=job_dir / CONFIG_FILE)
        job.doc["crosscheck"] = {"n_checked": len(rms), "max_force_rms_eV_A": max(rms, default=None)}
    write_frames(job_dir / LABELLED_FILE, frames)
    (job_dir / PARTIAL_FILE).unlink(missing_ok=True)  # after the labels are safe: they hold its frames
    job.doc["n_labelled"] = len(frames)
    return "done", calls if md else 1


def fit_generation(project, g: int, spec, out_dir: Path, should_stop=None) -> dict:
    """Fit generation ``g``'s GAP from the labels of generations <= g into ``out_dir``.

    Writes ``core.xml`` (when the spec has a core), ``train.extxyz``, ``heldout.extxyz``,
    ``gap_fit.log``, ``gap.xml`` (renamed into place last) and, with ``[fit] compile``, its uf3
    twin ``gap.uf3`` (+ sidecar). Usable outside a campaign's fit task, e.g. to refit one
    generation's training set with another ``[fit]``.

    Returns
    -------
    dict
        What the fit task stores in its job document (e0, core, command, counts, prior, fidelity).

    Raises
    ------
    FitStopped
        ``should_stop()`` turned true or a signal killed gap_fit (no gap.xml written).
    TrainingError
        The fit would not fit in the free memory (before anything is written), gap_fit failed or
        was killed (names its log), the prior could not be added to its XML, or the compiled twin
        missed ``[fit] compile_tolerance_eV_A`` (no gap.xml, no twin written).
    """
    from lpsens.train.generations import collect_training_set

    job_dir = Path(out_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    train, heldout, skipped = collect_training_set(project, g, spec)
    prior = TetrahedralPrior(spec.fit.tetrahedral_prior_eV, spec.fit.tetrahedral_prior_gamma_A,
                             spec.fit.tetrahedral_prior_cutoff_A)
    if prior.active:  # before e0: the GAP and its e0 fit what the prior leaves
        train = fitting.subtract_prior(train, prior)
    e0 = dict(spec.fit.e0_eV) or fitting.fit_e0(train, spec.fit.e0_method)
    train = [a for a in train if a.info.get("config_type") != "isolated"]  # no descriptors: E = e0 exactly
    screened = sorted({f.info["config_name"] for f in train + heldout if f.info.get("screen")})  # before any is dropped
    with_all = train  # the pair_repulsion core is fitted to the dimer scans whatever is fitted below
    if spec.fit.drop_screened:  # the reference's own broken frames would teach broken units as normal
        train = [a for a in train if not a.info.get("screen")]
    if not spec.fit.train_on_dimers:
        train = [a for a in train if a.info.get("config_type") != "dimer"]
    fitted = fitting.training_file_frames(train, spec.fit.sigma[2] > 0, spec.fit.scan_force_radius_A,
                                          spec.fit.force_atoms_per_frame)
    # before any file is written and before minutes of gap_fit and a kill
    memory = fitting.check_fit_memory(fitted, spec.fit, file=spec.source)
    core_file = None
    eps12 = {}
    if spec.fit.core == "pair_repulsion":
        eps12 = fitting.fit_core(with_all, spec.fit.core_wall_eV)
        core_file = job_dir / "core.xml"
        core_file.write_text(fitting.core_file_text(fitting.core_xml(eps12, spec.fit.core_cutoff_A), prior))
    elif spec.fit.core == "contact":
        cutoffs = {**CONTACT_CUTOFF_A, **spec.fit.core_contact_cutoff_A}
        energy = {pair: spec.fit.core_contact_pair_eV.get(pair, spec.fit.core_contact_eV) for pair in PAIRS}
        eps12 = fitting.contact_core_eps12(energy, cutoffs)
        core_file = job_dir / "core.xml"
        core_file.write_text(fitting.core_file_text(fitting.core_xml(eps12, cutoffs), prior))
    fitting.write_training_file(job_dir / "train.extxyz", fitted)
    if heldout:
        write_frames(job_dir / "heldout.extxyz", heldout)
    else:  # a refit into a used folder: no held-out file of another fit
        (job_dir / "heldout.extxyz").unlink(missing_ok=True)
    tmp = job_dir / "gap.tmp.xml"
    cmd = fitting.gap_fit_command(spec.fit, e0, job_dir / "train.extxyz", tmp, core_file, spec.run.seed + g)
    fitting.run_gap_fit(cmd, job_dir / "gap_fit.log", tmp, n_energies=len(train), should_stop=should_stop,
                        memory_bytes=memory)
    # gap_fit names its sparse-point files after gp_file; keep the XML name and rename it last.
    text = tmp.read_text()
    if prior.active:
        text = fitting.add_prior_to_core(text, tmp)
        tmp.write_text(text)
    compiled = None
    if spec.fit.compile:  # the uf3 twin for exploration and stability runs; before the XML is final
        from lpsens.potential.compile import compile_gap

        try:
            result = compile_gap(tmp, job_dir / UF3_FILE, tolerance_eV_A=spec.fit.compile_tolerance_eV_A)
        except PotentialError as exc:
            if exc.option != "--tolerance":
                raise
            # the advice of `lpsens potential compile` in the campaign's own keys
            what = exc.reason.split("; nothing written")[0]
            raise TrainingError(f"{what}; no gap.xml was written. Raise [fit] compile_tolerance_eV_A, or set "
                                "[fit] compile = false with [iterate] and [gates] backend = \"quippy\"",
                                file=spec.source, key="fit.compile_tolerance_eV_A") from None
        compiled = {"uf3": UF3_FILE, "fidelity": result.fidelity}
    tmp.replace(job_dir / GAP_FILE)
    return {"gap_xml": GAP_FILE, "e0_eV": e0, "core_eps12": eps12, "gap_fit_command": cmd,
            "compiled": compiled, "n_train_frames": len(train), "n_heldout_frames": len(heldout),
            "skipped_failed_labels": skipped, "gap_xml_bytes": len(text), "screened_broken": screened,
            "memory_estimate_bytes": int(memory),
            "tetrahedral_prior": {"lambda_eV": prior.lambda_eV, "gamma_A": prior.gamma_A,
                                  "cutoff_A": prior.cutoff_A} if prior.active else None}


def _fit_task(job, spec, should_stop=None) -> tuple[str, int]:
    from lpsens.errors import FitStopped

    job_dir = Path(job.path)
    if (job_dir / GAP_FILE).exists() and job.doc.get("gap_xml"):
        return "done", 0
    try:
        record = fit_generation(job.project, int(job.sp["generation"]), spec, job_dir, should_stop=should_stop)
    except FitStopped:
        return "timeout", 0  # stopped before the walltime or by a signal: the next launch fits again
    job.doc.update(record)
    return "done", max(1, int(job.doc.get("cost_steps") or 1))  # its cost unit: the launcher learns the fit rate


def first_broken(frames, timestep_fs: float) -> dict | None:
    """How an exploration run ended: its first frame that :func:`lpsens.train.selection.frame_failures`
    calls broken (check_frame's rules and lost atoms; ``md_step``, ``time_ps``, ``reason``: the most severe breakage), or ``None``
    when every frame is intact. A collapse (atoms closer than
    :data:`~lpsens.train.exploration.COLLAPSE_A`) is broken too."""
    from lpsens.train.selection import frame_failures

    for f in frames:
        found = frame_failures(f)  # the one rule, lost atoms included
        if found:
            step = int(f.info.get("md_step", -1))
            return {"md_step": step, "time_ps": step * timestep_fs / 1000.0, "reason": found[0]}
    return None


def exploration_run(sp, x: float) -> str:
    """The run name an exploration's frames carry (``info["run"]``): ``g<G>/<material>/<x>/<T>K``,
    then ``/r<N>`` for replica N >= 1 (``[iterate] replicas``). Label jobs made from the frames
    are named after it."""
    run = f"g{int(sp['generation'])}/{sp['material']}/{x:g}/{float(sp['temperature_K']):g}K"
    return run + (f"/r{int(sp['replica'])}" if sp.get("replica") else "")


def exploration_frames(spec, sp, seed: int, fit_dir: Path, *, with_path: bool = False) -> tuple[list, dict]:
    """One exploration run of state point ``sp`` (``material``, ``x_Li2S_mol_pct``,
    ``temperature_K``, ``generation``): the built structure of ``seed``, minimised with the fit in
    ``fit_dir`` (its ``gap.uf3`` or ``gap.xml`` by ``[iterate] backend``), then MD; returns the
    frames and the minimisation record. Deterministic in ``seed``: a refit of the same generation
    reruns the same runs (:mod:`lpsens.train.refit`). ``with_path``: the frames include the path
    into the first break (``[iterate] failure_path_every``; marked ``info["path"]``)."""
    from lpsens.structures import build_structure
    from lpsens.structures.builder import CRYSTAL_X_MOL_PCT
    from lpsens.train.exploration import gap_calculator, md_frames, minimise, uf3_md_frames

    it = spec.iterate
    material = sp["material"]
    x = float(sp["x_Li2S_mol_pct"]) if material == "glass" else CRYSTAL_X_MOL_PCT[material]
    atoms = build_structure(material, x, seed, min_atoms=it.min_atoms)
    atoms.info.clear()
    run = exploration_run(sp, x)
    md = dict(temperature_K=float(sp["temperature_K"]), steps=it.md_steps, every=it.md_every,
              timestep_fs=it.timestep_fs, seed=seed, run=run)
    if it.backend == "uf3":
        return uf3_md_frames(atoms, Path(fit_dir) / UF3_FILE, minimise_steps=it.minimise_steps,
                             stop_on_broken=True, path_every=it.failure_path_every if with_path else 0, **md)
    calc = gap_calculator(Path(fit_dir) / GAP_FILE)
    start, rec = minimise(atoms, calc, it.minimise_steps)
    return md_frames(start, calc, **md), rec


def _explore_task(job, spec) -> tuple[str, int]:
    from lpsens.chemistry import unit_census

    job_dir = Path(job.path)
    if (job_dir / FRAMES_FILE).exists():
        return "done", 0
    it = spec.iterate
    fit_job = job.project.open_job({"train_kind": "fit", "generation": int(job.sp["generation"])})
    frames, rec = exploration_frames(spec, job.sp, int(job.doc["seed"]), Path(fit_job.path), with_path=True)
    marked = [bool(f.info.pop("path", False)) for f in frames]
    path = [f for f, m in zip(frames, marked, strict=True) if m]
    frames = [f for f, m in zip(frames, marked, strict=True) if not m]
    census = unit_census(frames[0].numbers, frames[0].positions, frames[0].cell.array).counts
    if path:  # before the frames: a job with FRAMES_FILE is done
        write_frames(job_dir / PATH_FILE, path)
    write_frames(job_dir / FRAMES_FILE, frames)
    job.doc.update({"minimised": rec, "census_start": census, "n_frames": len(frames), "backend": it.backend,
                    "collapsed": bool(frames[-1].info.get("collapsed", False)),
                    "steps_requested": it.md_steps, "first_broken": first_broken(frames, it.timestep_fs)})
    # the cost unit of its cost_steps: MD steps run (a broken run stops early) and the minimisation's
    return "done", it.minimise_steps + int(frames[-1].info.get("md_step", 0))


def run_train_task(job, *, comm=None, should_stop=None, on_segment=None, **kw) -> TaskOutcome:
    """Run (or finish) one training task: the job's ``train_kind`` is ``label``, ``fit`` or ``explore``.

    Parameters
    ----------
    job
        signac job of a training data space (``project.doc["kind"] == "training"``).
    comm
        Group communicator (``None``: serial); rank 0 computes, the others wait.
    should_stop
        Checked between MD snapshots of a labelling MD task (then ``"timeout"``, resumable).
    on_segment, **kw
        Accepted for the launcher's task contract; unused.

    Returns
    -------
    TaskOutcome
        ``steps_done`` is the work done in the unit of the job's ``cost_steps`` (the launcher's
        cost model learns each kind's rate from it): force calls of a label (MD steps plus
        labelled snapshots), the fit's ``cost_steps``, an exploration's MD steps run plus its
        ``minimise_steps``.

    Raises
    ------
    TrainingError
        Unknown task kind, reference-calculator or gap_fit failure (the launcher marks the job
        failed and records the reason). Calculator exceptions propagate as they are.
    """
    t0 = time.perf_counter()
    rank = 0 if comm is None else comm.Get_rank()
    result = error = None
    if rank == 0:
        # Only rank 0 reads and writes structures: with mpi4py loaded, ase.io would broadcast them
        # over COMM_WORLD, a collective the other ranks (waiting in comm.bcast below) never join.
        try:
            with _serial_ase():
                spec = _spec(job)
                kind = job.sp.get("train_kind")
                if kind == "label":
                    result = _label_task(job, spec, should_stop)
                elif kind == "fit":
                    result = _fit_task(job, spec, should_stop)
                elif kind == "explore":
                    result = _explore_task(job, spec)
                else:
                    raise TrainingError(f"unknown train_kind {kind!r} in the state point", job_id=job.id)
        except Exception as exc:  # re-raised below; the other ranks raise the same message
            error = exc
    if comm is not None and comm.Get_size() > 1:
        shared = comm.bcast((result, None if error is None else f"{type(error).__name__}: {error}"), root=0)
        if rank != 0:
            result, message = shared
            if message is not None:
                raise TrainingError(message, job_id=job.id)
    if error is not None:
        raise error
    status, n = result
    wall = time.perf_counter() - t0
    return TaskOutcome(status, int(n), wall, n / wall if n else 0.0, int(n))


def describe(job) -> str:
    """One line: kind, generation, name (for reports)."""
    sp = job.sp
    return json.dumps({k: sp[k] for k in sorted(sp)})
