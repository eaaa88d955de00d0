"""The launch progress line: counts from the journal, a time left that counts down, log-friendly output."""

import io
import threading
import time

import pytest

from lpsens.launch.journal import Journal
from lpsens.launch.progress import ProgressReporter
from lpsens.launch.scheduler import CostModel, TaskCost


def _reporter(tmp_path, n=3, clock=None):
    tasks = [TaskCost(f"j{i}", 100, 1000, 100) for i in range(n)]  # 100 s each at 1000 atom-steps/s
    path = tmp_path / "journal.jsonl"
    rep = ProgressReporter(path, "L", tasks, 1, CostModel(prior_rate=1000.0),
                           **({"clock": clock} if clock else {}))
    return rep, Journal(path, "L", 0), path


def test_counts_follow_starts_and_finishes_of_this_launch_only(tmp_path):
    rep, journal, path = _reporter(tmp_path)
    journal.write("start", job="j0")
    journal.write("start", job="j1")
    Journal(path, "OTHER", 0).write("finish", job="j2", outcome="done")
    rep.poll()
    assert rep.counts() == "0/3 done, 2 running, 0 failed, 0 timeout"
    journal.write("finish", job="j0", outcome="done", atom_steps=1e5, wall_s=10.0)
    journal.write("finish", job="j1", outcome="failed")
    rep.poll()
    assert rep.counts() == "1/3 done, 0 running, 1 failed, 0 timeout"
    assert rep.model.rate() > 1000.0  # the finished run taught the cost model (1e4 atom-steps/s)


def test_a_crashed_worker_is_not_finished(tmp_path):
    rep, journal, _ = _reporter(tmp_path)
    journal.write("start", job="j0")
    journal.write("finish", job="j0", outcome="crashed")
    rep.poll()
    assert rep.counts() == "0/3 done, 0 running, 0 failed, 0 timeout" and "j0" not in rep.finished


def test_a_line_being_written_waits_for_the_next_poll(tmp_path):
    rep, journal, path = _reporter(tmp_path)
    journal.write("start", job="j0")
    with open(path, "a") as fh:
        fh.write('{"event": "start", "launch": "L", "job": "j1"')  # no newline yet
    rep.poll()
    assert rep.running == {"j0"}
    with open(path, "a") as fh:
        fh.write("}\n")
    rep.poll()
    assert rep.running == {"j0", "j1"}


def test_the_time_left_is_the_remaining_work_over_the_ranks(tmp_path):
    clock = {"t": 0.0}
    rep, journal, _ = _reporter(tmp_path, clock=lambda: clock["t"])
    assert rep.eta_s() == pytest.approx(300.0, rel=0.01)  # 3 tasks of ~100 s on 1 rank
    assert rep.line() == "lpsens launch: 0/3 done, 0 running, 0 failed, 0 timeout, ~0:05:00 left"


def test_progress_in_a_log_only_on_change_and_counting_down(tmp_path):
    """Non-interactive: no repeated identical lines; the time left counts down between events."""
    path = tmp_path / "journal.jsonl"
    tasks = [TaskCost(f"j{i}", 100, 1000, 100) for i in range(3)]  # 100 s each at 1000 atom-steps/s
    clock = {"t": 0.0}
    rep = ProgressReporter(path, "L", tasks, 1, CostModel(prior_rate=1000.0), clock=lambda: clock["t"])
    journal = Journal(path, "L", 0)
    journal.write("start", job="j0")
    rep.poll()
    first = rep.eta_s()
    clock["t"] = 40.0
    assert rep.eta_s() == pytest.approx(first - 40.0)  # counts down without a new event
    clock["t"] = 1e6
    assert rep.eta_s() == 0.0
    # run(): one line per change, none repeated while nothing happens (interval 1 h)
    clock["t"] = 0.0
    stream, finished = io.StringIO(), threading.Event()
    thread = threading.Thread(target=rep.run, args=(finished, 3600.0, stream), kwargs={"poll_s": 0.02})
    thread.start()
    time.sleep(0.3)
    journal.write("finish", job="j0", outcome="done")
    time.sleep(0.3)
    finished.set()
    thread.join()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3, lines  # at start, on the change, at the end
    assert "0/3 done, 1 running" in lines[0] and "1/3 done, 0 running" in lines[1]
    # an unchanged state is repeated after the interval
    rep.clock = time.monotonic
    stream, finished = io.StringIO(), threading.Event()
    thread = threading.Thread(target=rep.run, args=(finished, 0.05, stream), kwargs={"poll_s": 0.01})
    thread.start()
    time.sleep(0.3)
    finished.set()
    thread.join()
    assert len(stream.getvalue().splitlines()) >= 3
