#!/usr/bin/env python
"""Check that the demo GAP keeps PS4 tetrahedra intact in NVT MD (ASE Langevin + quippy).

For each structure: Maxwell-Boltzmann velocities at the target temperature, Langevin NVT
(2 fs steps, friction 0.01 1/fs) for ``--ps`` ps; every 0.2 ps each P must have exactly 4 S
within 2.6 A (P-S bond 2.05 A). In P2S7 units the bridging S counts for both P, so the
criterion holds for Li7P3S11 and glasses too; a P-P bond (P2S6) is not a PS4 unit and is
reported separately.

Usage (one thread per run; both cores are shared)::

    OMP_NUM_THREADS=1 nice python potentials/check_demo_gap_stability.py [--structures beta_Li3PS4,Li7P3S11]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import ase.io  # noqa: E402
from ase import units  # noqa: E402
from ase.md.langevin import Langevin  # noqa: E402
from ase.constraints import FixCom  # noqa: E402
from ase.md.velocitydistribution import Stationary, thermalize_momenta  # noqa: E402
from ase.neighborlist import neighbor_list  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
XML = REPO / "src" / "lpsens" / "data" / "potentials" / "demo_gap.xml"
STRUCTURES = REPO / "src" / "lpsens" / "data" / "structures"
PS_BOND_CUTOFF_A = 2.6
CELLS = {
    "beta_Li3PS4": ("beta_Li3PS4_Pnma_relaxed-7net0_expcell.cif", (1, 1, 2)),
    "gamma_Li3PS4": ("gamma_Li3PS4_Pmn21_relaxed-7net0_expcell.cif", (1, 1, 2)),
    "Li7P3S11": ("Li7P3S11_P-1_relaxed-7net0_expcell.cif", (2, 1, 1)),
}


def build(name: str, seed: int, glass_min_atoms: int = 60) -> ase.Atoms:
    if name.startswith("glass"):
        from lpsens.structures import build_structure

        return build_structure("glass", float(name[len("glass"):]), seed, min_atoms=glass_min_atoms)
    cif, reps = CELLS[name]
    atoms = ase.io.read(STRUCTURES / cif) * reps
    atoms.pbc = True
    return atoms


def coordination(atoms: ase.Atoms) -> tuple[np.ndarray, int]:
    """S neighbours of each P within PS_BOND_CUTOFF_A, shape (n_P,), and the P-P bond count."""
    i, j = neighbor_list("ij", atoms, PS_BOND_CUTOFF_A)
    sym = np.array(atoms.get_chemical_symbols())
    p_index = np.flatnonzero(sym == "P")
    ps = (sym[i] == "P") & (sym[j] == "S")
    n_pp = int(np.count_nonzero((sym[i] == "P") & (sym[j] == "P")) // 2)
    return np.array([np.count_nonzero(i[ps] == p) for p in p_index]), n_pp


def run(name: str, calc, temperature_K: float, ps: float, seed: int, glass_min_atoms: int = 60) -> dict:
    atoms = build(name, seed, glass_min_atoms)
    atoms.calc = calc
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature_K=temperature_K, rng=rng)
    Stationary(atoms)
    atoms.set_constraint(FixCom())  # instead of Langevin's deprecated fixcm=True
    dyn = Langevin(atoms, timestep=2.0 * units.fs, temperature_K=temperature_K, friction=0.01 / units.fs,
                   fixcm=False, rng=rng)
    c0, pp0 = coordination(atoms)
    n_blocks = round(ps / 0.2)
    bad, temps, min_ps, frac_p4 = [], [], [], []
    t0 = time.perf_counter()
    for block in range(n_blocks):
        dyn.run(100)
        c, n_pp = coordination(atoms)
        frac_p4.append(float(np.mean(c == 4)))
        if np.any(c != c0) or n_pp != pp0:
            bad.append({"t_ps": round(0.2 * (block + 1), 1), "coordination": sorted(set(c.tolist())), "P-P": n_pp})
        temps.append(atoms.get_temperature())
        d = atoms.get_all_distances(mic=True)
        sym = np.array(atoms.get_chemical_symbols())
        min_ps.append(float(d[np.ix_(sym == "P", sym == "S")].min()))
    return {
        "structure": name,
        "atoms": len(atoms),
        "temperature_K": temperature_K,
        "length_ps": ps,
        "initial_PS_coordination": sorted(set(c0.tolist())),
        "initial_PP_bonds": pp0,
        "intact": not bad,
        "checks_all_intact_fraction": round(1.0 - len(bad) / n_blocks, 3),
        "mean_fraction_P_with_4S": round(float(np.mean(frac_p4)), 3),
        "changes": bad[:10],
        "mean_T_K": float(np.mean(temps[len(temps) // 10:])),
        "min_PS_distance_A": float(np.min(min_ps)),
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="PS4 stability of the demo GAP in ASE Langevin MD")
    p.add_argument("--xml", type=Path, default=XML)
    p.add_argument("--structures", default="beta_Li3PS4,Li7P3S11")
    p.add_argument("--temperature-K", type=float, default=800.0)
    p.add_argument("--ps", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=800)
    p.add_argument("--glass-min-atoms", type=int, default=60, help="min_atoms for glass structures")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    from quippy.potential import Potential

    calc = Potential(param_filename=str(args.xml.resolve()))
    results = []
    for name in args.structures.split(","):
        r = run(name, calc, args.temperature_K, args.ps, args.seed, args.glass_min_atoms)
        results.append(r)
        print(json.dumps(r), flush=True)
    if args.json is not None:
        tmp = args.json.with_name(f".{args.json.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(results, indent=2))
        os.replace(tmp, args.json)
    return 0 if all(r["intact"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
