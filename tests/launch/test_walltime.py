import pytest

from lpsens.errors import LaunchError
from lpsens.launch.walltime import allocation_end, parse_walltime


@pytest.mark.parametrize("text, seconds", [
    ("5400", 5400), (5400, 5400), ("01:30:00", 5400), ("90:00", 5400), ("1-00:00:00", 86400),
    ("2-03", 2 * 86400 + 3 * 3600), ("0:00:30", 30), (12.5, 12.5),
])
def test_parse_walltime(text, seconds):
    assert parse_walltime(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "1:2:3:4", "-5", "0", "01:30:00x"])
def test_parse_walltime_rejects(text):
    with pytest.raises(LaunchError, match="walltime"):
        parse_walltime(text)


def test_allocation_end_order():
    env = {"SLURM_JOB_END_TIME": "2000.0", "SLURM_JOB_ID": "1"}
    assert allocation_end("100", env=env, now=10.0) == pytest.approx(110.0)
    assert allocation_end(None, env=env, now=10.0) == pytest.approx(2000.0)
    assert allocation_end(None, env={}, now=10.0) is None
    with pytest.raises(LaunchError, match="SLURM_JOB_END_TIME"):
        allocation_end(None, env={"SLURM_JOB_END_TIME": "soon"})
