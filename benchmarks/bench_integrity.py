"""Cost of the chemistry check at the segment boundary, relative to the MD that wrote the frame.

    OMP_NUM_THREADS=1 python benchmarks/bench_integrity.py [--rounds 4] [--steps-per-frame 50]

The MD task checks every frame written since the last segment boundary with
:func:`lpsens.chemistry.check_frame`. Per frame it pays one check; the MD paid
``steps-per-frame`` steps for it (default protocol: a frame every 100 fs at 2 fs = 50 steps).
For each cell (orthorhombic beta-Li3PS4: periodic k-d tree; triclinic Li7P3S11: k-d tree over
the 27 neighbouring images) the script interleaves, in short rounds, the MD of one frame (LAMMPS + demo GAP,
the task's engine) and the check of that frame, and reports the median of the per-round ratios.

Target (issue 14): check < 1 % of the MD time.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps-per-frame", type=int, default=50)
    parser.add_argument("--min-atoms", type=int, default=96)
    parser.add_argument("--checks", type=int, default=20, help="checks per round (their mean is one timing)")
    args = parser.parse_args()

    from mpi4py import MPI  # noqa: F401  -- before lammps

    from lpsens.chemistry import check_frame, unit_census
    from lpsens.md.engine import LammpsMD
    from lpsens.md.protocol import Thermostat
    from lpsens.potential import demo_potential_path, inspect_potential
    from lpsens.structures import build_structure

    info = inspect_potential(demo_potential_path())
    print(f"demo GAP ({info.label}); OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; {args.rounds} interleaved "
          f"rounds; one frame = {args.steps_per_frame} MD steps; medians of per-round ratios")
    worst = 0.0
    for material, x in (("beta_Li3PS4", 75.0), ("Li7P3S11", 70.0)):
        atoms = build_structure(material, x, 0, min_atoms=args.min_atoms)
        cell = atoms.cell[:]
        ortho = np.allclose(cell, np.diag(np.diag(cell)))
        md = LammpsMD(atoms, info, timestep_fs=2.0)
        md.create_velocities(600.0, 1)
        md.set_thermostat(Thermostat.NOSE_HOOVER, 600.0, 100.0)
        md.run(0)
        t_md, t_check, t_census = [], [], []
        for _ in range(args.rounds):
            t = time.perf_counter()
            md.run(args.steps_per_frame)
            t_md.append(time.perf_counter() - t)
            pos = md.positions_unwrapped()
            t = time.perf_counter()
            for _ in range(args.checks):
                found = check_frame(atoms.numbers, pos, cell)
            t_check.append((time.perf_counter() - t) / args.checks)
            t = time.perf_counter()
            for _ in range(args.checks):
                unit_census(atoms.numbers, pos, cell)
            t_census.append((time.perf_counter() - t) / args.checks)
        backend = md.backend.value
        md.close()
        t_md, t_check, t_census = map(np.array, (t_md, t_check, t_census))
        ratio = float(np.median(t_check / t_md))
        worst = max(worst, ratio)
        print(f"{material}: {len(atoms)} atoms, {'orthorhombic (periodic k-d tree)' if ortho else 'triclinic (k-d tree over 27 images)'}, "
              f"backend {backend}; last frame {'intact' if not found else 'BROKEN: ' + found[0].message}")
        print(f"  MD of one frame        {np.median(t_md) * 1e3:9.1f} ms  ({np.median(t_md) / args.steps_per_frame * 1e3:.1f}"
              " ms/step)")
        print(f"  check_frame            {np.median(t_check) * 1e3:9.3f} ms  = {100 * ratio:.4f} % of the MD")
        print(f"  unit_census (analysis) {np.median(t_census) * 1e3:9.3f} ms")
    print(f"load average at end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"target (check < 1 % of the MD time): {'met' if worst < 0.01 else 'NOT met'} (worst {100 * worst:.4f} %)")


if __name__ == "__main__":
    main()
