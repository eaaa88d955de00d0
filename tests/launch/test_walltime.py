import pytest

from lpsens.errors import LaunchError
from lpsens.launch.walltime import allocation_end, parse_time_left, parse_walltime


@pytest.mark.parametrize("text, seconds", [
    # every form of sbatch(1) --time, read as SLURM reads it
    ("90", 90 * 60),                                   # minutes (not seconds)
    ("90:00", 90 * 60), ("0:30", 30),                  # minutes:seconds
    ("01:30:00", 5400), ("0:00:30", 30),               # hours:minutes:seconds
    ("2-03", 2 * 86400 + 3 * 3600), ("2-0", 2 * 86400),  # days-hours
    ("1-12:30", 86400 + 12 * 3600 + 30 * 60),          # days-hours:minutes (toil#5433)
    ("0-00:45", 45 * 60),
    ("1-12:30:15", 86400 + 12 * 3600 + 30 * 60 + 15),  # days-hours:minutes:seconds
    ("1-00:00:00", 86400),
    (5400, 5400), (12.5, 12.5),                        # Python numbers are seconds
])
def test_parse_walltime(text, seconds):
    assert parse_walltime(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "1:2:3:4", "-5", "0", "01:30:00x", "1.5", "1-2-3", "1-1:2:3:4"])
def test_parse_walltime_rejects(text):
    with pytest.raises(LaunchError, match="walltime"):
        parse_walltime(text)


def test_allocation_end_order():
    env = {"SLURM_JOB_END_TIME": "2000.0", "SLURM_JOB_ID": "1"}
    assert allocation_end("1:40", env=env, now=10.0) == pytest.approx(110.0)
    assert allocation_end(None, env=env, now=10.0) == pytest.approx(2000.0)
    assert allocation_end(None, env={}, now=10.0) is None
    with pytest.raises(LaunchError, match="SLURM_JOB_END_TIME"):
        allocation_end(None, env={"SLURM_JOB_END_TIME": "soon"})


@pytest.mark.parametrize("out, seconds", [
    ("UNLIMITED", None), ("NOT_SET", None), ("INVALID", None), ("", None),
    ("59:59", 3599), ("1:00:00", 3600), ("2-01:00:00", 2 * 86400 + 3600),
])
def test_parse_time_left_squeue_forms(out, seconds):
    assert parse_time_left(out) == (None if seconds is None else pytest.approx(seconds))


def test_parse_time_left_rejects_garbage():
    with pytest.raises(LaunchError, match="--walltime"):
        parse_time_left("soon")


def test_allocation_end_from_squeue(tmp_path):
    fake = tmp_path / "squeue"
    fake.write_text("#!/bin/sh\necho 1-02:03:04\n")
    fake.chmod(0o755)
    end = allocation_end(None, env={"SLURM_JOB_ID": "7"}, now=0.0, squeue=str(fake))
    assert end == pytest.approx(86400 + 2 * 3600 + 3 * 60 + 4)
    fake.write_text("#!/bin/sh\necho UNLIMITED\n")
    assert allocation_end(None, env={"SLURM_JOB_ID": "7"}, now=0.0, squeue=str(fake)) is None
