"""Training-campaign fixtures: a tiny spec with the cheap Morse pair reference (no torch)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # pair_reference.py is imported by its import path, as a user's calculator would be
    sys.path.insert(0, str(HERE))
# ... and the launcher's worker processes must find it too, as a user's installed module would be
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)

DFT = Path(__file__).resolve().parents[1] / "data" / "dft_LiPS_heldout_frames.extxyz"

TINY_SPEC = """
[training]
name = "tiny"
seed = 3
max_generations = 1
holdout_fraction = 0.2

[configurations]
glass_x_mol_pct = [75]
glass_min_atoms = 48
crystals = ["gamma_Li3PS4"]
n_distorted = 1
rattle_A = [0.05]
compress_scale = [0.9]
md_temperatures_K = [600]
md_steps = 20
md_every = 10
scan_distances_A = [1.0, 1.4, 1.8, 2.4, 3.2]

[reference]
calculator = "{calculator}"
kwargs = {kwargs}

[fit]
n_sparse_2b = 10
n_sparse_3b = 20
config_type_sigma = {{dimer = [0.05, 0.5, 0.0, 0.0]}}
{fit_extra}

[iterate]
glass_x_mol_pct = [75]
min_atoms = 48
temperatures_K = [800]
md_steps = 40
md_every = 10
minimise_steps = 20

[gates]
heldout_dft = "{dft}"
heldout_dft_frames = [0, 3]
stability_materials = ["glass", "gamma_Li3PS4"]
stability_glass_x_mol_pct = [75]
stability_temperatures_K = [600]
stability_steps = 20
"""


@pytest.fixture
def tiny_spec(tmp_path):
    """``tiny_spec(calculator=..., kwargs=..., fit_extra=...)`` -> path of a spec file."""

    def make(calculator="pair_reference:MorsePairs", kwargs="{}", fit_extra="", name="spec.toml"):
        path = tmp_path / name
        path.write_text(TINY_SPEC.format(calculator=calculator, kwargs=kwargs, fit_extra=fit_extra, dft=DFT))
        return path

    return make


def subprocess_env() -> dict:
    import os

    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([src, str(HERE), os.environ.get("PYTHONPATH", "")])}
