import h5py
import numpy as np
import pytest

from lpsens.analysis import MSD, TrajectoryReader
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


# ---------------------------------------------------------------- redundant facts are cross-checked
def _walk(tmp_path, **kw):
    return write_random_walk(tmp_path / "t.h5", n_frames=400, n_walkers=8, n_framework=4, **kw)


def _rewrite(path, name, data):
    with h5py.File(path, "r+") as h:
        del h[name]
        h[name] = data


def test_wrapped_positions_refused_by_the_msd(tmp_path):
    path = _walk(tmp_path, D_A2_ps=2.0)
    with TrajectoryReader(path) as rd:
        x = rd.read_positions()
        cell = rd.cell
    wrapped = (x @ np.linalg.inv(cell)) % 1.0 @ cell  # what a LAMMPS `dump x y z` or XDATCAR gives
    with h5py.File(path, "r+") as h:
        h["positions"][...] = wrapped
    with TrajectoryReader(path) as rd:
        rd.read_positions()  # image-invariant readers (RDF, anions) may still read them
        with pytest.raises(TrajectoryError, match="look wrapped.*refused, not unwrapped") as err:
            MSD(n_blocks=4).compute(rd)
    assert "\n" not in str(err.value) and len(str(err.value)) < 600


def test_constant_cell_per_frame_accepted_varying_refused(tmp_path):
    path = _walk(tmp_path)
    with TrajectoryReader(path) as rd:
        cell, n = rd.cell, rd.n_frames
    _rewrite(path, "cell", np.repeat(cell[None], n, axis=0))
    with TrajectoryReader(path) as rd:
        np.testing.assert_array_equal(rd.cell, cell)
    breathing = cell[None] * (1 + 0.01 * np.sin(np.arange(n) / 20.0))[:, None, None]
    _rewrite(path, "cell", breathing)
    with pytest.raises(TrajectoryError, match=r"varies between frames.*NVT") as err:
        TrajectoryReader(path)
    assert len(str(err.value)) < 600 and "(400, 3, 3)" in str(err.value)
    _rewrite(path, "cell", np.ones((7, 2)))
    with pytest.raises(TrajectoryError, match=r"shape \(7, 2\)"):
        TrajectoryReader(path)


def test_time_axis_in_fs_refused(tmp_path):
    path = _walk(tmp_path)
    with h5py.File(path, "r+") as h:
        h["time"][...] = h["time"][()] * 1000.0  # written in fs, documented in ps
    with pytest.raises(TrajectoryError, match=r"'/time'.*sampling_interval_fs = 100 fs.*ratio 1000"):
        TrajectoryReader(path)
    with h5py.File(path, "r+") as h:  # without the attribute, /step x timestep_fs still disagrees
        del h.attrs["sampling_interval_fs"]
    with pytest.raises(TrajectoryError, match=r"/step x timestep_fs"):
        TrajectoryReader(path)


def test_duplicated_restart_frame_refused(tmp_path):
    path = _walk(tmp_path)
    with h5py.File(path, "r+") as h:
        t, st = h["time"][()], h["step"][()]
        h["time"][201:] = t[200:-1]  # frame 200 written twice where two restart parts were joined
        h["step"][201:] = st[200:-1]
    with pytest.raises(TrajectoryError, match=r"'/time'.*not increasing: frame 201.*duplicated restart"):
        TrajectoryReader(path)


def test_step_contradicting_time_refused(tmp_path):
    path = _walk(tmp_path)
    with h5py.File(path, "r+") as h:
        h["step"][...] = h["step"][()] * 2  # 4 fs between frames according to /step
    with pytest.raises(TrajectoryError, match=r"/step x timestep_fs"):
        TrajectoryReader(path)
