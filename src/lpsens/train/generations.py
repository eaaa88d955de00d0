"""The training data space and its generations: create, advance, collect, report.

A training campaign is a signac project with ``project.doc["kind"] == "training"``. Its jobs
are tasks, told apart by the state point's ``train_kind``:

* ``{"train_kind": "label", "generation": g, "name": ...}`` -- one reference calculation
  (``config.extxyz`` -> ``labelled.extxyz``);
* ``{"train_kind": "fit", "generation": g}`` -- gap_fit on every label of generations <= g;
* ``{"train_kind": "explore", "generation": g, "material", "x_Li2S_mol_pct", "temperature_K"}``
  -- MD with the generation-g GAP; its frames feed the selection of generation g + 1.

:func:`advance` moves the campaign one stage on when the launcher has finished the current
stage's tasks (label g -> fit g -> explore g -> select -> label g + 1 ...), and stops at
``max_generations`` or when exploration finds no broken frame. Every generation is kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
import signal
import subprocess
import threading
from pathlib import Path

import ase.io
import numpy as np
import signac

from lpsens import __version__
from lpsens.chemistry import check_frame, unit_census
from lpsens.errors import ProjectError, TrainingError
from lpsens.statepoint import SCHEMA_VERSION
from lpsens.status import JobStatus, utcnow
from lpsens.train.configurations import Configuration, coordination_scan, generation0, stretch_scan
from lpsens.train.labelling import CONFIG_FILE, LABELLED_FILE, calculator_class
from lpsens.train.selection import (
    bonds_the_reference_holds,
    frame_failures,
    select,
    untrusted_contacts,
)
from lpsens.train.spec import CrosscheckSpec, ReferenceSpec, TrainingSpec, parse_training_spec
from lpsens.train.tasks import FRAMES_FILE, GAP_FILE, PATH_FILE, label_md_cost

__all__ = ["init_training", "check_campaign", "open_training", "advance", "training_status", "collect_training_set", "newest_gap"]

KIND = "training"
#: Spec tables that define the labels; a campaign refuses a spec that changes them. [fit], [iterate],
#: [gates] and the generation limit may change (e.g. to fix a failed fit); the old spec is kept.
_LABEL_IDENTITY = ("configurations", "reference", "crosscheck")
#: Config types whose labelled frames are screened for broken chemistry (fused atoms, P with
#: <= 2 or >= 5 S): a reference MD that breaks units, or a built structure that is broken.
#: Selected failure frames are broken by construction: they are screened only where the reference
#: holds an S-S bond (:func:`~lpsens.train.selection.bonds_the_reference_holds`). Compressed
#: copies and scans teach the wall: not screened.
_SCREENED = ("bulk", "distorted", "md", "failure_md")
_FINAL = (JobStatus.DONE.value, JobStatus.FAILED.value)
_DEFAULT_CROSSCHECK = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(CrosscheckSpec()).items()}


def _plain(value):
    """signac synced collections -> plain JSON values."""
    return json.loads(json.dumps(value, default=lambda o: o()))


def _seed(spec: TrainingSpec, *keys) -> int:
    h = hashlib.sha256(repr((spec.run.seed, *keys)).encode()).digest()
    return int.from_bytes(h[:4], "little")


def _new_job(project, sp: dict, doc: dict):
    job = project.open_job(sp)
    if job in project:
        return job, False
    job.init()
    now = utcnow()
    job.doc.update({"status": JobStatus.PENDING.value, "reason": None, "attempts": 0, "created": now,
                    "updated": now, **doc})
    return job, True


def _add_label_job(project, spec, g: int, cfg: Configuration) -> bool:
    sp = {"train_kind": "label", "generation": g, "name": cfg.name}
    job = project.open_job(sp)
    if job in project and job.doc.get("status") is not None:
        return False
    job.init()  # a job made before an interruption, without its document, is made again
    a = cfg.atoms.copy()
    a.info = {"config_type": cfg.config_type, "config_name": cfg.name, "generation": g}
    ase.io.write(Path(job.path) / CONFIG_FILE, a, format="extxyz")
    now = utcnow()
    job.doc.update({"status": JobStatus.PENDING.value, "reason": None, "attempts": 0, "created": now, "updated": now,
                    "config_type": cfg.config_type, "md": cfg.md, "n_atoms": len(a),
                    "cost_steps": 1 if cfg.md is None else label_md_cost(cfg.md),
                    "seed": _seed(spec, "label", g, cfg.name)})
    return True


def open_training(root):
    """Open a training data space (refuses an MD campaign's).

    Raises
    ------
    ProjectError
        No project at ``root``, or not a training campaign.
    """
    root = Path(root)
    try:
        project = signac.get_project(str(root), search=False)
    except LookupError:
        raise ProjectError(f"no training campaign at {root.resolve()}; create one with "
                           f"'lpsens train SPEC.toml --root {root}'") from None
    if project.doc.get("kind") != KIND:
        raise ProjectError(f"{root.resolve()} is not a training campaign (project.doc kind = "
                           f"{project.doc.get('kind')!r}); use a new --root for 'lpsens train'")
    return project


def check_campaign(spec: TrainingSpec, root):
    """The campaign at ``root`` if ``spec`` may advance it, ``None`` if there is none yet.

    Raises
    ------
    ProjectError
        ``root`` holds another kind of project, or a training campaign whose ``[configurations]``,
        ``[reference]`` or ``[crosscheck]`` differ from ``spec``'s (labels would be mixed).
    """
    root = Path(root)
    if not ((root / ".signac").is_dir() or (root / "signac.rc").exists()):
        return None
    project = open_training(root)
    old, new = _plain(project.doc.get("spec") or {}), spec.to_dict()
    old.setdefault("crosscheck", _DEFAULT_CROSSCHECK)  # campaigns made before [crosscheck] existed
    changed = sorted(k for k in _LABEL_IDENTITY if json.dumps(old.get(k), sort_keys=True) != json.dumps(new.get(k), sort_keys=True))
    if changed:
        raise ProjectError(f"{root.resolve()} holds a training campaign whose [{'], ['.join(changed)}] differ from "
                           "this spec's; labels would be mixed. Give the same tables, or a new --root",
                           file=spec.source, key=changed[0])
    return project


def init_training(spec: TrainingSpec, root) -> tuple[object, int]:
    """Create the data space with generation 0 (or check that ``root`` holds this spec's campaign).

    Returns
    -------
    (project, n_added)

    Raises
    ------
    ProjectError
        ``root`` holds another project, or a training campaign whose ``[configurations]`` or
        ``[reference]`` differ (other tables are updated, the previous spec kept in
        ``project.doc["spec_history"]``).
    TrainingError
        The reference calculator cannot be imported or offers no forces.
    StructureError
        A builder cannot make a generation-0 structure (nothing is written then).
    """
    root = Path(root)
    project = check_campaign(spec, root)
    if project is not None:
        old, new = _plain(project.doc.get("spec") or {}), spec.to_dict()
        old.setdefault("crosscheck", _DEFAULT_CROSSCHECK)  # campaigns made before [crosscheck] existed
        old_file = project.doc.get("spec_file")
        new_file = None if spec.source is None else str(Path(spec.source).resolve())
        changed = json.dumps(old, sort_keys=True) != json.dumps(new, sort_keys=True)
        if changed or (new_file is not None and new_file != old_file):  # [fit], [iterate], [gates], limits: apply from now on
            # relative paths in the spec (heldout_dft, extra_frames) mean: next to the file given last
            history = list(project.doc.get("spec_history") or [])
            history.append({"at": utcnow(), "spec": old, "spec_file": old_file})
            project.doc.update({"spec": new, "spec_history": history, "spec_file": new_file})
        if not project.doc.get("generation0_incomplete"):
            return project, 0
        n = _add_generation0(project, spec)  # interrupted while generation 0 was written: finish it
        return project, n
    calculator_class(spec.reference, file=spec.source)  # everything may raise before anything is written
    if spec.crosscheck.calculator:
        calculator_class(ReferenceSpec(calculator=spec.crosscheck.calculator), file=spec.source, section="crosscheck")
    configs = generation0(spec.configurations, spec.run.seed)
    root.mkdir(parents=True, exist_ok=True)
    project = signac.init_project(str(root))
    project.doc.update({"lpsens_schema_version": SCHEMA_VERSION, "kind": KIND, "created": utcnow(),
                        "lpsens_version": __version__, "spec": spec.to_dict(),
                        "spec_file": None if spec.source is None else str(Path(spec.source).resolve()),
                        "generations": {}, "generation0_incomplete": True})
    return project, _add_generation0(project, spec, configs)


def _add_generation0(project, spec, configs=None) -> int:
    """Write generation 0's labelling tasks; the flag ``generation0_incomplete`` stays set until
    all are written, so a campaign interrupted meanwhile is completed by the next call."""
    if configs is None:
        configs = generation0(spec.configurations, spec.run.seed)  # deterministic: the same set again
    n = sum(_add_label_job(project, spec, 0, c) for c in configs)
    n_total = sum(1 for _ in project.find_jobs({"train_kind": "label", "generation": 0}))
    _note(project, 0, labels_created=n_total)
    del project.doc["generation0_incomplete"]
    return n


def _note(project, g: int, **fields) -> None:
    gens = dict(project.doc.get("generations") or {})
    rec = dict(gens.get(str(g), {}))
    rec.update(fields)
    gens[str(g)] = rec
    project.doc["generations"] = gens


def _jobs(project, kind: str, g: int | None = None) -> list:
    flt = {"train_kind": kind} if g is None else {"train_kind": kind, "generation": g}
    return list(project.find_jobs(flt))


def spec_of(project) -> TrainingSpec:
    return parse_training_spec(_plain(project.doc["spec"]), file=project.doc.get("spec_file"))


def _held_out(job, fraction: float) -> bool:
    return int(job.id[:8], 16) / 16 ** 8 < fraction and job.doc.get("config_type") not in ("dimer", "isolated")


def collect_training_set(project, g: int, spec: TrainingSpec) -> tuple[list, list, list[str]]:
    """Labelled frames of generations <= g with provenance: (train, held-out, ids of failed labels).

    Each frame's ``info`` gets ``config_type``, ``config_name``, ``generation``, ``job_id`` and
    ``reference``; frames of bulk, distorted and MD labels that fail the chemistry checks
    (:func:`~lpsens.train.selection.frame_failures`) get ``screen`` = the reasons, selected failure
    frames where their reference holds an S-S bond too, these frames and selected ones with a
    contact below ``[fit] untrusted_contact_A`` too, and so does
    any frame on which the ``[crosscheck]`` reference's forces differ from the reference's by
    more than ``force_rms_eV_A`` (RMS). A label job is held out (all its frames) by a hash of its id, so correlated
    MD frames never straddle the split; dimers and isolated atoms are always trained on.
    """
    train, heldout, failed = [], [], []
    ref = spec.reference.name or spec.reference.calculator
    for job in sorted(project.find_jobs({"train_kind": "label", "generation": {"$lte": g}}), key=lambda j: j.id):
        if job.doc.get("status") != JobStatus.DONE.value:
            failed.append(job.id)
            continue
        frames = ase.io.read(Path(job.path) / LABELLED_FILE, ":")
        for f in frames:
            f.info.update(config_type=job.doc["config_type"], config_name=job.sp["name"],
                          generation=int(job.sp["generation"]), job_id=job.id, reference=ref)
            reasons = []
            if f.info["config_type"] in _SCREENED:
                reasons = frame_failures(f)
                units = unit_census(f.numbers, f.positions, f.cell.array).counts
                if units.get("other") or units.get("P2S6_edge"):  # 3-coordinated P without a P-P partner
                    reasons.append(f"{units.get('other', 0)} other and {units.get('P2S6_edge', 0)} edge-sharing P2S6 units")
            elif f.info["config_type"] == "selected":
                reasons = bonds_the_reference_holds(f)
            if f.info["config_type"] in (*_SCREENED, "selected", "coordination_scan"):
                reasons += untrusted_contacts(f, spec.fit.untrusted_contact_A)
            rms = f.info.get("crosscheck_force_rms_eV_A")
            if rms is not None and rms > spec.crosscheck.force_rms_eV_A:  # the reference is not trusted here
                reasons.append(f"{f.info.get('crosscheck')} disagrees: force RMS difference {rms:.3f} > "
                               f"{spec.crosscheck.force_rms_eV_A:g} eV/A")
            if reasons:  # marked: broken, not chemistry ([fit] drop_screened leaves them out of the fit)
                f.info["screen"] = "; ".join(reasons)
        (heldout if _held_out(job, spec.run.holdout_fraction) else train).extend(frames)
    train.extend(extra_frames(spec))
    return train, heldout, failed


def extra_frames(spec: TrainingSpec) -> list:
    """The spec's labelled frames from elsewhere (``[configurations] extra_frames``, e.g. PBE AIMD).

    Energies are moved to the reference's zero by ``extra_frames_energy_offset_eV_atom`` (per
    atom, added); ``config_type`` is ``extra_frames_name``, so ``[fit] config_type_sigma`` can
    weight them. A relative path is taken from the spec file's folder.

    Raises
    ------
    TrainingError
        The file cannot be read, or its frames carry no energy and forces.
    """
    c = spec.configurations
    if not c.extra_frames:
        return []
    from ase.calculators.singlepoint import SinglePointCalculator

    path = Path(c.extra_frames)
    if not path.is_absolute() and spec.source is not None:
        path = Path(spec.source).parent / path
    lo, hi = c.extra_frames_range
    try:
        frames = ase.io.read(path, f"{lo}:{hi}")
        out = []
        for k, a in enumerate(frames):
            energy = a.get_potential_energy() + c.extra_frames_energy_offset_eV_atom * len(a)
            b = a.copy()
            b.calc = SinglePointCalculator(b, energy=energy, forces=a.get_forces())
            b.info.update(config_type=c.extra_frames_name, config_name=f"{c.extra_frames_name}/{lo + k}",
                          generation=0, reference=c.extra_frames_name)
            out.append(b)
    except (OSError, ValueError, RuntimeError) as exc:
        raise TrainingError(f"cannot read energies and forces of frames {lo}:{hi} ({exc}); give an extxyz with "
                            "both", file=path, key="configurations.extra_frames") from None
    return out


def newest_gap(project) -> tuple[int, Path] | None:
    """(generation, path) of the newest finished fit, or None."""
    done = [j for j in _jobs(project, "fit") if j.doc.get("status") == JobStatus.DONE.value]
    if not done:
        return None
    job = max(done, key=lambda j: int(j.sp["generation"]))
    return int(job.sp["generation"]), Path(job.path) / GAP_FILE


def _waiting(jobs) -> list:
    return [j for j in jobs if j.doc.get("status") not in _FINAL]


def advance(project) -> dict:
    """Move the campaign on by as many stages as are ready; returns ``{"state", "generation", "message"}``.

    States: ``labelling``, ``fitting``, ``exploring`` (tasks pending for the launcher),
    ``fit_failed``, ``explore_failed`` (rerun them with ``lpsens launch --retry-failed``), ``finished``.
    """
    spec = spec_of(project)
    while True:
        labels = _jobs(project, "label")
        g = max(int(j.sp["generation"]) for j in labels)
        pending = _waiting([j for j in labels if int(j.sp["generation"]) == g])
        if pending:
            return _state("labelling", g, f"{len(pending)} labelling task(s) of generation {g} to run")
        n_frames = sum(int(j.doc.get("n_labelled") or 0) for j in labels)
        fit_job, created = _new_job(project, {"train_kind": "fit", "generation": g},
                                    {"n_atoms": 1, "cost_steps": 1000 + 100 * n_frames, "seed": _seed(spec, "fit", g)})
        if created:
            failed = [j.id for j in labels if int(j.sp["generation"]) == g and j.doc.get("status") == "failed"]
            _note(project, g, labels_done=sum(1 for j in labels if int(j.sp["generation"]) == g) - len(failed),
                  labels_failed=failed)
        status = fit_job.doc.get("status")
        if status == JobStatus.FAILED.value:
            return _state("fit_failed", g, f"the fit of generation {g} failed: {fit_job.doc.get('reason')}")
        if status != JobStatus.DONE.value:
            return _state("fitting", g, f"gap_fit of generation {g} to run")
        _note(project, g, gap=str(Path(fit_job.path) / GAP_FILE), n_train_frames=fit_job.doc.get("n_train_frames"))
        if g >= spec.run.max_generations:
            return _state("finished", g, f"generation limit {spec.run.max_generations} reached; newest GAP: "
                                         f"{Path(fit_job.path) / GAP_FILE}")
        # the runs of the spec as it is now: a corrected [iterate] replaces a failed run with its own
        explore = _add_explore_jobs(project, spec, g)
        pending = _waiting(explore)
        if pending:
            return _state("exploring", g, f"{len(pending)} MD exploration task(s) with the generation-{g} GAP to run")
        failed = [j for j in explore if j.doc.get("status") == JobStatus.FAILED.value]
        if failed:  # a failed exploration found nothing; "no broken frames" would be a false verdict
            return _state("explore_failed", g, f"{len(failed)} of {len(explore)} exploration task(s) of generation {g} "
                                               f"failed (first: {failed[0].doc.get('reason')}); fix the cause, then "
                                               "'lpsens launch --root ROOT --retry-failed'")
        # every finished run of g teaches, also one of an earlier [iterate] (as --status counts them)
        done = [j for j in _jobs(project, "explore", g) if j.doc.get("status") == JobStatus.DONE.value]
        n_new = _select_next(project, spec, g, sorted(done, key=lambda j: j.id))
        if n_new == 0:
            return _state("finished", g, f"no broken or new frames found with the generation-{g} GAP; newest GAP: "
                                         f"{Path(fit_job.path) / GAP_FILE}")


def _state(state: str, g: int, message: str) -> dict:
    return {"state": state, "generation": g, "message": message}


def _add_explore_jobs(project, spec, g: int) -> list:
    """The exploration jobs of generation ``g`` under ``spec``'s ``[iterate]``, made where missing.

    A run of an earlier ``[iterate]`` that never started (pending, no attempt) is removed: it holds
    nothing, the launcher would otherwise run it, and the same spec makes it again (same statepoint
    and seed). Runs that ran stay; their frames join the generation's selection when finished."""
    it = spec.iterate
    jobs = []
    for material in it.materials:
        xs = it.glass_x_mol_pct if material == "glass" else (None,)
        for x in xs:
            for T in it.temperatures_K:
                for r in range(it.replicas):
                    sp = {"train_kind": "explore", "generation": g, "material": material,
                          "x_Li2S_mol_pct": None if x is None else float(x), "temperature_K": float(T)}
                    # replica 0 keeps the statepoint and seed a campaign had before replicas existed
                    replica = (r,) if r else ()
                    if r:
                        sp["replica"] = r
                    jobs.append(_new_job(project, sp, {"n_atoms": it.min_atoms,
                                                       "cost_steps": it.md_steps + it.minimise_steps,
                                                       "seed": _seed(spec, "explore", g, material, x, T, *replica)})[0])
    current = {j.id for j in jobs}
    for job in _jobs(project, "explore", g):
        if (job.id not in current and job.doc.get("status") == JobStatus.PENDING.value
                and not job.doc.get("attempts") and not job.doc.get("runs")):
            job.remove()
    return jobs


def _select_next(project, spec, g: int, explore) -> int:
    frames, census, origin, temperature_K = [], {}, [], {}
    for job in sorted(explore, key=lambda j: j.id):
        if job.doc.get("status") != JobStatus.DONE.value:
            continue
        fr = ase.io.read(Path(job.path) / FRAMES_FILE, ":")
        census[fr[0].info["run"]] = job.doc.get("census_start")
        temperature_K[fr[0].info["run"]] = float(job.sp["temperature_K"])
        frames.extend(fr)
        origin.extend([job.id] * len(fr))
    chosen = select(frames, n_failures=spec.iterate.select_failures, n_diverse=spec.iterate.select_diverse,
                    census_by_run=census)
    n_fail = sum(1 for c in chosen if c.reason.startswith("failure"))
    record = [{"explore_job": origin[c.index], "md_step": int(frames[c.index].info.get("md_step", -1)),
               "run": frames[c.index].info.get("run"), "reason": c.reason} for c in chosen]
    _note(project, g, selected=record, n_failures_found=n_fail)
    if n_fail == 0:
        return 0
    for c in chosen:
        f = frames[c.index]
        name = f"selected/{f.info['run']}/step{int(f.info['md_step'])}"
        atoms = f.copy()
        atoms.info = {}
        _add_label_job(project, spec, g + 1, Configuration(name, "selected", atoms))
    broken = [bool(check_frame(f.numbers, f.positions, f.cell.array)) for f in frames]  # one pass for both
    n_scans = _add_coordination_scans(project, spec, g, frames, broken)
    n_md = _add_failure_md(project, spec, g, frames, temperature_K, broken)
    n_path = _add_failure_paths(project, spec, g, explore)
    _note(project, g + 1, labels_created=len(chosen) + n_scans + n_md + n_path)
    return len(chosen) + n_scans + n_md + n_path


def _add_failure_paths(project, spec, g: int, explore) -> int:
    """``[iterate] failure_path_every``: the frames of each broken exploration run of generation
    ``g`` on its way into the first break (every ``failure_path_every`` steps, up to the first
    broken one; :func:`lpsens.train.exploration.uf3_md_frames`), labelled in ``g + 1`` as
    ``selected`` frames (screened as they are).

    Why: the selected failure frames are ``md_every`` steps apart (100 fs in train_demo.toml), and
    a glass goes from intact to a P with 5 S within one interval; the GAP's error is largest on
    the way, which neither those frames nor the reference's own dynamics from the last intact
    frame (failure MD) sample. One reference calculation per frame.
    """
    n = 0
    for job in sorted(explore, key=lambda j: j.id):
        path_file = Path(job.path) / PATH_FILE
        if job.doc.get("status") != JobStatus.DONE.value or not path_file.exists():
            continue
        for f in ase.io.read(path_file, ":"):
            atoms = f.copy()
            atoms.info = {}
            n += _add_label_job(project, spec, g + 1, Configuration(
                f"failure_path/{f.info['run']}/step{int(f.info['md_step'])}", "selected", atoms))
    return n


def _add_failure_md(project, spec, g: int, frames, temperature_K: dict, broken: list[bool] | None = None) -> int:
    """``[iterate] failure_md_steps``: per exploration run of generation ``g`` that broke, one
    reference Langevin MD labelling task (config_type ``failure_md``, labelled in ``g + 1``) from
    the run's last intact frame before its first broken one, at the run's temperature, fresh
    Maxwell-Boltzmann velocities, no minimisation.

    Why: the selected failure frames and the single-atom scans teach the reference along the
    path the GAP took and along a rigid approach; the glasses of issue 10 reach a P with 5 S
    along collective paths (an S's own P and neighbours moving with it) that neither samples.
    The reference's own dynamics from the same place sample the region around that path with
    the reference's forces. Frames the reference itself breaks are screened like ``md`` frames.
    ``failure_md_max_runs`` caps the tasks per generation (:func:`_failure_md_runs` chooses):
    with a DFT reference each costs ``failure_md_steps`` DFT calculations.
    """
    it = spec.iterate
    if not it.failure_md_steps:
        return 0
    broken = _broken(frames, broken)
    by_run: dict = {}
    for f, bad in zip(frames, broken, strict=True):
        by_run.setdefault(f.info.get("run", ""), []).append((f, bad))
    starts = {}  # run -> (last intact frame, md_step of the first broken one)
    for run in sorted(by_run):
        start = None
        for f, bad in sorted(by_run[run], key=lambda fb: int(fb[0].info.get("md_step", -1))):
            if bad:
                if start is not None and run in temperature_K:  # else broken from its first frame: no intact start
                    starts[run] = (start, int(f.info.get("md_step", -1)))
                break
            start = f
    n = 0
    for run in _failure_md_runs(starts, it.failure_md_max_runs):
        start = starts[run][0]
        atoms = start.copy()
        atoms.info = {}
        atoms.arrays.pop("momenta", None)
        md = {"temperature_K": temperature_K[run], "steps": it.failure_md_steps, "every": it.failure_md_every,
              "timestep_fs": it.timestep_fs, "minimise_steps": 0}
        n += _add_label_job(project, spec, g + 1, Configuration(
            f"failure_md/{run}/step{int(start.info.get('md_step', -1))}", "failure_md", atoms, md=md))
    return n


def _failure_md_runs(starts: dict, max_runs: int) -> list[str]:
    """The broken runs that get a failure-MD task: all (``max_runs`` 0), else at most
    ``max_runs``, spread over the systems (run names ``g/material/x/T[/rN]``): the earliest-broken
    run of each system in turn, earliest first, then the next of each."""
    runs = sorted(starts, key=lambda r: (starts[r][1], r))
    if not max_runs or len(runs) <= max_runs:
        return sorted(runs)
    rank: dict = {}
    order = []
    for r in runs:
        system = "/".join(r.split("/")[:3])  # g/material/x: temperatures and replicas of one system alike
        rank[system] = rank.get(system, -1) + 1
        order.append((rank[system], starts[r][1], r))
    return sorted(r for _, _, r in sorted(order)[:max_runs])


def _broken(frames, broken: list[bool] | None) -> list[bool]:
    return broken if broken is not None else [bool(check_frame(f.numbers, f.positions, f.cell.array)) for f in frames]


def _add_coordination_scans(project, spec, g: int, frames, broken: list[bool] | None = None) -> int:
    """``[iterate] coordination_scan_A`` / ``stretch_scan_A``: fifth-S and bond-stretch scans
    (config_type ``coordination_scan``) from the middle intact frame of every exploration run of
    generation ``g``, labelled in ``g + 1``; with ``[fit] drop_screened``, scans with a contact
    below ``untrusted_contact_A`` are not made."""
    it = spec.iterate
    if not (it.coordination_scan_A or it.stretch_scan_A):
        return 0
    # one stream per kind: turning stretch scans on leaves the fifth-S scans' choices as they were
    rng = np.random.default_rng(_seed(spec, "coordination_scan", g))
    rng_stretch = np.random.default_rng(_seed(spec, "stretch_scan", g))
    limits = spec.fit.untrusted_contact_A
    # a scan the fit would screen is not worth the reference's time: the next P is tried instead
    accept = (lambda a: not untrusted_contacts(a, limits)) if spec.fit.drop_screened and limits else None
    by_run: dict = {}
    for f, bad in zip(frames, _broken(frames, broken), strict=True):
        if not bad:
            by_run.setdefault(f.info.get("run", ""), []).append(f)
    n = 0
    for run in sorted(by_run):
        base = by_run[run][len(by_run[run]) // 2]
        scans = coordination_scan(base, rng, it.coordination_scan_A, it.coordination_scan_centres,
                                  accept=accept) if it.coordination_scan_A else []
        if it.stretch_scan_A:
            scans += stretch_scan(base, rng_stretch, it.stretch_scan_A, it.coordination_scan_centres, accept=accept)
        for name, atoms in scans:
            atoms.info = {}
            cfg = Configuration(f"coordination_scan/{run}/step{int(base.info.get('md_step', -1))}/{name}",
                                "coordination_scan", atoms)
            n += _add_label_job(project, spec, g + 1, cfg)
    return n


def training_status(project) -> dict:
    """Per generation: label/fit/explore task counts by status, the generation record, and
    ``explorations``: per finished exploration run, ``run``, ``steps_requested`` and
    ``first_broken`` (``md_step``, ``time_ps``, ``reason``; ``None`` if it stayed intact)."""
    out = {"root": str(project.path), "generations": {}}
    for job in project:
        sp = job.sp
        g = str(sp.get("generation"))
        gen = out["generations"].setdefault(g, {})
        counts = gen.setdefault(sp.get("train_kind"), {})
        st = job.doc.get("status", "pending")
        counts[st] = counts.get(st, 0) + 1
        if st == JobStatus.FAILED.value:
            gen.setdefault("failed", []).append({"job": job.id, "name": sp.get("name", sp.get("train_kind")),
                                                 "reason": job.doc.get("reason")})
        if sp.get("train_kind") == "explore" and st == JobStatus.DONE.value and "steps_requested" in job.doc:
            gen.setdefault("explorations", []).append({
                "run": _run_name(sp), "steps_requested": int(job.doc["steps_requested"]),
                "first_broken": _plain(job.doc.get("first_broken"))})
    for g, rec in (project.doc.get("generations") or {}).items():
        out["generations"].setdefault(g, {})["record"] = _plain(rec)
    for gen in out["generations"].values():
        gen.get("explorations", []).sort(key=lambda r: r["run"])
    return out


def _run_name(sp) -> str:
    x = sp.get("x_Li2S_mol_pct")
    replica = f" r{int(sp['replica'])}" if sp.get("replica") else ""
    return f"{sp['material']}{'' if x is None else f' x={float(x):g}'} {float(sp['temperature_K']):g} K{replica}"


def _format_explorations(runs: list[dict]) -> list[str]:
    """The exploration outcome of one generation: how many runs held their full length, the
    steps they lasted before breaking (summed), and how each broken run broke."""
    broken = [r for r in runs if r["first_broken"]]
    lasted = sum(r["first_broken"]["md_step"] if r["first_broken"] else r["steps_requested"] for r in runs)
    lines = [f"  explorations: {len(runs) - len(broken)} of {len(runs)} intact to the end; "
             f"{lasted} of {sum(r['steps_requested'] for r in runs)} steps before the first broken frame"]
    for r in broken:
        b = r["first_broken"]
        # lost atoms are reported at the last frame before the loss, which may be step 0
        when = (f"at {b['time_ps']:.3g} ps (step {b['md_step']})" if b["md_step"] > 0 or b["reason"].startswith("lost")
                else "from the start (its minimised structure)")
        lines.append(f"    broken: {r['run']} {when}: {b['reason']}")
    return lines


def format_status(report: dict) -> str:
    lines = [f"training campaign {report['root']}"]
    for g in sorted(report["generations"], key=lambda s: int(s) if s.isdigit() else -1):
        gen = report["generations"][g]
        parts = []
        for kind in ("label", "fit", "explore"):
            if kind in gen:
                parts.append(f"{kind}: " + ", ".join(f"{v} {k}" for k, v in sorted(gen[kind].items())))
        lines.append(f"generation {g}: " + "; ".join(parts))
        rec = gen.get("record", {})
        if "n_failures_found" in rec:
            lines.append(f"  selection: {rec['n_failures_found']} broken frame(s) found, {len(rec.get('selected', []))} selected")
        if rec.get("gap"):
            lines.append(f"  GAP: {rec['gap']} ({rec.get('n_train_frames')} training frames)")
        if gen.get("explorations"):
            lines.extend(_format_explorations(gen["explorations"]))
        for f in gen.get("failed", []):
            lines.append(f"  FAILED {f['job'][:8]} {f['name']}: {f['reason']}")
    return "\n".join(lines)


def run_campaign(project, *, max_rounds: int = 1000, progress=None, isolate: bool = True,
                 launch_command: list[str] | None = None) -> dict:
    """Advance and run the tasks until finished or stuck: the whole campaign from one command.

    Without ``launch_command`` the tasks run from this process (the serial launcher);
    ``isolate=False`` runs each inside this process instead of a fresh worker process (as
    ``lpsens launch --in-process``): no per-task start-up (imports, the reference model loaded
    once), but a task that crashes the interpreter ends the campaign run (it resumes where it
    stopped). With ``launch_command`` (e.g. ``["mpiexec", "-n", "64", "python", "-m",
    "lpsens", "launch", "--in-process"]``; ``--root`` is added when missing) each stage's tasks
    run through that command, packed on its ranks, and this process only advances between
    launches: the form for one SLURM allocation (``lpsens submit --train SPEC``). SIGTERM,
    SIGUSR1 and SIGINT received meanwhile are passed to the launch (its tasks checkpoint and stop)
    and end the run with state ``stopped``, without advancing; the same command resumes.
    ``progress(state)`` is called with every state.

    Raises
    ------
    TrainingError
        A stage's tasks ran but the campaign cannot move on (all failed, or a failed fit), or the
        launch command could not run or ended other than with status 0 or 1 (1: a task failed,
        which the campaign handles).
    """
    from lpsens.errors import TrainingError
    from lpsens.launch.launcher import LaunchOptions, launch

    runner = _SubprocessLauncher(project, launch_command) if launch_command else None
    state = advance(project)
    try:
        for _ in range(max_rounds):
            if progress is not None:
                progress(state)
            if state["state"] == "finished":
                return state
            if state["state"] == "fit_failed":
                raise TrainingError(state["message"] + "; fix [fit] in the spec, then run 'lpsens train SPEC --root "
                                    "ROOT' and 'lpsens launch --root ROOT --retry-failed'", file=project.path)
            if state["state"] == "explore_failed":
                raise TrainingError(state["message"], file=project.path)
            if runner is None:
                # in the main thread, TERM and USR1 stop the tasks at their next checkpoint, then the run
                main = threading.current_thread() is threading.main_thread()
                report = launch(project, options=LaunchOptions(progress_interval_s=0, isolate=isolate),
                                install_signals=main)
                if report.stopped_by:
                    state = _state("stopped", state["generation"], f"stopped by {report.stopped_by} during "
                                   f"'{state['state']}'; the same command resumes")
                    if progress is not None:
                        progress(state)
                    return state
            elif runner.run():
                state = _state("stopped", state["generation"], f"stopped by {runner.stopped_by} during '{state['state']}'"
                               f"; the same command resumes")
                if progress is not None:
                    progress(state)
                return state
            new = advance(project)
            if new == state:
                by = f" after the launch command {runner.shown}, which ran no task" if runner is not None else ""
                raise TrainingError(f"no progress{by}: {new['message']}; see 'lpsens train --status --root "
                                    f"{project.path}'", file=project.path)
            state = new
    finally:
        if runner is not None:
            runner.restore()
    return state


class _SubprocessLauncher:
    """Runs the launch command as a child process and passes stop signals on to it."""

    SIGNALS = ("SIGTERM", "SIGUSR1", "SIGINT")

    def __init__(self, project, command: list[str]):
        self.command = [*command, *(() if "--root" in command else ("--root", str(project.path)))]
        self.shown = f"'{shlex.join(self.command)}'"
        self.root = project.path
        self.child = None
        self.stopped_by: str | None = None
        self._old = {}
        for name in self.SIGNALS:
            signum = getattr(signal, name)
            self._old[signum] = signal.signal(signum, self._forward)

    def _forward(self, signum, _frame):
        self.stopped_by = signal.Signals(signum).name
        if self.child is not None and self.child.poll() is None:
            # the launch checkpoints on TERM and USR1; an INT would reach its ranks as KeyboardInterrupt
            self.child.send_signal(signal.SIGTERM if signum == signal.SIGINT else signum)

    def run(self) -> bool:
        """One launch; True if a stop signal arrived (before or during it)."""
        from lpsens.errors import TrainingError

        if self.stopped_by:
            return True
        try:
            # its own session: a terminal's Ctrl-C reaches this process only, which passes it on as TERM
            self.child = subprocess.Popen(self.command, start_new_session=True)
        except OSError as exc:
            raise TrainingError(f"cannot run the launch command {self.shown}: {exc}; give a command "
                                "that runs 'lpsens launch' (e.g. 'mpiexec -n 2 lpsens launch')", file=self.root) from None
        code = self.child.wait()  # a signal handled meanwhile does not end the wait (PEP 475)
        self.child = None
        if self.stopped_by:
            return True
        if code not in (0, 1):
            raise TrainingError(f"the launch command {self.shown} ended with status {code}; see its "
                                "messages above, fix the cause and run the same 'lpsens train' command again",
                                file=self.root)
        return False

    def restore(self) -> None:
        for signum, old in self._old.items():
            signal.signal(signum, old)
