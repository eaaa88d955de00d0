#!/usr/bin/env python
"""Compiling a GAP with a core: the core's dimers evaluated one quippy call each vs in batches.

``lpsens potential compile`` tabulates a GAP's core (pair repulsion + Stillinger-Weber angle
terms) from quippy dimer energies. This runs ``compile_gap`` twice on the same file, once with
the per-dimer evaluation it had before (one ``Atoms`` and one quippy call per distance, patched
in here) and once as shipped (batches of dimers side by side, local energies), and prints
both times (wall and this process's CPU time: quippy and LAMMPS run in it, so the CPU ratio
holds on a shared machine), the ratios, and the largest difference between the two compiled
files' numbers.

Needs a GAP XML with a core, e.g. a training campaign's ``ROOT/workspace/<fit job>/gap.xml``
(``train_demo.toml``: contact core + tetrahedral prior).

Usage::

    python benchmarks/bench_compile_core.py GAP_XML [--tolerance 0.02]
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from ase import Atoms  # noqa: E402


def _per_dimer(core_pot, a, b, r):
    out = []
    for d in np.atleast_1d(r):
        atoms = Atoms([a, b], positions=[[0, 0, 0], [d, 0, 0]], cell=np.eye(3) * 60.0, pbc=False)
        atoms.calc = core_pot
        out.append(atoms.get_potential_energy())
    return np.array(out)


def main() -> None:
    import lpsens.potential.compile as compile_module

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("gap", type=Path)
    ap.add_argument("--tolerance", type=float, default=0.02, help="force RMS tolerance, eV/Å (train_demo: 0.02)")
    args = ap.parse_args()
    batched = compile_module._core_pair_energy
    times, files = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, impl in (("per-dimer", _per_dimer), ("batched", batched)):
            compile_module._core_pair_energy = impl
            files[name] = Path(tmp) / f"{name}.uf3"
            t0, c0 = time.perf_counter(), time.process_time()
            result = compile_module.compile_gap(args.gap, files[name], tolerance_eV_A=args.tolerance)
            times[name] = (time.perf_counter() - t0, time.process_time() - c0)
            print(f"{name:>9}: compile wall {times[name][0]:.1f} s, CPU {times[name][1]:.1f} s, "
                  f"force RMS {result.fidelity['force_rms_eV_A']:.4f} eV/Å")
        compile_module._core_pair_energy = batched
        numbers = [np.array([float(x) for x in re.findall(r"-?\d+\.\d*(?:[eE][-+]?\d+)?", f.read_text())])
                   for f in files.values()]
    a, b = numbers
    diff = float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-6))) if a.shape == b.shape else float("nan")
    print(f"ratio per-dimer / batched: wall {times['per-dimer'][0] / times['batched'][0]:.2f}, "
          f"CPU {times['per-dimer'][1] / times['batched'][1]:.2f}; {len(a)} numbers in each file, "
          f"largest relative difference {diff:.1e}")


if __name__ == "__main__":
    main()
