"""HDF5 file locks between the MD writer and readers (field case 04): real processes, real locks."""

import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from lpsens.analysis import TrajectoryReader
from lpsens.analysis.synthetic import write_random_walk
from lpsens.errors import TrajectoryLockedError
from lpsens.hdf5 import FileLockedError, open_h5
from lpsens.md.trajectory import THERMO_KEYS, TrajectoryWriter


@pytest.fixture(autouse=True)
def _locking_on(monkeypatch):
    monkeypatch.delenv("HDF5_USE_FILE_LOCKING", raising=False)


def _hold(path, mode, seconds):
    """Another process (a notebook, `lpsens analyze`, the MD task) holding the file open."""
    code = (f"import h5py, time; f = h5py.File({str(path)!r}, {mode!r}); print('held', flush=True); "
            f"time.sleep({seconds}); f.close()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={k: v for k, v in __import__("os").environ.items() if k != "HDF5_USE_FILE_LOCKING"})
    assert proc.stdout.readline().strip() == "held"
    return proc


def _new_trajectory(path, n_atoms=4):
    w = TrajectoryWriter(path, lock_wait_s=30.0)
    w.create(numbers=[3] * n_atoms, cell=np.eye(3) * 10.0, frozen=np.zeros(n_atoms, bool),
             attrs={"temperature_K": 600.0, "timestep_fs": 2.0, "sampling_interval_fs": 100.0})
    return w


def _segment(k, n_atoms=4, t0=0.0):
    return (np.zeros((k, n_atoms, 3)), t0 + np.arange(k) * 0.1, np.arange(k) * 50,
            {key: np.zeros(k) for key in THERMO_KEYS})


def test_writer_waits_for_a_transient_reader(tmp_path):
    w = _new_trajectory(tmp_path / "trajectory.h5")
    w.append(*_segment(5))
    reader = _hold(w.path, "r", 1.5)
    try:
        t0 = time.monotonic()
        assert w.append(*_segment(5, t0=0.5)) == 10  # waited for the reader instead of failing
        assert time.monotonic() - t0 > 0.5
    finally:
        reader.communicate()
    assert w.n_frames() == 10


def test_writer_gives_up_without_destructive_advice(tmp_path):
    w = _new_trajectory(tmp_path / "trajectory.h5")
    w.lock_wait_s = 0.3
    reader = _hold(w.path, "r", 3)
    try:
        with pytest.raises(TrajectoryLockedError) as err:
            w.append(*_segment(5))
    finally:
        reader.communicate()
    msg = str(err.value)
    assert err.value.resumable and "checkpoint.h5 is intact" in msg and "HDF5_USE_FILE_LOCKING=FALSE" in msg
    assert "delete" not in msg and "\n" not in msg
    assert w.n_frames() == 0  # nothing half-written


def test_reader_names_the_lock_and_the_variable(tmp_path):
    path = write_random_walk(tmp_path / "t.h5", n_frames=50, n_walkers=2, n_framework=2)
    writer = _hold(path, "r+", 3)
    try:
        with pytest.raises(TrajectoryLockedError, match="locked by a writer.*HDF5_USE_FILE_LOCKING=FALSE"):
            TrajectoryReader(path, lock_wait_s=0.3)
    finally:
        writer.communicate()
    with TrajectoryReader(path) as rd:
        assert rd.n_frames == 50


def test_open_h5_passes_other_errors_through(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(OSError) as err:
        open_h5(bad, "r", wait_s=5)
    assert not isinstance(err.value, FileLockedError)
    with h5py.File(tmp_path / "ok.h5", "w"):
        pass
    with open_h5(tmp_path / "ok.h5", "r") as f:
        assert f.mode == "r"
