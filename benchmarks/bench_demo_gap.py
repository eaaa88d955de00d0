#!/usr/bin/env python
"""Benchmark the bundled demo GAP: ms per force call (one thread) and accuracy.

Prints
- ms per force call (median of ``--calls`` calls) on a 96-atom beta-Li3PS4 cell
  (the package CIF repeated 1x1x3, rattled by 0.05 A), with ``OMP_NUM_THREADS=1``;
- force RMSE (eV/A) and energy RMSE (meV/atom, after removing a constant per-atom
  offset) on held-out PBE AIMD frames of Li6.75P3S11 (Batzner et al., Nat. Commun. 13,
  2453 (2022), Materials Cloud archive 2022.45, CC BY 4.0): by default the 50 frames
  150-199 from ``../shared/data/dft`` if present, else the small copy in ``tests/data``;
- the same on held-out SevenNet-0 reference configurations (``--reference``, default
  ``tests/data/demo_gap_heldout_reference.extxyz``).

Usage::

    /work/venv/bin/python benchmarks/bench_demo_gap.py [--xml FILE] [--json OUT]
"""

from __future__ import annotations

import os

# One thread unless asked otherwise: must be set before quippy's OpenMP runtime starts.
os.environ["OMP_NUM_THREADS"] = os.environ.get("BENCH_OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402

import ase.io  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PACKAGE_XML = REPO / "src" / "lpsens" / "data" / "potentials" / "demo_gap.xml"
SHARED_DFT = REPO.parent / "shared" / "data" / "dft" / "LiPS_Li6.75P3S11_PBE_AIMD_200frames.extxyz"
TESTDATA_DFT = REPO / "tests" / "data" / "dft_LiPS_heldout_frames.extxyz"
TESTDATA_REF = REPO / "tests" / "data" / "demo_gap_heldout_reference.extxyz"
BETA_CIF = REPO / "src" / "lpsens" / "data" / "structures" / "beta_Li3PS4_Pnma_relaxed-7net0_expcell.cif"
DFT_HELDOUT = slice(150, 200)


def load_dft(path: Path | None) -> tuple[list, str]:
    if path is not None:
        return ase.io.read(path, ":"), str(path)
    if SHARED_DFT.is_file():
        return ase.io.read(SHARED_DFT, ":")[DFT_HELDOUT], f"{SHARED_DFT.name} frames 150-199"
    return ase.io.read(TESTDATA_DFT, ":"), str(TESTDATA_DFT.relative_to(REPO))


def errors(frames: list, calc) -> dict:
    """Force and energy errors of ``calc`` against the frames' stored reference values."""
    f_ref, f_gap, de = [], [], []
    for a in frames:
        ref_f, ref_e = a.get_forces().copy(), a.get_potential_energy()
        b = a.copy()
        b.calc = calc
        f_ref.append(ref_f.ravel())
        f_gap.append(b.get_forces().ravel())
        de.append((b.get_potential_energy() - ref_e) / len(a))
    f_ref, f_gap, de = np.concatenate(f_ref), np.concatenate(f_gap), np.array(de)
    return {
        "n_frames": len(frames),
        "force_rmse_eV_A": float(np.sqrt(np.mean((f_gap - f_ref) ** 2))),
        "force_ref_rms_eV_A": float(np.sqrt(np.mean(f_ref**2))),
        "energy_rmse_meV_atom": float(1000 * np.std(de)),
        "energy_offset_meV_atom": float(1000 * np.mean(de)),
        "_ref": f_ref,
        "_gap": f_gap,
    }


def ms_per_force_call(calc, calls: int) -> tuple[float, int]:
    atoms = ase.io.read(BETA_CIF) * (1, 1, 3)
    atoms.rattle(0.05, seed=1)
    atoms.calc = calc
    atoms.get_forces()  # warm-up
    times = []
    for i in range(calls):
        atoms.positions[i % len(atoms), 0] += 1e-4  # new geometry: no cached result
        t0 = time.perf_counter()
        atoms.get_forces()
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times)), len(atoms)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="ms per force call and RMSE of the demo GAP")
    p.add_argument("--xml", type=Path, default=PACKAGE_XML, help="GAP XML (default: the package's demo_gap.xml)")
    p.add_argument("--dft", type=Path, default=None, help="held-out DFT frames (extxyz)")
    p.add_argument("--reference", type=Path, default=TESTDATA_REF, help="held-out reference frames (extxyz)")
    p.add_argument("--calls", type=int, default=20, help="timed force calls (default %(default)s)")
    p.add_argument("--json", type=Path, default=None, help="write the figures to this JSON file")
    p.add_argument("--parity-npz", type=Path, default=None, help="write reference/GAP force components here")
    args = p.parse_args(argv)

    from quippy.potential import Potential

    xml = args.xml.resolve()
    if not xml.is_file():
        raise SystemExit(f"Error: {xml} not found")
    calc = Potential(param_filename=str(xml))
    ms, n_atoms = ms_per_force_call(calc, args.calls)
    dft_frames, dft_source = load_dft(args.dft)
    dft = errors(dft_frames, calc)
    ref = errors(ase.io.read(args.reference, ":"), calc)

    print(f"demo GAP benchmark: {xml.name} (quippy-ase {metadata.version('quippy-ase')}, "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, {platform.processor() or platform.machine()})")
    print(f"  force call, {n_atoms}-atom beta-Li3PS4: {ms:.1f} ms (median of {args.calls})")
    print(f"  held-out DFT ({dft_source}, {dft['n_frames']} frames): force RMSE {dft['force_rmse_eV_A']:.3f} eV/A "
          f"(ref rms {dft['force_ref_rms_eV_A']:.2f}), energy RMSE {dft['energy_rmse_meV_atom']:.1f} meV/atom "
          f"(offset {dft['energy_offset_meV_atom']:+.1f} meV/atom removed)")
    print(f"  held-out reference ({args.reference.name}, {ref['n_frames']} frames): force RMSE "
          f"{ref['force_rmse_eV_A']:.3f} eV/A (ref rms {ref['force_ref_rms_eV_A']:.2f}), energy RMSE "
          f"{ref['energy_rmse_meV_atom']:.1f} meV/atom (offset {ref['energy_offset_meV_atom']:+.1f} meV/atom removed)")

    result = {"ms_per_force_call": ms, "timing_atoms": n_atoms,
              "omp_num_threads": int(os.environ["OMP_NUM_THREADS"])}
    for key, e in (("dft", dft), ("reference", ref)):
        for k, v in e.items():
            if not k.startswith("_"):
                result[f"{key}_{k}"] = v
    if args.json is not None:
        tmp = args.json.with_name(f".{args.json.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(result, indent=2))
        os.replace(tmp, args.json)
    if args.parity_npz is not None:
        tmp = args.parity_npz.with_name(f".{args.parity_npz.stem}.tmp{os.getpid()}.npz")
        np.savez_compressed(tmp, dft_ref_forces=dft["_ref"], dft_gap_forces=dft["_gap"],
                            reference_ref_forces=ref["_ref"], reference_gap_forces=ref["_gap"])
        os.replace(tmp, args.parity_npz)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
