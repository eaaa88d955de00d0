"""The pure scheduler: cost model, longest-first order, walltime rule, simulated clock."""

import itertools
import random

import pytest

from lpsens.errors import LaunchError
from lpsens.launch.scheduler import CostModel, Scheduler, SimTask, TaskCost, simulate, static_split


def _task(key, atoms, steps=100, ckpt=None, ranks=1, cls=""):
    return TaskCost(key=key, n_atoms=atoms, steps_left=steps, steps_to_checkpoint=ckpt or steps, ranks=ranks, cls=cls)


def test_cost_model_prior_then_measured():
    model = CostModel(prior_rate=100.0, prior_weight_s=1.0)
    t = _task("a", 10, steps=100)
    assert model.estimate_s(t) == pytest.approx(10.0)
    model.observe("", atom_steps=10_000.0, wall_s=99.0)  # measured rate 101 ~ prior
    model.observe("", atom_steps=1e6, wall_s=900.0)
    # measured throughput dominates the prior once runs add up to more than prior_weight_s
    assert model.rate() == pytest.approx((100.0 + 10_000 + 1e6) / (1 + 99 + 900))


def test_cost_model_class_falls_back_to_pool():
    model = CostModel(prior_rate=100.0, prior_weight_s=0.0)
    model.observe("glass", 1000.0, 1.0)
    assert model.rate("glass") == pytest.approx(1000.0)
    assert model.rate("beta_Li3PS4") == pytest.approx(1000.0)  # no own runs: pooled
    model.observe("beta_Li3PS4", 500.0, 1.0)
    assert model.rate("beta_Li3PS4") == pytest.approx(500.0)


def test_longest_first_and_discard():
    sched = Scheduler([_task("s", 10), _task("l", 1000), _task("m", 100)], CostModel())
    assert [t.key for t in sched.candidates(0.0)] == ["l", "m", "s"]
    sched.discard("l")
    assert sched.pop_next(0.0).key == "m"
    assert [t.key for t in sched.candidates(0.0)] == ["s"]
    assert sched.pop_next(0.0).key == "s"
    assert sched.pop_next(0.0) is None


def test_walltime_rule_uses_time_to_next_checkpoint():
    model = CostModel(prior_rate=1.0, prior_weight_s=1.0)
    long_first_ckpt = _task("big", 10, steps=1000, ckpt=100)  # 1000 s to its checkpoint
    short = _task("small", 1, steps=50)                     # 50 s in all
    sched = Scheduler([long_first_ckpt, short], model, end_s=500.0, margin_s=10.0)
    assert [t.key for t in sched.candidates(0.0)] == ["small"]
    assert [t.key for t in sched.candidates(445.0)] == []
    assert "big" in sched and len(sched) == 2
    unlimited = Scheduler([long_first_ckpt, short], model)
    assert [t.key for t in unlimited.candidates(1e9)] == ["big", "small"]


def test_free_ranks_filter():
    sched = Scheduler([_task("wide", 1000, ranks=8), _task("narrow", 10, ranks=2)], CostModel())
    assert [t.key for t in sched.candidates(0.0, free_ranks=4)] == ["narrow"]
    assert [t.key for t in sched.candidates(0.0, free_ranks=8)] == ["wide", "narrow"]


def test_resort_when_a_class_turns_out_slower():
    model = CostModel(prior_rate=100.0, prior_weight_s=0.0)
    model.observe("fast", 100.0, 1.0)
    model.observe("slow", 100.0, 1.0)
    sched = Scheduler([_task("f", 20, cls="fast"), _task("s", 10, cls="slow")], model)
    assert [t.key for t in sched.candidates(0.0)] == ["f", "s"]
    model.observe("slow", 100.0, 100.0)  # the slow class is ~50x slower than thought
    assert [t.key for t in sched.candidates(0.0)] == ["s", "f"]


def test_duplicate_task_rejected():
    with pytest.raises(LaunchError, match="twice"):
        Scheduler([_task("a", 1), _task("a", 2)], CostModel())


def _workload(n, seed=3, widths=(1,)):
    rng = random.Random(seed)
    tasks = []
    for i in range(n):
        d = rng.lognormvariate(0.0, 1.0)
        r = rng.choice(widths)
        atoms = max(1, round(d * 1000))
        # true duration deviates from the estimate by +-20 %
        tasks.append(SimTask(TaskCost(f"t{i}", atoms, 100, 100, ranks=r), true_s=atoms * 100 / 500.0 / r * rng.uniform(0.8, 1.2)))
    return tasks


def _check_no_rank_overlap(result, tasks):
    width = {t.cost.key: t.cost.ranks for t in tasks}
    busy = {}
    for key, (start, end, ranks) in result.starts.items():
        assert len(set(ranks)) == width[key]
        for r in ranks:
            assert 0 <= r < result.n_ranks
            busy.setdefault(r, []).append((start, end))
    for intervals in busy.values():
        intervals.sort()
        for (_, e0), (s1, _) in itertools.pairwise(intervals):
            assert s1 >= e0 - 1e-9


@pytest.mark.parametrize("widths", [(1,), (1, 2, 4, 8)])
def test_simulation_runs_everything_once_without_overlap(widths):
    tasks = _workload(300, widths=widths)
    for result in (simulate(tasks, 32), static_split(tasks, 32)):
        assert sorted(result.starts) == sorted(t.cost.key for t in tasks)
        _check_no_rank_overlap(result, tasks)
        assert 0 < result.efficiency <= 1.0
        assert result.busy_rank_s == pytest.approx(sum(t.true_s * t.cost.ranks for t in tasks))


def test_dynamic_beats_static_split_on_heterogeneous_work():
    tasks = _workload(400, widths=(1, 2, 4, 8))
    assert simulate(tasks, 64).makespan_s < static_split(tasks, 64).makespan_s


def test_simulation_walltime_skips_what_cannot_checkpoint():
    tasks = _workload(50)
    longest = max(tasks, key=lambda t: t.true_s)
    end = longest.true_s / 2
    result = simulate(tasks, 4, model=CostModel(prior_rate=500.0), end_s=end)
    assert longest.cost.key in result.skipped
    assert result.starts, "short tasks still run"
    for start, _, _ in result.starts.values():
        assert start <= end


def test_simulation_rejects_too_wide_task():
    with pytest.raises(LaunchError, match="needs 8 ranks"):
        simulate([SimTask(_task("w", 1, ranks=8), 1.0)], 4)
