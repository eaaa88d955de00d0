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


_SIDE_BY_SIDE = """
import sys
from mpi4py import MPI
from ase import Atoms
from lpsens.potential import demo_uf3_path
from lpsens.structures import build_structure
from lpsens.train.exploration import uf3_md_frames

rank = MPI.COMM_WORLD.rank
# both ranks read both CIFs in the same order: with mpi4py loaded, ase.io reads collectively
cells = [build_structure(m, 75.0, 0, min_atoms=n) for m, n in (("gamma_Li3PS4", 48), ("beta_Li3PS4", 96))]
a = cells[rank]
a = Atoms(a.numbers, positions=a.positions, cell=a.cell, pbc=True)
frames, _ = uf3_md_frames(a, demo_uf3_path(), temperature_K=600.0, steps=(200, 300)[rank], every=50,
                          timestep_fs=2.0, seed=rank, run="r", minimise_steps=50)
print(f"rank {rank} atoms {len(frames[-1])} of {len(a)} frames {len(frames)}", flush=True)
"""


@pytest.mark.mpi
def test_uf3_md_in_two_ranks_side_by_side_is_two_serial_runs():
    """Training tasks in launcher ranks (``lpsens launch --in-process``) run one serial LAMMPS
    each: on COMM_WORLD the two ranks' different cells would be one simulation (lost atoms)."""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    mpiexec = Path(sys.executable).with_name("mpiexec")
    proc = subprocess.run([str(mpiexec), "-n", "2", sys.executable, "-c", _SIDE_BY_SIDE], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = {r: (int(n), int(of), int(f)) for r, n, of, f in re.findall(r"rank (\d) atoms (\d+) of (\d+) frames (\d+)", proc.stdout)}
    assert set(found) == {"0", "1"}, proc.stdout
    assert [found[r][2] for r in "01"] == [5, 7]  # each rank its own run length
    assert all(n == of for n, of, _ in found.values()) and found["0"][0] < found["1"][0]  # its own cell, whole
