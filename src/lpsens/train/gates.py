"""Gates of a candidate GAP (``lpsens train --validate``): accuracy and chemical stability.

Gates (issue 10, item 5), thresholds in ``[gates]`` of the spec:

* ``dft_force_rmse`` / ``dft_energy_rmse``: held-out PBE frames (``heldout_dft``, frames
  ``heldout_dft_frames``); the energy RMSE after removing the mean per-atom offset, since the
  GAP's energy zero is its reference's, not PBE's.
* ``reference_force_rmse`` / ``reference_energy_rmse``: the held-out labelled frames of the fit
  (of the config_types in ``reference_config_types``; every kind's error is reported);
  with ``[fit] drop_screened`` without the screened ones, as the fit (their error is reported).
* ``never_catastrophic``: every stability run (glasses at each x and temperature, crystals at
  ``crystal_temperature_K``), each started from the structure minimised with the candidate:
  no fused atoms, no P with <= 2 or >= 5 S within 2.6 Å, no lost atoms (see
  :mod:`lpsens.train.selection`). With ``reference_starts`` a glass start is first minimised
  with the reference (behind the contact wall, then alone: :mod:`lpsens.train.wall`), and a
  start whose minimum the reference itself breaks is replaced by the next seed
  (:func:`reference_start`): a candidate faithful to its reference would fail there at step 0.
* ``crystal_units``: in crystals, the fraction of (P, frame) pairs in PS4³⁻/P2S7⁴⁻ units.
* ``census_vs_reference``: short MD of glasses with the candidate and with the reference from the
  same start (minimised with the reference): the mean fraction of P in each unit kind must agree
  within ``census_tolerance``; reference frames with broken chemistry do not count (the
  reference is not trusted there; issue 10 item 5). Not run while ``census_steps = 0``.
"""

from __future__ import annotations

import json
from pathlib import Path

import ase.io
import numpy as np

from lpsens.chemistry import unit_census
from lpsens.errors import TrainingError
from lpsens.train.exploration import gap_calculator, md_frames, minimise, uf3_md_frames
from lpsens.train.selection import frame_failures
from lpsens.train.spec import TrainingSpec
from lpsens.train.wall import minimise_behind_wall

__all__ = ["validate", "validate_campaign", "format_gates", "errors_on", "write_json", "reference_start"]

#: seeds of successive reference-start attempts are this far apart
_START_SEED_STRIDE = 1000
#: the reference-minimised gate starts of signac_project/train_demo.toml (potentials/make_gate_starts.py)
_PACKAGED_STARTS = Path(__file__).resolve().parent.parent / "data" / "gate_starts"


def _deviations(frames, calc) -> list[tuple[np.ndarray, float]]:
    """Per frame: (force deviations flattened, eV/Å; energy deviation, eV/atom) of ``calc``."""
    out = []
    for a in frames:
        b = a.copy()
        b.calc = calc
        out.append(((b.get_forces() - a.get_forces()).ravel(),
                    (b.get_potential_energy() - a.get_potential_energy()) / len(a)))
    return out


def _summary(devs) -> dict:
    df = np.concatenate([d for d, _ in devs])
    de = np.array([e for _, e in devs])
    return {"force_rmse_eV_A": float(np.sqrt(np.mean(df ** 2))),
            "energy_rmse_meV_atom": float(1000 * np.sqrt(np.mean(de ** 2))),
            "energy_rmse_offset_removed_meV_atom": float(1000 * np.std(de)),
            "n_frames": len(devs)}


def errors_on(frames, calc) -> dict:
    """Force RMSE (eV/Å), energy RMSE (meV/atom) raw and after removing the mean per-atom offset."""
    return _summary(_deviations(frames, calc))


def _row(gate, value, threshold, unit, passed, detail=""):
    return {"gate": gate, "value": value, "threshold": threshold, "unit": unit, "passed": passed, "detail": detail}


def _stability_runs(spec: TrainingSpec):
    g = spec.gates
    for m in g.stability_materials:
        if m == "glass":
            for x in g.stability_glass_x_mol_pct:
                for T in g.stability_temperatures_K:
                    yield m, float(x), float(T)
        else:
            yield m, None, float(g.crystal_temperature_K)


def reference_start(spec: TrainingSpec, x: float, seed: int, *, min_atoms: int, cache_dir=None):
    """A glass start whose minimum under the reference has intact chemistry: ``(start, record)``.

    The glass of ``seed`` is built and minimised with ``[reference]`` behind the contact wall,
    then alone (:func:`lpsens.train.wall.minimise_behind_wall`: FIRE, ``[iterate]
    minimise_steps`` per stage, fmax 0.05 eV/Å); if the minimum has broken chemistry
    (:func:`lpsens.chemistry.check_frame`), the next seed (``seed + 1000 k``) is tried, up to
    ``[gates] reference_start_attempts``. A minimum whose units differ from the built glass's
    (a bridging S moved: P2S7 + P2S7 -> PS4 + chain) is chemistry the reference does: it is
    kept, and the change recorded. Minimised starts are cached as extxyz in ``cache_dir``, with
    their provenance (the reference's calculator and keyword arguments, ``minimise_steps``) in
    the frame's info; a cached or shipped minimum of another provenance is not used.

    The package ships the minima of ``signac_project/train_demo.toml``'s gate starts
    (``lpsens/data/gate_starts``, made by ``potentials/make_gate_starts.py``): with the same
    reference and settings they are used instead of minimising again (10-30 min per start on
    one core), and copied into ``cache_dir``. The verdict is recomputed in either case.

    Returns
    -------
    start, record
        ``start`` (positions in Å, no calculator) or None when the reference broke every
        attempt; ``record`` = ``{"seed": the seed used or None, "rejected": [{"seed", "reason"}]}``
        plus ``"units_changed"`` when the reference's minimum has other units than the built glass.
    """
    from lpsens.chemistry import check_frame
    from lpsens.structures import build_structure
    from lpsens.train.labelling import cached_calculator

    record = {"seed": None, "rejected": []}
    provenance = start_provenance(spec)
    for k in range(spec.gates.reference_start_attempts):
        s = seed + _START_SEED_STRIDE * k
        built = build_structure("glass", float(x), s, min_atoms=min_atoms)
        built.info.clear()
        name = start_file_name(x, min_atoms, s)
        path = None if cache_dir is None else Path(cache_dir) / name
        start = _stored_start(path, provenance)
        if start is None and (start := _stored_start(_PACKAGED_STARTS / name, provenance)) is not None:
            record.setdefault("shipped", []).append(s)
            if path is not None:
                _write_start(path, start, provenance)
        if start is None:
            start, _ = minimise_behind_wall(built, cached_calculator(spec.reference, file=spec.source),
                                            spec.iterate.minimise_steps)
            start.calc = None
            if path is not None:
                _write_start(path, start, provenance)
        start.info.clear()  # the verdict is recomputed: a stored start holds positions only
        broken = [b.message for b in check_frame(start.numbers, start.positions, start.cell.array)]
        if not broken:
            before = unit_census(built.numbers, built.positions, built.cell.array).counts
            after = unit_census(start.numbers, start.positions, start.cell.array).counts
            if after != before:  # chemistry, not a fault: the candidate starts from the reference's units
                record["units_changed"] = f"{_nonzero(before)} became {_nonzero(after)}"
            record["seed"] = s
            return start, record
        record["rejected"].append({"seed": s, "reason": "; ".join(broken).replace("Å", "A")})
    return None, record


def start_file_name(x: float, min_atoms: int, seed: int) -> str:
    """File name of a reference-minimised glass start (the cache and the shipped starts)."""
    # "_wall": minimised behind the contact wall (lpsens.train.wall); caches made without it differ
    return f"glass_x{x:g}_n{min_atoms}_seed{seed}_wall.extxyz"


def start_provenance(spec: TrainingSpec) -> dict:
    """What makes a reference-minimised start: stored in its extxyz info, compared on reuse."""
    return {"reference_calculator": spec.reference.calculator,
            "reference_kwargs": json.dumps(spec.reference.kwargs, sort_keys=True),
            "minimise_steps": int(spec.iterate.minimise_steps)}


def _stored_start(path, provenance: dict):
    """The start stored at ``path`` if it exists and was made the same way, else None.

    A start without provenance (cached before it was recorded) is trusted: it can only come
    from this campaign's own cache.
    """
    if path is None or not Path(path).exists():
        return None
    start = ase.io.read(path)
    made = {k: start.info.get(k) for k in provenance}
    if all(v is None for v in made.values()):
        return None if Path(path).parent == _PACKAGED_STARTS else start
    return start if made == provenance else None


def _write_start(path: Path, start, provenance: dict) -> None:
    out = start.copy()
    out.info.clear()
    out.info.update(provenance)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")  # a half-written start must not be read as a minimum
    ase.io.write(tmp, out, format="extxyz")
    tmp.replace(path)


def _nonzero(counts: dict) -> dict:
    return {k: v for k, v in counts.items() if v}


def validate(spec: TrainingSpec, gap_xml, *, heldout_reference=None, base_dir=None, seed: int = 0,
             uf3_path=None, starts_dir=None) -> dict:
    """Run every gate on ``gap_xml``; returns ``{"gap", "rows", "passed", "runs"}``.

    Parameters
    ----------
    spec
        The campaign's spec (``[gates]`` and ``[iterate]`` for the MD settings).
    gap_xml
        The candidate GAP (gap_fit XML).
    heldout_reference
        extxyz of held-out reference frames (the fit's ``heldout.extxyz``), or None.
    base_dir
        Directory against which a relative ``heldout_dft`` path is resolved.
    uf3_path
        The candidate's compiled twin; stability runs go through it with ``[gates] backend = "uf3"``.
    starts_dir
        Cache of the reference-minimised glass starts (``[gates] reference_starts``).

    Raises
    ------
    TrainingError
        The GAP cannot be loaded or the held-out DFT file cannot be read.
    """
    from lpsens.structures import build_structure
    from lpsens.structures.builder import CRYSTAL_X_MOL_PCT

    g = spec.gates
    calc = gap_calculator(gap_xml)
    rows = []
    if g.heldout_dft:
        path = Path(g.heldout_dft)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        try:
            frames = ase.io.read(path, f"{g.heldout_dft_frames[0]}:{g.heldout_dft_frames[1]}")
        except (OSError, ValueError) as exc:
            raise TrainingError(f"cannot read held-out DFT frames ({exc})", file=path, key="gates.heldout_dft") from None
        start, stop = g.heldout_dft_frames
        if len(frames) != stop - start:  # a gate on fewer frames than named would read as the named set's
            raise TrainingError(f"heldout_dft_frames = [{start}, {stop}] names {stop - start} frames, the file has "
                                f"{len(frames)} of them; give a range inside the file", file=path,
                                key="gates.heldout_dft_frames")
        err = errors_on(frames, calc)
        rows.append(_row("dft_force_rmse", err["force_rmse_eV_A"], g.force_rmse_eV_A, "eV/Å",
                         err["force_rmse_eV_A"] <= g.force_rmse_eV_A, f"{err['n_frames']} frames of {path.name}"))
        e = err["energy_rmse_offset_removed_meV_atom"]
        rows.append(_row("dft_energy_rmse", e, g.energy_rmse_meV_atom, "meV/atom", e <= g.energy_rmse_meV_atom,
                         "mean per-atom offset removed"))
    else:
        rows.append(_row("dft_force_rmse", None, g.force_rmse_eV_A, "eV/Å", None, "not run: [gates] heldout_dft not set"))
    by_kind = {}
    if heldout_reference is not None and Path(heldout_reference).exists():
        held = ase.io.read(heldout_reference, ":")
        screened = [a for a in held if a.info.get("screen")]
        if spec.fit.drop_screened and screened and len(screened) < len(held):
            # the fit leaves such frames out (the reference is broken or not trusted there): held
            # out, they measure that choice, not how the fit generalises
            held = [a for a in held if not a.info.get("screen")]
            screened_err = errors_on(screened, calc)
            screened_note = (f"; {len(screened)} screened frames left out as in the fit ([fit] drop_screened): "
                             f"{screened_err['force_rmse_eV_A']:.3f} eV/Å {screened_err['energy_rmse_meV_atom']:.1f} meV/atom")
        else:
            screened_note = ""
        devs = _deviations(held, calc)  # once: the per-kind errors reuse the same predictions
        kind_of = [a.info.get("config_type", "?") for a in held]
        for kind in sorted(set(kind_of)):
            by_kind[kind] = _summary([d for d, k in zip(devs, kind_of, strict=True) if k == kind])
        kinds = ", ".join(f"{k} {e['n_frames']}: {e['force_rmse_eV_A']:.3f} eV/Å {e['energy_rmse_meV_atom']:.1f} meV/atom"
                          for k, e in by_kind.items())
        gated = set(g.reference_config_types) or set(kind_of)
        which = "" if not g.reference_config_types else f" of config_type {', '.join(g.reference_config_types)}"
        devs = [d for d, k in zip(devs, kind_of, strict=True) if k in gated]
        if devs:
            err = _summary(devs)
            rows.append(_row("reference_force_rmse", err["force_rmse_eV_A"], g.force_rmse_eV_A, "eV/Å",
                             err["force_rmse_eV_A"] <= g.force_rmse_eV_A,
                             f"{err['n_frames']} held-out labelled frames{which} (all, by config_type: {kinds}){screened_note}"))
            rows.append(_row("reference_energy_rmse", err["energy_rmse_meV_atom"], g.energy_rmse_meV_atom, "meV/atom",
                             err["energy_rmse_meV_atom"] <= g.energy_rmse_meV_atom, "absolute (same reference)"))
        else:
            rows.append(_row("reference_force_rmse", None, g.force_rmse_eV_A, "eV/Å", None,
                             f"not run: no held-out frame{which} (by config_type: {kinds})"))
    runs = []
    broken_runs, unit_fracs = [], []
    it = spec.iterate
    for k, (m, x, T) in enumerate(_stability_runs(spec)):
        xx = x if m == "glass" else CRYSTAL_X_MOL_PCT[m]
        name = f"{m}{'' if x is None else f' x={x:g}'} {T:g} K"
        start_rec = None
        if m == "glass" and g.reference_starts:
            # one vetted start per composition, shared by its temperatures: the reference's
            # minimisation costs 10-30 min per attempt on one core
            j = list(g.stability_glass_x_mol_pct).index(x)
            atoms, start_rec = reference_start(spec, xx, seed + j, min_atoms=g.stability_min_atoms, cache_dir=starts_dir)
            if atoms is None:  # counted as broken: passing by skipping would prove nothing
                why = f"the reference broke all {len(start_rec['rejected'])} starts ({start_rec['rejected'][0]['reason']})"
                runs.append({"run": name, "frames": 0, "reference_start": start_rec, "first_failure": {"md_step": None, "reasons": [why]}})
                broken_runs.append(f"{name}: {why}")
                continue
        else:
            atoms = build_structure(m, xx, seed + k, min_atoms=g.stability_min_atoms)
            atoms.info.clear()
        md = dict(temperature_K=T, steps=g.stability_steps, every=g.stability_every, timestep_fs=it.timestep_fs,
                  seed=seed + k, run=name)
        if g.backend == "uf3":
            frames, rec = uf3_md_frames(atoms, uf3_path, minimise_steps=max(it.minimise_steps, 1000), **md)
            start = frames[0]
        else:
            start, rec = minimise(atoms, calc, it.minimise_steps)
            frames = md_frames(start, calc, **md)
        reasons = [frame_failures(f) for f in frames]  # once per frame: the first failure and the count
        first_bad = next(((f.info["md_step"], r) for f, r in zip(frames, reasons, strict=True) if r), None)
        run = {"run": name, "n_atoms": len(start), "frames": len(frames), "minimised": rec,
               "first_failure": None if first_bad is None else {"md_step": first_bad[0], "reasons": first_bad[1]}}
        if start_rec is not None:
            run["reference_start"] = start_rec
        run["broken_frames"] = sum(1 for r in reasons if r)
        if first_bad is not None:
            broken_runs.append(f"{name}: step {first_bad[0]} {first_bad[1][0]}")
        if m != "glass":
            fr = [float(np.isin(unit_census(f.numbers, f.positions, f.cell.array).kind_of_P, ("PS4", "P2S7")).mean())
                  for f in frames]
            run["p_in_units_fraction"] = float(np.mean(fr))
            unit_fracs.append((name, float(np.mean(fr))))
        runs.append(run)
    if runs:
        ps = g.stability_steps * it.timestep_fs / 1000
        replaced = sum(len(r.get("reference_start", {}).get("rejected", [])) for r in runs)
        note = f"; {replaced} glass start(s) the reference itself broke were replaced" if replaced else ""
        rows.append(_row("never_catastrophic", len(broken_runs), 0, "broken runs", not broken_runs,
                         ("; ".join(broken_runs) or f"{len(runs)} runs of {ps:g} ps ({g.backend})") + note))
    if unit_fracs:
        worst = min(unit_fracs, key=lambda t: t[1])
        rows.append(_row("crystal_units", worst[1], g.crystal_units_min_fraction, "fraction",
                         worst[1] >= g.crystal_units_min_fraction, f"lowest: {worst[0]}"))
    rows.append(census_vs_reference(spec, calc, uf3_path=uf3_path, seed=seed))
    decided = [r["passed"] for r in rows if r["passed"] is not None]
    return {"gap": str(gap_xml), "rows": rows, "passed": bool(decided) and all(decided), "runs": runs,
            "reference_errors_by_config_type": by_kind}


#: Unit kinds compared by the census gate (fractions of P), plus free S per P.
CENSUS_KINDS = ("PS4", "P2S7", "P2S6", "other")


def _census_fractions(frames) -> dict[str, float]:
    out = {k: 0.0 for k in CENSUS_KINDS + ("free_S_per_P",)}
    for f in frames:
        c = unit_census(f.numbers, f.positions, f.cell.array)
        n_p = max(1, len(c.kind_of_P))
        for k in CENSUS_KINDS:
            out[k] += float(np.mean(c.kind_of_P == k)) if len(c.kind_of_P) else 0.0
        out["free_S_per_P"] += c.counts.get("free_S", 0) / n_p
    return {k: v / max(1, len(frames)) for k, v in out.items()}


def census_vs_reference(spec: TrainingSpec, calc, *, uf3_path=None, seed: int = 0) -> dict:
    """The ``census_vs_reference`` gate row (see the module docstring).

    For each glass of ``census_glass_x_mol_pct`` at ``census_temperature_K``: build
    (``census_min_atoms``), minimise with the reference behind the contact wall, then alone
    (:func:`lpsens.train.wall.minimise_behind_wall`), then ``census_steps`` of Langevin
    MD with the reference and the same with the candidate (``[gates] backend``) from that start;
    per-frame unit census (:func:`lpsens.chemistry.unit_census`). The largest difference of the
    mean fraction of P per unit kind (and of free S per P) over the glasses is the value.
    """
    from lpsens.chemistry import check_frame
    from lpsens.structures import build_structure
    from lpsens.train.labelling import cached_calculator

    g = spec.gates
    if g.census_steps <= 0 or not g.census_glass_x_mol_pct:
        return _row("census_vs_reference", None, g.census_tolerance, "fraction of P", None,
                    "not run: [gates] census_steps = 0")
    ref = cached_calculator(spec.reference, file=spec.source)
    worst, details, decided = 0.0, [], False
    for k, x in enumerate(g.census_glass_x_mol_pct):
        atoms = build_structure("glass", float(x), seed + 100 + k, min_atoms=g.census_min_atoms)
        atoms.info.clear()
        start, _ = minimise_behind_wall(atoms, ref, 300)
        start.calc = None
        md = dict(temperature_K=g.census_temperature_K, steps=g.census_steps, every=g.stability_every,
                  timestep_fs=spec.iterate.timestep_fs, seed=seed + 100 + k, run=f"census x={x:g}")
        ref_frames = md_frames(start, ref, **md)[1:]
        trusted = [f for f in ref_frames if not check_frame(f.numbers, f.positions, f.cell.array)]
        if g.backend == "uf3":
            cand, _ = uf3_md_frames(start, uf3_path, minimise_steps=0, **md)
        else:
            cand = md_frames(start, calc, **md)
        cand = cand[1:]
        if not trusted:
            details.append(f"x={x:g}: every reference frame broken, not compared")
            continue
        a, b = _census_fractions(trusted), _census_fractions(cand)
        diff = {kind: abs(a[kind] - b[kind]) for kind in a}
        kind = max(diff, key=diff.get)
        worst, decided = max(worst, diff[kind]), True
        details.append(f"x={x:g}: largest |diff| {diff[kind]:.3f} ({kind}: reference {a[kind]:.3f}, candidate "
                       f"{b[kind]:.3f}; {len(trusted)}/{len(ref_frames)} reference frames intact)")
    return _row("census_vs_reference", worst if decided else None, g.census_tolerance, "fraction of P",
                (worst <= g.census_tolerance) if decided else None, "; ".join(details))


def format_gates(result: dict) -> str:
    """The gates as a fixed-width table."""
    lines = [f"gates of {result['gap']}", f"{'gate':<24}{'value':>12}{'threshold':>12}  {'unit':<12}{'result':<8}detail"]
    for r in result["rows"]:
        v = "-" if r["value"] is None else f"{r['value']:.4g}"
        t = "-" if r["threshold"] is None else f"{r['threshold']:g}"
        res = {True: "pass", False: "FAIL", None: "-"}[r["passed"]]
        lines.append(f"{r['gate']:<24}{v:>12}{t:>12}  {r['unit']:<12}{res:<8}{r['detail']}")
    not_run = sum(r["passed"] is None for r in result["rows"])
    lines.append(("all gates run pass" if result["passed"] else "NOT all gates pass")
                 + (f" ({not_run} not run)" if not_run else ""))
    return "\n".join(lines)


def write_json(result: dict, path) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)


def validate_campaign(project, *, generation: int | None = None) -> dict:
    """:func:`validate` on a campaign's GAP of ``generation`` (default: the newest fit).

    Raises
    ------
    TrainingError
        No finished fit (of that generation).
    """
    from lpsens.status import JobStatus
    from lpsens.train.generations import spec_of
    from lpsens.train.tasks import GAP_FILE, UF3_FILE

    spec = spec_of(project)
    fits = [j for j in project.find_jobs({"train_kind": "fit"}) if j.doc.get("status") == JobStatus.DONE.value]
    done = sorted(int(j.sp["generation"]) for j in fits)
    if generation is not None:
        fits = [j for j in fits if int(j.sp["generation"]) == generation]
    if not fits and done:
        raise TrainingError(f"no finished fit of generation {generation}; the finished fits are of generation(s) "
                            f"{', '.join(map(str, done))}: give one of them to --generation", file=project.path)
    if not fits:
        raise TrainingError("no finished fit" + ("" if generation is None else f" of generation {generation}")
                            + "; advance the campaign with 'lpsens train SPEC --root ROOT' and 'lpsens launch'",
                            file=project.path)
    job = max(fits, key=lambda j: int(j.sp["generation"]))
    base = Path(spec.source).parent if spec.source else None
    result = validate(spec, Path(job.path) / GAP_FILE, heldout_reference=Path(job.path) / "heldout.extxyz",
                      base_dir=base, seed=spec.run.seed, uf3_path=Path(job.path) / UF3_FILE,
                      starts_dir=Path(project.path) / "gate_starts")
    result["generation"] = int(job.sp["generation"])
    gens = dict(project.doc.get("generations") or {})
    rec = dict(gens.get(str(result["generation"]), {}))
    rec["gates"] = {r["gate"]: r["passed"] for r in result["rows"]}
    gens[str(result["generation"])] = rec
    project.doc["generations"] = gens
    return result
