"""Shared fixtures: small campaign specs and temporary projects."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lpsens_testing import MINI_SPEC

# One thread per process: the CI machine has 2 cores and MPI tests use both.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def mini_spec(tmp_path) -> Path:
    path = tmp_path / "mini.toml"
    path.write_text(MINI_SPEC)
    return path
