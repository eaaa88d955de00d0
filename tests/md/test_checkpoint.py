"""checkpoint.h5: atomic write, round trip, the restart file's hash, old restarts removed."""

import h5py
import numpy as np
import pytest

from lpsens.errors import MDError
from lpsens.md.checkpoint import (
    CHECKPOINT_FILE,
    Checkpoint,
    commit_restart,
    file_sha256,
    read_checkpoint,
    restart_name,
    write_checkpoint,
)


def _checkpoint(job_dir, step, n_atoms=4):
    tmp = job_dir / "restart.tmp"
    tmp.write_bytes(f"restart at {step}".encode())
    name = restart_name(step)
    digest = commit_restart(tmp, job_dir / name)
    rng = np.random.default_rng(step)
    return Checkpoint(step=step, n_frames=step // 10, positions=rng.normal(size=(n_atoms, 3)),
                      velocities=rng.normal(size=(n_atoms, 3)), image=rng.integers(-2, 3, (n_atoms, 3)),
                      restart_file=name, restart_sha256=digest,
                      meta={"protocol": {"timestep_fs": 2.0}, "thermostat_state": {"eta": 0.5}})


def test_no_checkpoint_is_none(tmp_path):
    assert read_checkpoint(tmp_path) is None


def test_round_trip(tmp_path):
    ckpt = _checkpoint(tmp_path, 40)
    write_checkpoint(tmp_path, ckpt)
    back = read_checkpoint(tmp_path)
    assert (back.step, back.n_frames, back.restart_file) == (40, 4, "checkpoint_000000000040.restart")
    np.testing.assert_array_equal(back.positions, ckpt.positions)
    np.testing.assert_array_equal(back.velocities, ckpt.velocities)
    np.testing.assert_array_equal(back.image, ckpt.image)
    assert back.meta == ckpt.meta and back.restart_sha256 == file_sha256(tmp_path / ckpt.restart_file)
    assert not (tmp_path / (CHECKPOINT_FILE + ".tmp")).exists()


def test_a_new_checkpoint_removes_older_restart_files(tmp_path):
    write_checkpoint(tmp_path, _checkpoint(tmp_path, 20))
    write_checkpoint(tmp_path, _checkpoint(tmp_path, 40))
    assert sorted(p.name for p in tmp_path.glob("checkpoint_*.restart")) == [restart_name(40)]
    assert read_checkpoint(tmp_path).step == 40


def test_a_changed_restart_file_is_refused(tmp_path):
    ckpt = _checkpoint(tmp_path, 20)
    write_checkpoint(tmp_path, ckpt)
    (tmp_path / ckpt.restart_file).write_bytes(b"something else")
    with pytest.raises(MDError, match="does not match its sha256") as exc:
        read_checkpoint(tmp_path)
    assert exc.value.key == "restart_sha256"


def test_a_missing_restart_file_is_refused(tmp_path):
    ckpt = _checkpoint(tmp_path, 20)
    write_checkpoint(tmp_path, ckpt)
    (tmp_path / ckpt.restart_file).unlink()
    with pytest.raises(MDError, match="is missing"):
        read_checkpoint(tmp_path)


def test_a_file_of_another_format_is_refused(tmp_path):
    with h5py.File(tmp_path / CHECKPOINT_FILE, "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(MDError, match="not an lpsens-checkpoint file"):
        read_checkpoint(tmp_path)
