#!/usr/bin/env python
"""gap_fit with and without ``[fit] scan_force_radius_A``: time, memory and accuracy side by side.

The training set is a generation's worth of scan frames beside bulk frames, as a campaign's
later generations have: 150-atom glasses (x = 67, 70, 75) and gamma-Li3PS4, rattled copies,
and fifth-S + bond-stretch scans cut from them. The reference is the bundled demo GAP's
compiled twin (LAMMPS uf3: milliseconds per frame, any smooth potential will do for a timing).
Both fits use the descriptors and sigmas of ``signac_project/train_demo.toml`` and the same
frames; one fits every force, one masks the forces of scan frames beyond the radius. Each fit
runs in its own process (wall time and that process's peak RSS); then both GAPs are evaluated
on held-out scan and rattled frames labelled the same way. ``--train FILE`` fits a campaign's
own training file (``ROOT/workspace/<fit job>/train.extxyz``) instead.

Usage::

    python benchmarks/bench_gap_fit_mask.py [--radius 4.0] [--train FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

ROOT = Path(__file__).resolve().parents[1]


def _label(frames: list[Atoms]) -> list[Atoms]:
    from lpsens.potential.compile import uf3_energy_forces
    from lpsens.potential.gap import demo_uf3_path

    out = []
    for a, (energy, forces) in zip(frames, uf3_energy_forces(demo_uf3_path(), frames), strict=True):
        b = Atoms(a.numbers, positions=a.positions, cell=a.cell, pbc=True)
        b.info.update(a.info)
        b.calc = SinglePointCalculator(b, energy=energy, forces=forces)
        out.append(b)
    return out


def _frames(seed: int) -> tuple[list[Atoms], list[Atoms]]:
    from lpsens.structures import build_structure
    from lpsens.train.configurations import coordination_scan, distorted, stretch_scan

    rng = np.random.default_rng(seed)
    bases = [build_structure("glass", x, seed, min_atoms=150) for x in (67.0, 70.0, 75.0)]
    bases.append(build_structure("gamma_Li3PS4", 75.0, 0, min_atoms=150))
    train, held = [], []
    for b, base in enumerate(bases):
        for k in range(6):
            a = distorted(base, rng, 0.02, 0.08)
            a.info.update(config_type="md", config_name=f"rattle/{b}/{k}")
            (held if k == 5 else train).append(a)
        for k in range(3):
            start = distorted(base, rng, 0.0, 0.05)
            scans = coordination_scan(start, rng, (2.3, 2.5, 2.7), 2) + stretch_scan(start, rng, (2.7, 3.0), 2)
            for name, a in scans:
                a.info.update(config_type="coordination_scan", config_name=f"coordination_scan/{b}/{k}/{name}")
                (held if k == 2 else train).append(a)
    return _label(train), _label(held)


def _fit(train: list[Atoms], radius_A: float, work: Path, e0: dict) -> tuple[Path, float, float, int]:
    from lpsens.train import fit
    from lpsens.train.labelling import write_frames
    from lpsens.train.spec import load_training_spec

    spec = load_training_spec(ROOT / "signac_project" / "train_demo.toml").fit
    frames = fit.training_file_frames(train, False, radius_A)
    n_forces = sum(len(a) - int(a.arrays.get("force_mask", np.zeros(len(a), bool)).sum()) for a in frames)
    folder = work / f"r{radius_A:g}"
    folder.mkdir()
    write_frames(folder / "train.extxyz", frames)
    gp = folder / "gap.xml"
    cmd = fit.gap_fit_command(spec, e0, folder / "train.extxyz", gp, None, 1)
    # one process per fit: its own peak RSS (RUSAGE_CHILDREN of a fresh interpreter)
    probe = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
             "stderr=subprocess.DEVNULL).returncode; print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
             "sys.exit(rc)")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", probe, *cmd], cwd=folder, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    return gp, wall, int(out.stdout.split()[-1]) / 1024.0, n_forces


def _errors(gp: Path, frames: list[Atoms]) -> dict:
    from quippy.potential import Potential

    pot = Potential(param_filename=str(gp))
    out = {}
    for kind in sorted({a.info["config_type"] for a in frames}):
        de, df = [], []
        for a in (f for f in frames if f.info["config_type"] == kind):
            b = a.copy()
            b.calc = pot
            de.append((b.get_potential_energy() - a.get_potential_energy()) / len(a))
            df.append(b.get_forces() - a.get_forces())
        out[kind] = {"energy_rmse_meV_atom": float(1000 * np.sqrt(np.mean(np.square(de)))),
                     "force_rmse_eV_A": float(np.sqrt(np.mean(np.concatenate(df) ** 2)))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--radius", type=float, default=4.0, help="scan_force_radius_A of the masked fit (Å)")
    ap.add_argument("--train", type=Path, help="a campaign's train.extxyz instead of the built set")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--keep", type=Path, help="keep the training files and GAPs in this (new) folder")
    args = ap.parse_args()
    if args.train:
        train, held = ase.io.read(args.train, ":"), []
        # the e0 the campaign's fit used, from its job document beside the file
        e0 = json.loads((args.train.parent / "signac_job_document.json").read_text())["e0_eV"]
    else:
        train, held = _frames(args.seed)
        # e0: least squares over the frames' compositions (minimum norm: Li2S-P2S5 mixtures span 2 of 3)
        counts = np.array([[np.sum(a.numbers == z) for z in (3, 15, 16)] for a in train], float)
        e = np.linalg.lstsq(counts, [a.get_potential_energy() for a in train], rcond=None)[0]
        e0 = dict(zip(("Li", "P", "S"), e.tolist(), strict=True))
    kinds = {k: sum(a.info["config_type"] == k for a in train) for k in sorted({a.info["config_type"] for a in train})}
    print(f"training frames: {len(train)} ({kinds}), atoms {sum(len(a) for a in train)}; held out {len(held)}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) if args.keep is None else args.keep
        work.mkdir(exist_ok=True)
        if args.keep and held:
            ase.io.write(work / "heldout.extxyz", held)
        for radius in (0.0, args.radius):
            gp, wall, rss_MB, n_forces = _fit(train, radius, work, e0)
            results[radius] = {"wall_s": wall, "peak_rss_MB": rss_MB, "force_rows": 3 * n_forces,
                               "heldout": _errors(gp, held) if held else {}}
            print(f"scan_force_radius_A = {radius:g}: gap_fit {wall:.1f} s, peak RSS {rss_MB:.0f} MB, "
                  f"{3 * n_forces} force components; held out: {json.dumps(results[radius]['heldout'])}")
    a, b = results[0.0], results[args.radius]
    print(f"ratio (all forces / masked): time {a['wall_s'] / b['wall_s']:.2f}, memory "
          f"{a['peak_rss_MB'] / b['peak_rss_MB']:.2f}, force components {a['force_rows'] / b['force_rows']:.2f}")


if __name__ == "__main__":
    main()
