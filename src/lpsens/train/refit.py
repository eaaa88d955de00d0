"""Refit one generation's training set with other ``[fit]`` settings and rerun its explorations.

The A/B comparison behind a hyper-parameter choice (docs/training.md, "Refit a generation"):
the same labels, one ``[fit]`` change, and the generation's exploration runs again from the
same built structures and seeds, each stopped at its first broken frame. The campaign itself
is not touched; everything goes to the output folder.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

from lpsens.errors import SpecError, TrainingError
from lpsens.status import JobStatus
from lpsens.train.spec import TrainingSpec, parse_training_spec

__all__ = ["refit_spec", "refit", "rerun_explorations", "format_comparison", "REFIT_FILE"]

#: The comparison, written into the output folder.
REFIT_FILE = "refit.json"


def refit_spec(spec: TrainingSpec, overrides: list[str]) -> TrainingSpec:
    """``spec`` with ``[fit]`` keys changed by ``"fit.key=value"`` strings (value in TOML syntax).

    Raises
    ------
    SpecError
        Not ``fit.key=value``, a value TOML cannot read, or a value the spec refuses (key named).
    """
    data = spec.to_dict()
    keys = [item.partition("=")[0].strip() for item in overrides]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise SpecError(f"{', '.join(twice)} given more than once; give each key once", option="--set")
    for item in overrides:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not (sep and dot and name):
            raise SpecError(f"{item!r}: give fit.KEY=VALUE, e.g. fit.delta_3b=0.5", option="--set")
        if section != "fit":
            raise SpecError(f"{item!r}: a refit changes [fit] only; [{section}] would change the labels or the "
                            "runs it compares", option="--set")
        try:
            data["fit"][name] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            raise SpecError(f"{item!r}: {value.strip()!r} is not a TOML value (strings in quotes, lists in [])",
                            option="--set") from None
    try:
        parsed = parse_training_spec(data)
    except SpecError as exc:  # the campaign's own spec was valid: the --set value is what is wrong
        raise SpecError(f"{exc.reason}", option="--set", key=exc.key) from None
    return dataclasses.replace(parsed, source=spec.source)


def refit(project, g: int, spec: TrainingSpec, out_dir, should_stop=None) -> dict:
    """Fit generation ``g``'s training set (labels of generations <= ``g``) with ``spec`` into ``out_dir``.

    Returns the fit record (:func:`lpsens.train.tasks.fit_generation`).

    Raises
    ------
    TrainingError
        ``out_dir`` is inside the campaign, or holds another refit; gap_fit failed.
    """
    from lpsens.train.tasks import fit_generation

    out = Path(out_dir).resolve()
    check_out_dir(project, out)
    try:
        return fit_generation(project, g, spec, out, should_stop=should_stop)
    except TrainingError as exc:
        if exc.key and exc.key.startswith("fit.") and exc.file == (None if spec.source is None else str(spec.source)):
            # a [fit] value the campaign's spec fitted with: what the refit changed is --set
            raise TrainingError(exc.reason, option="--set", key=exc.key) from None
        raise


def check_out_dir(project, out_dir) -> None:
    """A refit writes only into a new (or empty) folder outside the campaign and other refits.

    Raises
    ------
    TrainingError
        ``out_dir`` is a file, a folder with files, inside the campaign or inside another refit.
    """
    out = Path(out_dir).resolve()
    if out.is_relative_to(Path(project.path).resolve()):
        raise TrainingError("the refit's folder is inside the campaign; give a new folder outside it", file=out,
                            option="--out")
    if out.exists() and not out.is_dir():
        raise TrainingError("is a file; give a new folder for the refit", file=out, option="--out")
    if out.is_dir() and any(out.iterdir()):
        raise TrainingError("holds files already (a refit writes gap.xml, train.extxyz, refit.json); give a new folder",
                            file=out, option="--out")
    for parent in out.parents:
        if (parent / REFIT_FILE).exists():
            raise TrainingError(f"is inside the refit {parent}; give a folder outside it", file=out, option="--out")


def rerun_explorations(project, g: int, spec: TrainingSpec, fit_dir, materials=None) -> list[dict]:
    """Generation ``g``'s finished exploration runs again with the fit in ``fit_dir``.

    Same built structure and seed per run, ``spec``'s ``[iterate]`` (as the campaign ran them
    when it is unchanged). ``materials``: only these (None: all).

    Returns
    -------
    list of dict
        Per run: ``run``, ``steps_requested``, ``refit`` and ``campaign`` (each the first broken
        frame: ``md_step``, ``time_ps``, ``reason``; ``None`` when intact to the end; the
        campaign's ``None`` also for runs made before lpsens recorded it: ``campaign_known``).
    """
    from lpsens.train.generations import _plain, _run_name
    from lpsens.train.tasks import exploration_frames, first_broken

    rows = []
    jobs = [j for j in project.find_jobs({"train_kind": "explore", "generation": g})
            if j.doc.get("status") == JobStatus.DONE.value and (not materials or j.sp["material"] in materials)]
    for job in sorted(jobs, key=lambda j: _run_name(j.sp)):
        frames, _ = exploration_frames(spec, job.sp, int(job.doc["seed"]), Path(fit_dir))
        rows.append({"run": _run_name(job.sp), "steps_requested": spec.iterate.md_steps,
                     "refit": first_broken(frames, spec.iterate.timestep_fs),
                     "campaign": _plain(job.doc.get("first_broken")), "campaign_known": "first_broken" in job.doc})
    return rows


def _lasted(b: dict | None, steps: int) -> int:
    return steps if b is None else int(b["md_step"])


def format_comparison(rows: list[dict]) -> str:
    """A table: per run the steps before the first broken frame (and why), campaign vs refit."""
    def cell(b, steps, known=True):
        if not known:
            return "?"
        return f"{steps} intact" if b is None else f"{b['md_step']}: {b['reason']}"

    lines = ["| run | campaign | refit |", "|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['run']} | {cell(r['campaign'], r['steps_requested'], r['campaign_known'])} | "
                     f"{cell(r['refit'], r['steps_requested'])} |")
    known = [r for r in rows if r["campaign_known"]]
    total = {k: sum(_lasted(r[k], r["steps_requested"]) for r in known) for k in ("campaign", "refit")}
    intact = {k: sum(1 for r in known if r[k] is None) for k in ("campaign", "refit")}
    lines.append(f"steps before the first broken frame, summed over {len(known)} runs: campaign {total['campaign']}, "
                 f"refit {total['refit']}; intact to the end: campaign {intact['campaign']}, refit {intact['refit']}")
    return "\n".join(lines)


def write_comparison(out_dir, g: int, overrides: list[str], record: dict, rows: list[dict]) -> Path:
    """``out_dir/refit.json``: the generation, the overrides, the fit record and the runs."""
    path = Path(out_dir) / REFIT_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"generation": g, "set": overrides, "fit": record, "runs": rows}, indent=1, default=str))
    tmp.replace(path)
    return path
