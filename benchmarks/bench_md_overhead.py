"""Per-step cost of GAP MD through LAMMPS (fix external + quippy) and through ASE, relative to a
bare quippy force call on the same ~100-atom cell.

    OMP_NUM_THREADS=1 python benchmarks/bench_md_overhead.py [--chunk 50] [--rounds 6]

Timings interleaved in short rounds (medians of per-round ratios reported) to soften noise from
other processes on the machine:

* bare: ``quippy`` ``Potential.calc`` (energy + forces) on a pre-converted quippy Atoms object
  whose positions change every call (the floor any MD driver has to pay), and the same call
  through quippy's ASE calculator interface (``atoms.get_forces()``),
* LAMMPS: :class:`lpsens.md.engine.LammpsMD` with Nose-Hoover NVT, run in chunks of the
  sampling interval (virial/pressure only at chunk ends, as the MD task does),
* ASE: ``ase.md.verlet.VelocityVerlet`` driving quippy's ASE calculator.

Target (issue 4): LAMMPS per-step time <= 1.10 x bare call, and not slower than ASE.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=50, help="calls/steps per timing (default 50 = one sampling interval)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--material", default="beta_Li3PS4")
    parser.add_argument("--min-atoms", type=int, default=96)
    args = parser.parse_args()

    import quippy.convert
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from lpsens.md.engine import LammpsMD
    from lpsens.md.protocol import Thermostat
    from lpsens.potential import demo_potential_path, inspect_potential, load_calculator
    from lpsens.structures import build_structure

    x = {"Li7P3S11": 70.0}.get(args.material, 75.0)
    atoms = build_structure(args.material, x, 0, min_atoms=args.min_atoms)
    info = inspect_potential(demo_potential_path())
    pot = load_calculator(info)
    n = len(atoms)
    rng = np.random.default_rng(0)

    qat = quippy.convert.ase_to_quip(atoms)
    qpos = qat.pos
    qforce = np.zeros((3, n), order="F")
    qenergy = np.zeros(())
    base = atoms.positions.T.copy()

    def bare(k):
        t = time.perf_counter()
        for _ in range(k):
            qpos[:] = base + rng.normal(0, 0.01, base.shape)
            pot._quip_potential.calc(qat, energy=qenergy, force=qforce)
        return (time.perf_counter() - t) / k

    a_bare = atoms.copy()
    a_bare.calc = pot

    def bare_ase(k):
        t = time.perf_counter()
        for _ in range(k):
            a_bare.positions = base.T + rng.normal(0, 0.01, base.T.shape)
            a_bare.get_forces()
        return (time.perf_counter() - t) / k

    md = LammpsMD(atoms, info, timestep_fs=2.0)
    md.create_velocities(600.0, 1)
    md.set_thermostat(Thermostat.NOSE_HOOVER, 600.0, 100.0)
    md.run(0)
    calls0 = md.forces.n_calls

    def lammps_md(k):
        t = time.perf_counter()
        md.run(k)  # the MD task runs chunks of one sampling interval (50 steps by default)
        return (time.perf_counter() - t) / k

    a_md = atoms.copy()
    a_md.calc = pot
    masses = a_md.get_masses()[:, None]
    a_md.set_momenta(np.sqrt(masses * units.kB * 600.0) * np.random.default_rng(1).normal(size=(n, 3)))
    dyn = VelocityVerlet(a_md, timestep=2.0 * units.fs)
    dyn.run(1)

    def ase_md(k):
        t = time.perf_counter()
        dyn.run(k)
        return (time.perf_counter() - t) / k

    # Short interleaved rounds: the machine is shared, so each round's ratios compare
    # timings taken within seconds of each other; medians over rounds are reported.
    rows = {"bare": [], "bare_ase": [], "lammps": [], "ase": []}
    k = args.chunk
    for _ in range(args.rounds):
        rows["bare"].append(bare(k))
        rows["lammps"].append(lammps_md(k))
        rows["bare_ase"].append(bare_ase(k))
        rows["ase"].append(ase_md(k))
    calls = md.forces.n_calls - calls0
    md.close()
    r = {key: np.array(v) for key, v in rows.items()}
    med = {key: float(np.median(v)) for key, v in r.items()}
    ratio = {
        "bare_ase": float(np.median(r["bare_ase"] / r["bare"])),
        "lammps": float(np.median(r["lammps"] / r["bare"])),
        "ase": float(np.median(r["ase"] / r["bare"])),
        "lammps_ase": float(np.median(r["lammps"] / r["ase"])),
    }
    print(f"cell: {args.material}, {n} atoms; demo GAP ({info.label}); OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; "
          f"{args.rounds} interleaved rounds of {k} calls/steps (medians; ratios are medians of per-round ratios)")
    print(f"load average at end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"bare quippy calc (E+F, in-place Atoms)   {med['bare'] * 1e3:8.2f} ms/call")
    print(f"quippy ASE calculator get_forces()       {med['bare_ase'] * 1e3:8.2f} ms/call  ({ratio['bare_ase']:.3f} x bare)")
    print(f"LAMMPS fix external + quippy, NVT        {med['lammps'] * 1e3:8.2f} ms/step  ({ratio['lammps']:.3f} x bare)"
          f"  [{calls} GAP calls for {args.rounds * k} steps]")
    print(f"ASE VelocityVerlet + quippy calculator   {med['ase'] * 1e3:8.2f} ms/step  ({ratio['ase']:.3f} x bare)")
    print(f"LAMMPS / ASE per-step time: {ratio['lammps_ase']:.3f}")
    ok = ratio["lammps"] <= 1.10 and ratio["lammps_ase"] <= 1.0
    print(f"target (LAMMPS <= 1.10 x bare and <= ASE): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
