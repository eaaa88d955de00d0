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


def test_uf3_md_keeps_the_path_into_the_first_break_without_changing_the_run(gamma, tmp_path):
    """path_every: the frames every path_every steps of the segment that ends at the first broken
    frame, up to the first broken one, come before it; the run itself is the same (the toy
    potential has no P-S bond, so the crystal falls apart within a few hundred steps)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from uf3_toy import write_toy_uf3

    toy = write_toy_uf3(tmp_path / "toy.uf3", "0" * 64)
    md = dict(temperature_K=300.0, steps=2000, every=50, timestep_fs=2.0, seed=3, run="t", minimise_steps=0,
              stop_on_broken=True)
    plain, _ = uf3_md_frames(gamma, toy, **md)
    with_path, _ = uf3_md_frames(gamma, toy, path_every=10, **md)
    path = [f for f in with_path if f.info.get("path")]
    main = [f for f in with_path if not f.info.get("path")]
    assert [f.info["md_step"] for f in main] == [f.info["md_step"] for f in plain]
    for a, b in zip(main, plain, strict=True):
        np.testing.assert_array_equal(a.positions, b.positions)
    broken = [bool(check_frame(f.numbers, f.positions, f.cell.array)) for f in with_path]
    last, first_bad = main[-2].info["md_step"], main[-1].info["md_step"]
    assert broken[-1] and not any(broken[:len(main) - 2]) and len(main) >= 3  # intact, then broken mid-run
    assert path and with_path[-1 - len(path):-1] == path  # just before the broken frame
    steps = [f.info["md_step"] for f in path]
    assert steps == list(range(last + 10, last + 10 * len(path) + 1, 10)) and steps[-1] < first_bad
    assert not any(broken[-1 - len(path):-2])  # the path stops at its first broken frame
    assert len(path) == 4 or broken[-2]
    intact, _ = uf3_md_frames(gamma, toy, **{**md, "steps": 50}, path_every=10)  # no break: no path
    assert [f.info["md_step"] for f in intact] == [0, 50] and not any(f.info.get("path") for f in intact)


def test_atoms_lammps_loses_end_the_run_as_broken_not_as_a_crash(gamma, tmp_path):
    """A potential whose contacts fling atoms out of the box (a steep toy repulsion, two S at
    1.2 Å): LAMMPS loses atoms; the run ends with the frames before, the last one carrying the
    reason, which the selection, the explorations' verdict and the gates report as broken."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from uf3_toy import write_toy_uf3

    from lpsens.train.selection import frame_failures
    from lpsens.train.tasks import first_broken

    steep = write_toy_uf3(tmp_path / "steep.uf3", "0" * 64, amplitude_eV=100.0)
    s = np.flatnonzero(gamma.numbers == 16)
    contact = gamma.copy()
    contact.positions[s[1]] = contact.positions[s[0]] + [1.2, 0.0, 0.0]
    for stop in (False, True):
        frames, _ = uf3_md_frames(contact, steep, temperature_K=300.0, steps=200, every=50, timestep_fs=2.0, seed=3,
                                  run="t", minimise_steps=0, stop_on_broken=stop, path_every=10 if stop else 0)
        assert [f.info["md_step"] for f in frames] == [0] and not any(f.info.get("path") for f in frames)
        assert "lost atoms within 50 steps after step 0" in frames[-1].info["lost_atoms"]
        assert any("lost atoms" in r for r in frame_failures(frames[-1]))
        assert first_broken(frames, 2.0)["md_step"] == 0
    assert first_broken([gamma], 2.0) is None and not frame_failures(gamma)
    lost = gamma.copy()
    lost.info.update(md_step=50, lost_atoms=frames[-1].info["lost_atoms"])  # an intact frame before the loss
    assert first_broken([gamma, lost], 2.0) == {"md_step": 50, "time_ps": 0.1, "reason": frames[-1].info["lost_atoms"]}


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
