"""Fixtures for the analysis tests: synthetic trajectories in the documented format."""

from __future__ import annotations

import pytest

from lpsens.analysis.synthetic import write_random_walk


@pytest.fixture
def walkers(tmp_path):
    """64 random walkers, D = 0.5 A^2/ps, 8000 frames of 0.1 ps, with a 40-atom P/S framework."""
    return write_random_walk(tmp_path / "trajectory.h5")
