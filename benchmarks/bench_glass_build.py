"""How long does a ~1,000-atom glass take to build? (target: < 30 s)

Builds xLi2S-(100-x)P2S5 glasses at x = 67, 70, 75 with min_atoms = 1000 for several seeds
and prints the wall time (best and median) per composition, the realised composition and the
anion counts; also times the alpha-Li3PS4 model and a beta-Li3PS4 supercell of similar size.

    python benchmarks/bench_glass_build.py [--seeds 3] [--min-atoms 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from lpsens.structures import build_structure  # noqa: E402


def _time(material, x, seeds, min_atoms):
    times, atoms = [], None
    for seed in seeds:
        t0 = time.perf_counter()
        atoms = build_structure(material, x, seed, min_atoms=min_atoms)
        times.append(time.perf_counter() - t0)
    return times, atoms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="replicas per composition")
    parser.add_argument("--min-atoms", type=int, default=1000)
    args = parser.parse_args()
    seeds = range(1, args.seeds + 1)
    build_structure("glass", 75.0, 0, min_atoms=100)  # imports and caches outside the timing
    for material, x in (("glass", 67.0), ("glass", 70.0), ("glass", 75.0),
                        ("alpha_Li3PS4", 75.0), ("beta_Li3PS4", 75.0)):
        times, atoms = _time(material, x, seeds, args.min_atoms)
        counts = {k: v for k, v in atoms.info["anion_counts"].items() if v}
        print(f"{material:13s} x={x:5.1f}: {len(atoms):5d} atoms, best {min(times):6.2f} s, "
              f"median {statistics.median(times):6.2f} s, max {max(times):6.2f} s "
              f"(n={len(times)}); x_realised={atoms.info['x_Li2S_mol_pct_realised']:.2f} {counts}")


if __name__ == "__main__":
    main()
