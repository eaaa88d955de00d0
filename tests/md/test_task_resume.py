"""Stop/kill a task at any point, resume it, and get the trajectory of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from lpsens.md.task import run_task


def _read(job):
    with h5py.File(job.fn("trajectory.h5"), "r") as f:
        n = int(f.attrs["n_frames"])
        return {
            "n_frames": n,
            "complete": bool(f.attrs["complete"]),
            "positions": f["positions"][:n],
            "time": f["time"][:n],
            "step": f["step"][:n],
            "T": f["thermo/temperature_K"][:n],
            "len": f["positions"].shape[0],
        }


def _stop_at_call(k):
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) >= k

    return should_stop


def _assert_same(resumed, ref, atol):
    assert resumed["complete"] and resumed["n_frames"] == ref["n_frames"] == resumed["len"]
    np.testing.assert_array_equal(resumed["time"], ref["time"])
    np.testing.assert_array_equal(resumed["step"], ref["step"])
    dev = np.abs(resumed["positions"] - ref["positions"]).max()
    print(f"\nmax |resumed - uninterrupted| position deviation: {dev:.1e} Å")
    assert dev <= atol


@pytest.mark.parametrize("stop_call", [2, 3])  # after equilibration / after production segment 1
def test_should_stop_then_resume_equals_uninterrupted_run_nose_hoover(make_job, stop_call):
    ref_job = make_job(seed=3)
    run_task(ref_job)
    ref = _read(ref_job)

    job = make_job(seed=3, replica=1)  # same seed and protocol, another job directory
    out = run_task(job, should_stop=_stop_at_call(stop_call))
    assert out.status == "timeout"
    part = _read(job)
    assert not part["complete"] and part["n_frames"] == 1 + 2 * (stop_call - 2)
    assert job.doc["progress_steps"] < job.doc["total_steps"]
    out2 = run_task(job)
    assert out2.status == "done" and out.steps_done + out2.steps_done == job.doc["total_steps"]
    # fix nvt keeps its chain variables in the restart file and quippy sums in tag order: identical.
    _assert_same(_read(job), ref, atol=1e-8)


def test_should_stop_then_resume_csvr(make_job):
    """fix temp/csvr stores its RNG state in the restart file: on one rank the resumed run agrees too."""
    ref_job = make_job(seed=4, thermostat="csvr")
    run_task(ref_job)
    job = make_job(seed=4, replica=1, thermostat="csvr")
    assert run_task(job, should_stop=_stop_at_call(3)).status == "timeout"
    run_task(job)
    _assert_same(_read(job), _read(ref_job), atol=1e-8)


_WORKER = textwrap.dedent(
    """
    import os, signal, sys
    import signac, h5py
    from lpsens.md import engine
    from lpsens.md.task import run_task

    mode, k = sys.argv[3], int(sys.argv[4])
    count = [0]
    if mode == "run":  # SIGKILL at the start of the k-th MD chunk (mid-segment)
        original = engine.LammpsMD.run
        def run(self, n):
            count[0] += 1
            if count[0] == k:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self, n)
        engine.LammpsMD.run = run
    else:  # SIGKILL inside a trajectory append: frames written, n_frames not yet updated
        original = h5py.File.flush
        def flush(self):
            original(self)
            count[0] += 1
            if count[0] == k:
                os.kill(os.getpid(), signal.SIGKILL)
        h5py.File.flush = flush
    job = signac.get_project(sys.argv[1]).open_job(id=sys.argv[2])
    run_task(job)
    """
)


@pytest.mark.parametrize("mode, k", [("run", 6), ("append", 3)])
def test_hard_kill_then_resume_equals_uninterrupted_run(make_job, mode, k):
    ref_job = make_job(seed=5)
    run_task(ref_job)
    ref = _read(ref_job)

    job = make_job(seed=5, replica=1)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _WORKER, str(job.project.path), job.id, mode, str(k)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    before = _read(job)
    assert not before["complete"] and 0 < before["n_frames"] < ref["n_frames"]
    if mode == "append":
        assert before["len"] > before["n_frames"]  # the half-appended segment is on disk but not counted
    out = run_task(job)
    assert out.status == "done" and 0 < out.steps_done < job.doc["total_steps"]  # resumed, not rerun
    _assert_same(_read(job), ref, atol=1e-8)
    assert len(list(Path(job.path).glob("checkpoint_*.restart"))) == 1
