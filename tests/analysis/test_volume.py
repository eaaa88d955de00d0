import numpy as np
import pytest

from lpsens.analysis import AccessibleVolume, TrajectoryReader
from lpsens.analysis.synthetic import write_trajectory


def test_li_confined_to_half_the_cell(tmp_path):
    rng = np.random.default_rng(0)
    cell = np.diag([10.0, 10.0, 10.0])
    frac = rng.random((2000, 30, 3))
    frac[..., 0] *= 0.5  # Li only in 0 <= x < 5 A
    pos = frac @ cell + 10.0 * rng.integers(-1, 2, (2000, 30, 3))  # unwrapped images
    path = write_trajectory(tmp_path / "v.h5", pos, cell, np.full(30, 3))
    with TrajectoryReader(path) as rd:
        vol = AccessibleVolume(grid_spacing_A=0.5, smoothing_A=0.0, isovalue=0.1).compute(rd)
    assert vol.fraction == pytest.approx(0.5, abs=0.02)
    assert vol.volume_A3 == pytest.approx(500.0, abs=20)
    assert vol.grid_shape == (20, 20, 20)


def test_smoothing_keeps_mean_one(tmp_path):
    rng = np.random.default_rng(1)
    cell = np.diag([8.0, 9.0, 10.0])
    pos = rng.random((50, 10, 3)) @ cell
    path = write_trajectory(tmp_path / "v.h5", pos, cell, np.full(10, 3))
    with TrajectoryReader(path) as rd:
        vol = AccessibleVolume(smoothing_A=0.5).compute(rd)
    assert vol.relative_density.mean() == pytest.approx(1.0)
    assert 0 < vol.fraction <= 1
