"""What a launch knows about a job's cost before running it: atoms, ranks, steps left (:class:`TaskCost`).

The scheduler (:mod:`lpsens.launch.scheduler`) orders tasks by these estimates; this module reads
them from the job (document, structure file, MD protocol) and the journal (finished runs, the
cost model's prior). Heuristics only: a job whose files are broken fails in its task, with a
proper message, not here.
"""

from __future__ import annotations

from pathlib import Path

from lpsens.errors import LaunchError, LpsensError
from lpsens.launch.journal import read_journal
from lpsens.launch.scheduler import TaskCost

__all__ = ["n_atoms", "job_ranks", "task_cost", "finished_runs"]


def n_atoms(job) -> int:
    """Atoms of the job's system: recorded, or the count line of initial.extxyz, or the minimum."""
    doc = job.doc
    if isinstance(doc.get("n_atoms"), int):
        return doc["n_atoms"]
    path = Path(job.fn("initial.extxyz"))
    if path.exists():
        try:
            with open(path) as fh:
                return int(fh.readline().split()[0])
        except (ValueError, IndexError, OSError):
            pass  # a broken structure fails in the task, with a proper message
    system = doc.get("system") or {}
    return max(1, int(system.get("min_atoms") or 0) or 100)


def job_ranks(doc: dict, override: int | None) -> int:
    """Ranks of a job's task: the override, else ``doc["potential"]["ranks_per_task"]`` (default 1).

    Raises
    ------
    LaunchError
        If the job document's ``potential.ranks_per_task`` is not an integer >= 1.
    """
    if override is not None:
        return override
    value = (doc.get("potential") or {}).get("ranks_per_task", 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LaunchError(f"potential.ranks_per_task must be an integer >= 1, got {value!r}",
                          key="potential.ranks_per_task")
    return value


def task_cost(job, doc: dict, ranks: int) -> TaskCost:
    """The :class:`TaskCost` of a job from its document: MD steps left and to the next checkpoint
    (from its protocol and ``progress_steps``), or a training task's ``cost_steps``."""
    from lpsens.md.protocol import MDProtocol

    if "train_kind" in job.cached_statepoint:
        # Training tasks (issue 10) state their force calls in
        # doc["cost_steps"] (one checkpoint at the end); not the MD protocol's default length.
        steps = max(1, int(doc.get("cost_steps") or 1))
        return TaskCost(key=job.id, n_atoms=n_atoms(job), steps_left=steps, steps_to_checkpoint=steps,
                        ranks=ranks, cls="train_" + str(job.cached_statepoint["train_kind"]))
    try:
        protocol = MDProtocol.from_dict(dict(doc.get("protocol") or {}))
        total, eq, seg = protocol.total_steps, protocol.equilibration_steps, protocol.segment_steps
    except LpsensError:
        total, eq, seg = 1, 0, 1  # the task will fail with the protocol's own message
    done = min(int(doc.get("progress_steps") or 0), total)
    to_ckpt = (eq - done + seg) if done < eq else seg
    return TaskCost(key=job.id, n_atoms=n_atoms(job), steps_left=total - done,
                    steps_to_checkpoint=min(total - done, to_ckpt), ranks=ranks,
                    cls=str(job.cached_statepoint.get("material", "")))


def finished_runs(journal) -> list[tuple[str, float, float, int]]:
    """(class, atom_steps, wall_s, ranks) of finished runs in the journal (cost-model prior)."""
    out = []
    for rec in read_journal(journal):
        if rec.get("event") == "finish" and rec.get("atom_steps") and rec.get("wall_s"):
            out.append((rec.get("cls", ""), float(rec["atom_steps"]), float(rec["wall_s"]), int(rec.get("ranks", 1))))
    return out[-5000:]
