"""trajectory.h5 writer: layout, appends, truncation on resume, attributes; read back by the analysis reader."""

import h5py
import numpy as np
import pytest

from lpsens.analysis.reader import TrajectoryReader
from lpsens.errors import TrajectoryError
from lpsens.md.trajectory import THERMO_KEYS, TrajectoryWriter, read_trajectory_attrs
from lpsens.vocabulary import TRAJECTORY_FORMAT, TRAJECTORY_VERSION

N = 5


def _writer(tmp_path, **kw):
    w = TrajectoryWriter(tmp_path / "trajectory.h5")
    w.create(numbers=[3, 3, 3, 15, 16], cell=np.eye(3) * 10.0, frozen=[False, False, False, True, True],
             attrs={"temperature_K": 600.0, "timestep_fs": 2.0, "sampling_interval_fs": 20.0,
                    "protocol": {"timestep_fs": 2.0}}, **kw)
    return w


def _frames(k, start=0):
    pos = np.arange(start, start + k)[:, None, None] + np.zeros((k, N, 3))
    t = np.arange(start, start + k) * 0.02
    thermo = {key: np.full(k, float(i)) for i, key in enumerate(THERMO_KEYS)}
    return pos, t, np.arange(start, start + k) * 10, thermo


def test_create_writes_an_empty_trajectory_of_the_format(tmp_path):
    w = _writer(tmp_path)
    attrs = read_trajectory_attrs(w.path)
    assert attrs["format"] == TRAJECTORY_FORMAT and attrs["format_version"] == TRAJECTORY_VERSION
    assert attrs["n_frames"] == 0 and not attrs["complete"] and attrs["protocol"] == '{"timestep_fs": 2.0}'
    assert w.n_frames() == 0 and not (tmp_path / "trajectory.h5.tmp").exists()


def test_appends_accumulate_and_the_reader_reads_them(tmp_path):
    w = _writer(tmp_path)
    assert w.append(*_frames(3)) == 3
    assert w.append(*_frames(2, start=3)) == 5
    w.set_attrs(complete=True)
    with h5py.File(w.path) as f:
        assert f["positions"].shape == (5, N, 3) and list(f["step"][()]) == [0, 10, 20, 30, 40]
        assert f["thermo/pressure_bar"].shape == (5,) and f["thermo/time"][-1] == pytest.approx(0.08)
        assert list(f["frozen"][()]) == [False, False, False, True, True]
    with TrajectoryReader(w.path) as reader:
        assert reader.n_frames == 5 and reader.n_atoms == N


def test_truncate_cuts_back_to_a_checkpoint(tmp_path):
    w = _writer(tmp_path)
    w.append(*_frames(4))
    w.set_attrs(complete=True)
    w.truncate(2)
    attrs = read_trajectory_attrs(w.path)
    assert attrs["n_frames"] == 2 and not attrs["complete"]
    with h5py.File(w.path) as f:
        assert f["positions"].shape[0] == f["time"].shape[0] == f["thermo/temperature_K"].shape[0] == 2
    with pytest.raises(TrajectoryError, match="holds 2 complete frames but the checkpoint expects 3"):
        w.truncate(3)


def test_chunk_frames_sets_the_chunks_of_positions(tmp_path):
    w = _writer(tmp_path, chunk_frames=7)
    with h5py.File(w.path) as f:
        assert f["positions"].chunks == (7, N, 3)


def test_a_file_of_another_format_is_refused(tmp_path):
    path = tmp_path / "trajectory.h5"
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "other"
    with pytest.raises(TrajectoryError, match="not an lpsens-trajectory file"):
        TrajectoryWriter(path).n_frames()


def test_attrs_of_a_missing_file_are_empty(tmp_path):
    assert read_trajectory_attrs(tmp_path / "none.h5") == {}
