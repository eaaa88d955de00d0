"""Pure scheduling: task costs, longest-first order, the walltime rule, and a simulated clock.

Nothing here imports MPI, LAMMPS or signac, and nothing reads a clock: the caller passes
``now_s``. The same :class:`Scheduler` serves the real launcher (each group leader asks it
for its next candidates), the unit tests and :func:`simulate`, which replays a workload on
any number of ranks to measure packing efficiency beyond this machine.

Cost model
----------
A GAP-MD task costs ``n_atoms * steps`` atom-steps (GAP descriptors and kernels are linear
in the number of atoms). Its wall time on a group is ``atom_steps / rate`` with ``rate`` in
atom-steps per second per rank, a prior refined by every finished run: the rate of a class
of tasks (e.g. one material) is ``(w0 * prior + sum(atom_steps / ranks)) / (w0 + sum(wall_s))``
with ``w0 = prior_weight_s`` (see :meth:`CostModel.rate`).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from lpsens.errors import LaunchError

__all__ = [
    "TaskCost",
    "CostModel",
    "Scheduler",
    "SimTask",
    "SimResult",
    "simulate",
    "static_split",
]


@dataclass(frozen=True)
class TaskCost:
    """What the scheduler knows about one task.

    Attributes
    ----------
    key
        Unique task name (the signac job id).
    n_atoms
        Atoms in the simulated system (an estimate before the structure exists).
    steps_left
        MD steps still to run (equilibration + production - done).
    steps_to_checkpoint
        Steps from the current state to the next checkpoint the task will write
        (``<= steps_left``); the walltime rule needs this much time.
    ranks
        MPI ranks the task runs on.
    cls
        Throughput class (e.g. the material): runs of one class refine one rate.
    """

    key: str
    n_atoms: int
    steps_left: int
    steps_to_checkpoint: int
    ranks: int = 1
    cls: str = ""

    def __post_init__(self):
        if self.n_atoms < 0 or self.steps_left < 0 or self.steps_to_checkpoint < 0:
            raise LaunchError(f"negative size in task {self.key}: {self}")
        if self.ranks < 1:
            raise LaunchError(f"task {self.key} needs ranks >= 1, got {self.ranks}")

    @property
    def atom_steps(self) -> float:
        return float(self.n_atoms) * float(self.steps_left)


class CostModel:
    """Wall-time estimates from ``atoms x steps`` and measured throughput.

    Parameters
    ----------
    prior_rate
        Atom-steps per second per rank assumed before any task of a class has finished
        (GAP-SOAP on one core: of order 10^2-10^3).
    prior_weight_s
        How many seconds of measured runs the prior is worth: measured throughput takes over
        once finished runs add up to more than this.

    Raises
    ------
    LaunchError
        For a prior rate that is not a positive finite number, or a negative prior weight.
    """

    def __init__(self, prior_rate: float = 500.0, prior_weight_s: float = 1.0):
        if not (prior_rate > 0 and math.isfinite(prior_rate)):
            raise LaunchError(f"must be > 0 atom-steps/s, got {prior_rate!r}", key="prior_rate")
        if prior_weight_s < 0:
            raise LaunchError(f"prior_weight_s must be >= 0, got {prior_weight_s!r}")
        self.prior_rate = float(prior_rate)
        self.prior_weight_s = float(prior_weight_s)
        # per class: [rank-normalised atom-steps, wall seconds]
        self._obs: dict[str, list[float]] = {}
        self._all = [0.0, 0.0]

    def observe(self, cls: str, atom_steps: float, wall_s: float, ranks: int = 1) -> None:
        """Record a finished (or stopped) run: ``atom_steps`` done in ``wall_s`` on ``ranks``."""
        if wall_s <= 0 or atom_steps <= 0:
            return  # nothing learned from an empty run
        per_rank = atom_steps / ranks
        for acc in (self._obs.setdefault(cls, [0.0, 0.0]), self._all):
            acc[0] += per_rank
            acc[1] += wall_s

    def rate(self, cls: str = "", ranks: int = 1) -> float:
        """Estimated atom-steps per second of a task of class ``cls`` on ``ranks`` ranks.

        The class's own measurements if any, else all measurements pooled, else the prior;
        blended with the prior by :attr:`prior_weight_s`. Ranks scale it linearly (the
        estimate only orders tasks of equal width, so parallel efficiency cancels out).
        """
        acc = self._obs.get(cls) or self._all
        w = self.prior_weight_s
        per_rank = (w * self.prior_rate + acc[0]) / (w + acc[1]) if (w + acc[1]) > 0 else self.prior_rate
        return per_rank * ranks

    def estimate_s(self, task: TaskCost) -> float:
        """Estimated wall seconds for the rest of ``task``."""
        return task.atom_steps / self.rate(task.cls, task.ranks)

    def checkpoint_s(self, task: TaskCost) -> float:
        """Estimated wall seconds until ``task`` writes its next checkpoint."""
        return float(task.n_atoms) * task.steps_to_checkpoint / self.rate(task.cls, task.ranks)


class Scheduler:
    """Longest-expected-first queue with the walltime rule.

    Tasks are kept in one queue per width (ranks), each sorted by estimated duration; a pick
    merges the heads of the widths that fit, so a pick costs O(widths), not O(tasks).

    Parameters
    ----------
    tasks
        The eligible tasks.
    model
        The cost model (shared with the caller, who feeds it finished runs).
    end_s
        End of the allocation on the caller's clock (``None``: no limit).
    margin_s
        Safety margin kept free before ``end_s`` (writing the checkpoint, the job document,
        MPI shutdown).
    resort_tolerance
        Re-sort the queues when the relative throughput of two task classes has changed by
        more than this fraction since the last sort.

    Raises
    ------
    LaunchError
        If a task key is given twice.
    """

    def __init__(self, tasks: Iterable[TaskCost], model: CostModel, *, end_s: float | None = None,
                 margin_s: float = 0.0, resort_tolerance: float = 0.05):
        self.model = model
        self.end_s = end_s
        self.margin_s = float(margin_s)
        self.resort_tolerance = float(resort_tolerance)
        self._tasks: dict[str, TaskCost] = {}
        for t in tasks:
            if t.key in self._tasks:
                raise LaunchError(f"task {t.key} given twice")
            self._tasks[t.key] = t
        self._queues: dict[int, list[tuple[float, str]]] = {}
        self._heads: dict[int, int] = {}
        self._signature: dict[str, float] = {}
        self._resort()

    def __len__(self) -> int:
        return len(self._tasks)

    def __contains__(self, key: str) -> bool:
        return key in self._tasks

    def remaining(self) -> list[TaskCost]:
        """Tasks not yet discarded (any order)."""
        return list(self._tasks.values())

    def _rates(self) -> dict[str, float]:
        classes = {t.cls for t in self._tasks.values()}
        return {c: self.model.rate(c) for c in classes}

    def _resort(self) -> None:
        self._queues, self._heads = {}, {}
        for key, task in self._tasks.items():
            self._queues.setdefault(task.ranks, []).append((-self.model.estimate_s(task), key))
        for q in self._queues.values():
            q.sort()
        self._heads = dict.fromkeys(self._queues, 0)
        self._signature = self._rates()

    def _stale_order(self) -> bool:
        now = self._rates()
        common = [c for c in now if c in self._signature]
        if len(common) < 2:
            return False  # one class: the order is by atom-steps whatever the rate
        ref = common[0]
        return any(abs((now[c] / now[ref]) / (self._signature[c] / self._signature[ref]) - 1.0)
                   > self.resort_tolerance for c in common[1:])

    def fits(self, task: TaskCost, now_s: float) -> bool:
        """The walltime rule: can ``task`` reach its next checkpoint before the end?"""
        if self.end_s is None:
            return True
        return now_s + self.model.checkpoint_s(task) + self.margin_s <= self.end_s

    def _iter_queue(self, width: int, now_s: float) -> Iterator[tuple[float, str]]:
        q = self._queues[width]
        head = self._heads[width]
        while head < len(q) and q[head][1] not in self._tasks:
            head += 1
        self._heads[width] = head
        for i in range(head, len(q)):
            item = q[i]
            task = self._tasks.get(item[1])
            if task is not None and self.fits(task, now_s):
                yield item

    def candidates(self, now_s: float, free_ranks: int | None = None) -> Iterator[TaskCost]:
        """Remaining tasks, longest expected first, that fit ``free_ranks`` and the walltime.

        The order is refreshed when the cost model has learned that one class of tasks is
        relatively slower than thought. Tasks are not removed: call :meth:`discard` once a
        task is taken (by this caller or, as a failed claim shows, by someone else).
        """
        if self._stale_order():
            self._resort()
        widths = [w for w in self._queues if free_ranks is None or w <= free_ranks]
        for _, key in heapq.merge(*(self._iter_queue(w, now_s) for w in widths)):
            task = self._tasks.get(key)
            if task is not None:
                yield task

    def discard(self, key: str) -> None:
        self._tasks.pop(key, None)

    def add(self, task: TaskCost) -> None:
        """Put ``task`` (back) into the queue, e.g. to retry it from its checkpoint."""
        self._tasks[task.key] = task
        self._resort()

    def pop_next(self, now_s: float, free_ranks: int | None = None) -> TaskCost | None:
        """Take the first candidate (the simulation's dispatch)."""
        for task in self.candidates(now_s, free_ranks):
            self.discard(task.key)
            return task
        return None


# --------------------------------------------------------------------------- simulation
@dataclass(frozen=True)
class SimTask:
    """A task of the simulated workload: what the scheduler sees and how long it really takes."""

    cost: TaskCost
    true_s: float


@dataclass
class SimResult:
    """Outcome of :func:`simulate`.

    Attributes
    ----------
    makespan_s
        Time from the start until the last task ends, in s.
    busy_rank_s
        Sum of ``true_s * ranks`` over the tasks that ran, in rank-seconds.
    n_ranks
        Ranks in the allocation.
    starts
        ``key -> (start_s, end_s, ranks)`` with ``ranks`` the tuple of rank ids used.
    skipped
        Keys of tasks never started (walltime rule).
    """

    makespan_s: float
    busy_rank_s: float
    n_ranks: int
    starts: dict[str, tuple[float, float, tuple[int, ...]]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def efficiency(self) -> float:
        """Busy rank-seconds over allocated rank-seconds (``n_ranks * makespan``)."""
        return self.busy_rank_s / (self.n_ranks * self.makespan_s) if self.makespan_s > 0 else 1.0


def simulate(tasks: Sequence[SimTask], n_ranks: int, *, model: CostModel | None = None,
             dispatch_s: float = 0.0, end_s: float | None = None, learn: bool = True) -> SimResult:
    """Replay dynamic longest-first scheduling of ``tasks`` on ``n_ranks`` ranks.

    Whenever ranks become free, the scheduler hands them the longest task (by its *estimate*)
    that fits the free ranks and the walltime, as the real group leaders do; ``dispatch_s`` is
    added to every task (claim + bookkeeping). With ``learn`` the cost model observes each
    finished task, as in the launcher.

    Raises
    ------
    LaunchError
        For ``n_ranks`` < 1, or a task wider than the allocation.
    """
    if n_ranks < 1:
        raise LaunchError(f"n_ranks must be >= 1, got {n_ranks}")
    widest = max((t.cost.ranks for t in tasks), default=1)
    if widest > n_ranks:
        raise LaunchError(f"a task needs {widest} ranks but the allocation has {n_ranks}")
    model = model or CostModel()
    truth = {t.cost.key: t for t in tasks}
    sched = Scheduler((t.cost for t in tasks), model, end_s=end_s)
    free = list(range(n_ranks))  # free rank ids (kept sorted for determinism)
    running: list[tuple[float, str, list[int]]] = []  # heap of (end, key, ranks)
    now = 0.0
    result = SimResult(makespan_s=0.0, busy_rank_s=0.0, n_ranks=n_ranks)
    while True:
        while free:
            task = sched.pop_next(now, free_ranks=len(free))
            if task is None:
                break
            use, free = free[: task.ranks], free[task.ranks:]
            end = now + dispatch_s + truth[task.key].true_s
            heapq.heappush(running, (end, task.key, use))
            result.starts[task.key] = (now, end, tuple(use))
        if not running:
            break
        end, key, use = heapq.heappop(running)
        now = end
        cost = truth[key].cost
        result.busy_rank_s += truth[key].true_s * cost.ranks
        result.makespan_s = max(result.makespan_s, end)
        if learn:
            model.observe(cost.cls, cost.atom_steps, truth[key].true_s, cost.ranks)
        free = sorted(free + use)
    result.skipped = sorted(k for k in truth if k not in result.starts)
    return result


def static_split(tasks: Sequence[SimTask], n_ranks: int, *, dispatch_s: float = 0.0) -> SimResult:
    """The static alternative: tasks dealt out beforehand, no feedback at run time.

    This is what bundling does (signac-flow ``--bundle --parallel``, LAMMPS ``-partition``):
    the allocation is cut into fixed lanes and each lane runs its share in order. Tasks of one
    width ``r`` get ``r``-rank lanes; each width gets a share of the ranks proportional to its
    estimated work (the best a static plan can do), and its tasks are dealt round-robin in
    their given (state point) order.

    Raises
    ------
    LaunchError
        If the task widths do not fit in ``n_ranks`` statically.
    """
    model = CostModel()
    by_width: dict[int, list[SimTask]] = {}
    for t in tasks:
        by_width.setdefault(t.cost.ranks, []).append(t)
    work = {r: sum(model.estimate_s(t.cost) * r for t in ts) for r, ts in by_width.items()}
    total = sum(work.values()) or 1.0
    lanes: dict[int, int] = {}
    for r in sorted(by_width):
        lanes[r] = max(1, int(round(n_ranks * work[r] / total / r)))
    # Trim to the allocation, taking lanes from the widths with most lanes.
    while sum(r * n for r, n in lanes.items()) > n_ranks:
        r = max((r for r in lanes if lanes[r] > 1), key=lambda r: lanes[r] * r, default=None)
        if r is None:
            raise LaunchError(f"{len(lanes)} task widths do not fit in {n_ranks} ranks statically")
        lanes[r] -= 1
    result = SimResult(makespan_s=0.0, busy_rank_s=0.0, n_ranks=n_ranks)
    first_rank = 0
    for r in sorted(by_width):
        clocks = [0.0] * lanes[r]
        for i, t in enumerate(by_width[r]):
            lane = i % lanes[r]
            start = clocks[lane]
            clocks[lane] = start + dispatch_s + t.true_s
            result.starts[t.cost.key] = (start, clocks[lane], tuple(range(first_rank + lane * r, first_rank + (lane + 1) * r)))
            result.busy_rank_s += t.true_s * r
        result.makespan_s = max([result.makespan_s, *clocks])
        first_rank += lanes[r] * r
    return result
