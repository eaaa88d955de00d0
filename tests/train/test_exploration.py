"""MD with a candidate through its compiled uf3 twin (LAMMPS pair_style uf3): the shipped demo GAP."""

import numpy as np
import pytest
from ase import Atoms

from lpsens.chemistry import check_frame
from lpsens.potential import demo_uf3_path
from lpsens.structures import build_structure
from lpsens.train.exploration import uf3_md_frames


@pytest.fixture(scope="module")
def gamma():
    a = build_structure("gamma_Li3PS4", 75.0, 0, min_atoms=48)
    return Atoms(a.numbers, positions=a.positions, cell=a.cell, pbc=True)


def test_uf3_md_minimises_then_samples_frames_at_temperature(gamma):
    frames, rec = uf3_md_frames(gamma, demo_uf3_path(), temperature_K=600.0, steps=400, every=50, timestep_fs=2.0,
                                seed=3, run="t", minimise_steps=200)
    assert rec["energy_min_eV"] < rec["energy_start_eV"]  # the minimisation ran with this potential
    assert [f.info["md_step"] for f in frames] == list(range(0, 401, 50))
    assert all(np.isfinite(f.positions).all() and (f.get_scaled_positions() < 1).all() for f in frames)
    temps = [f.info["temperature_K"] for f in frames[1:]]
    assert 300 < np.mean(temps) < 900
    # frame energies include the sidecar's e0: about the GAP's energy per atom, not the bare splines'
    assert frames[1].info["energy_per_atom_eV"] < -1.0
    assert not check_frame(frames[0].numbers, frames[0].positions, frames[0].cell.array)


def test_uf3_md_stops_at_the_first_broken_frame(gamma):
    fused = gamma.copy()
    s = np.flatnonzero(fused.numbers == 16)
    far = s[np.argmax(fused.get_distances(s[0], s, mic=True))]
    fused.positions[far] = fused.positions[s[0]] + [1.0, 0, 0]  # two S 1 Å apart: broken before any step
    frames, _ = uf3_md_frames(fused, demo_uf3_path(), temperature_K=300.0, steps=400, every=50, timestep_fs=1.0,
                              seed=3, run="t", minimise_steps=0, stop_on_broken=True)
    assert len(frames) == 2  # the start, then the first checked frame, still broken
    assert check_frame(frames[-1].numbers, frames[-1].positions, frames[-1].cell.array)
