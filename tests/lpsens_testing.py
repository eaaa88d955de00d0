"""Helpers shared by the test modules (imported as ``lpsens_testing``; a unique name, unlike conftest)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MINI_SPEC = """
[campaign]
name = "mini"
seed = 7
replicas = 2

[system]
min_atoms = 16

[potential]
bundled = "demo"

[protocol]
timestep_fs = 2.0
equilibration_ps = 0.1
production_ps = 0.4
sampling_interval_fs = 20.0
segment_ps = 0.2

[[material]]
name = "gamma_Li3PS4"
temperatures_K = [600, 700]

[[material]]
name = "glass"
x_Li2S_mol_pct = 75
temperatures_K = [600]
constraints = ["none", "frozen_S"]
"""


def run_cli(*args, cwd=None, check=False, timeout=600) -> subprocess.CompletedProcess:
    """Run ``python -m lpsens ARGS`` as a user would, capturing stdout and stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "lpsens", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"lpsens {args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc
