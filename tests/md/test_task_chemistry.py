"""run_task stops a run whose chemistry breaks, at the next segment boundary (real LAMMPS MD)."""

from __future__ import annotations

import ase.io
import h5py
import numpy as np
import pytest

from lpsens.errors import ChemistryError, MDError
from lpsens.md.engine import LammpsMD
from lpsens.md.protocol import MDProtocol
from lpsens.md.task import run_task
from lpsens.status import JobStatus, set_status


def _far_pair(atoms, start, z=16):
    idx = np.flatnonzero(atoms.numbers == z)
    d = atoms.get_distances(start, idx, mic=True)
    return start, int(idx[np.argmax(d)])


def _bonded_s_start(job):
    """initial.extxyz with two S of different units bonded at 2.05 Å (an S-S bond: broken chemistry)."""
    from lpsens.structures import build_structure

    atoms = build_structure("gamma_Li3PS4", 75.0, 7, min_atoms=32)
    s = np.flatnonzero(atoms.numbers == 16)
    rng = np.random.default_rng(0)
    room = np.where(atoms.numbers == 16, 2.4, np.where(atoms.numbers == 3, 1.8, 2.7))  # no worse contact
    for a in s:  # a place 2.05 Å from S a with room around it
        a, b = _far_pair(atoms, start=int(a))
        for u in rng.normal(size=(200, 3)):
            trial = atoms.copy()
            trial.positions[b] = atoms.positions[a] + 2.05 * u / np.linalg.norm(u)
            d = trial.get_distances(b, np.arange(len(trial)), mic=True)
            d[[a, b]] = np.inf
            if np.all(d >= room):
                ase.io.write(job.fn("initial.extxyz"), trial, format="extxyz")
                return a, b
    raise AssertionError("no room for a bonded S")


def test_frozen_bonded_sulfur_stops_at_the_first_boundary(make_job):
    # frozen S keep the S-S bond: the frame at the end of equilibration is already broken (no
    # minimisation: it moves every atom, and the demo GAP would fuse the bonded pair further)
    job = make_job(constraint="frozen_S", min_atoms=32, minimize_max_steps=0)
    a, b = _bonded_s_start(job)
    set_status(job, JobStatus.RUNNING)
    with pytest.raises(ChemistryError) as err:
        run_task(job)
    assert isinstance(err.value, MDError)
    msg = str(err.value)
    eq = MDProtocol.from_dict(job.doc['protocol']()).equilibration_steps
    assert "broken chemistry in frame 0 (0 ps): " in msg and f"at the segment boundary at step {eq}" in msg
    assert f"S {a} and S {b} are 2.05 Å apart (S-S limit 2.3 Å)" in msg
    assert "stop_on_broken_chemistry" in msg
    with h5py.File(job.fn("trajectory.h5"), "r") as f:
        assert f.attrs["n_frames"] == 1 and not f.attrs["complete"]
    # the caller records it as the job's failure reason
    set_status(job, JobStatus.FAILED, reason=str(err.value))
    assert job.doc["status"] == "failed" and "S-S limit" in job.doc["reason"]


def test_the_check_can_be_switched_off(make_job):
    job = make_job(constraint="frozen_S", min_atoms=32, stop_on_broken_chemistry=False,
                   production_ps=0.04, segment_ps=0.04, minimize_max_steps=0)
    _bonded_s_start(job)
    assert run_task(job).status == "done"


def test_the_campaign_thresholds_apply(make_job):
    job = make_job(constraint="frozen_S", min_atoms=32, production_ps=0.04, segment_ps=0.04, minimize_max_steps=0)
    _bonded_s_start(job)
    job.project.doc["analysis_settings"] = {"integrity_S_S_min_A": 2.0}  # as `lpsens init` stores [analysis]
    assert run_task(job).status == "done"


def test_a_frame_that_breaks_mid_run_stops_at_that_segment_boundary(make_job, monkeypatch):
    job = make_job(min_atoms=32)  # SHORT: 20 equilibration steps, 3 segments of 20 steps, a frame every 10
    prot = MDProtocol.from_dict(job.doc["protocol"]())
    eq, seg, every = prot.equilibration_steps, prot.segment_steps, prot.sample_every_steps
    breaks_at = eq + seg + every  # the first frame of the second production segment
    original = LammpsMD.positions_unwrapped

    def injected(self):
        x = original(self)
        if self.step >= breaks_at:
            s = np.flatnonzero(numbers == 16)
            x[s[-1]] = x[s[0]] + [1.2, 0.0, 0.0]  # fused S
        return x

    numbers = None
    seen = []

    def on_segment(done, total):
        seen.append(done)

    import lpsens.md.task as task_module

    real_read = task_module._read_initial

    def read_initial(path):
        nonlocal numbers
        atoms = real_read(path)
        numbers = atoms.numbers
        return atoms

    monkeypatch.setattr(task_module, "_read_initial", read_initial)
    monkeypatch.setattr(LammpsMD, "positions_unwrapped", injected)
    with pytest.raises(ChemistryError, match=r"broken chemistry in frame 3 \(0\.06 ps\): S \d+ and S \d+ "
                                             r"are 1\.20 Å apart \(S-S limit 2\.3 Å\); found at the segment "
                                             r"boundary at step 60"):
        run_task(job, on_segment=on_segment)
    assert seen == [eq, eq + seg]  # stopped at the boundary after the break, before its on_segment
    with h5py.File(job.fn("trajectory.h5"), "r") as f:
        assert f.attrs["n_frames"] == 5 and not f.attrs["complete"]
        assert np.isfinite(f["positions"][:]).all()
