import h5py
import numpy as np
import pytest

from lpsens.analysis import TrajectoryReader
from lpsens.analysis.synthetic import write_random_walk
from lpsens.errors import TrajectoryError


def test_reads_only_complete_frames(tmp_path):
    path = write_random_walk(tmp_path / "t.h5", n_frames=100, n_walkers=4, n_framework=2)
    with h5py.File(path, "r+") as h:  # an interrupted write: datasets longer than n_frames
        h.attrs["n_frames"] = 60
    with TrajectoryReader(path) as rd:
        assert rd.n_frames == 60
        assert rd.read_positions().shape == (60, 6, 3)
        assert rd.time_ps.shape == (60,)
        assert rd.frame_interval_ps == pytest.approx(0.1)


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda h: h.attrs.__setitem__("format", "xyz"), "format"),
    (lambda h: h.attrs.__setitem__("format_version", 99), "format_version"),
    (lambda h: h.attrs.__setitem__("n_frames", 1000), "n_frames"),
    (lambda h: h.__delitem__("cell"), "/cell"),
])
def test_bad_files_raise(tmp_path, mutate, match):
    path = write_random_walk(tmp_path / "t.h5", n_frames=20, n_walkers=2, n_framework=2)
    with h5py.File(path, "r+") as h:
        mutate(h)
    with pytest.raises(TrajectoryError, match=match):
        TrajectoryReader(path)


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(TrajectoryError, match="no such"):
        TrajectoryReader(tmp_path / "nope.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(TrajectoryError, match="cannot open"):
        TrajectoryReader(bad)


def test_atom_slabs_cover_selection():
    class Fake(TrajectoryReader):
        def __init__(self):
            self._n_atoms = 100

    idx = np.array([3, 4, 5, 50, 51, 97])
    slabs = Fake().atom_slabs(n_frames=10, budget_bytes=3 * 10 * 24, indices=idx)
    covered = np.concatenate([np.arange(s.start, s.stop) for s in slabs])
    assert set(idx) <= set(covered)
    assert all(s.stop - s.start <= 3 for s in slabs)
