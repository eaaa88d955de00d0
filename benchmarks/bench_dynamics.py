"""Dynamics beyond tracer Nernst-Einstein (issue 13) on 200 Li x 100,000 frames: time and memory, next to kinisi.

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_dynamics.py [--frames 100000] [--li 200] [--anions 27]
       [--no-kinisi] [--kinisi-frames 20000]

Writes a synthetic trajectory in the documented format (Li hopping on a lattice at 0.2/ps plus rigid
PS4 tetrahedra under rotational diffusion and 180-degree flips at 0.02/ps) to a temporary directory,
in 10,000-frame segments (tetrahedron orientations restart at each segment: a few extra re-orientations,
irrelevant to the timing). Then times the production classes on it: tracer MSD + D (needed for the
Haven ratio), collective MSD + sigma + Haven ratio, anion rotations (C1, tau1, re-orientations),
Li jumps, the paddle-wheel coincidences and a broken-Arrhenius fit of a 13-point series, with the
tracemalloc peak of the whole analysis. kinisi's ConductivityAnalyzer runs on the first
``--kinisi-frames`` frames (it holds the run in memory), in a child process, next to lpsens's
collective estimate on the same frames.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from lpsens.analysis import MSD, Diffusion, TrajectoryReader
from lpsens.analysis.arrhenius import K_B_EV
from lpsens.analysis.collective import CollectiveConductivity, CollectiveMSD, haven_ratio
from lpsens.analysis.jumps import LiJumps, Paddlewheel
from lpsens.analysis.rotations import AnionRotations
from lpsens.analysis.synthetic import SyntheticTrajectory, tetrahedra_positions
from lpsens.analysis.transition import BrokenArrhenius

CELL = np.diag([24.0, 24.0, 24.0])
DT_PS = 0.05
HOP_RATE = 0.2
FLIP_RATE = 0.02
FIT = {"fit_start_ps": 1.0, "fit_end_fraction": 0.2, "min_fit_points": 10}


def write(path, n_frames, n_li, n_anions):
    rng = np.random.default_rng(0)
    numbers = [3] * n_li + [15, 16, 16, 16, 16] * n_anions
    sites = np.round(rng.random((n_li, 3)) @ CELL / 3.0) * 3.0
    p_hop = -np.expm1(-HOP_RATE * DT_PS)
    dirs6 = np.concatenate([np.eye(3), -np.eye(3)]) * 3.0
    with SyntheticTrajectory(path, CELL, numbers, sampling_interval_fs=DT_PS * 1000, chunk_frames=1000) as w:
        for k, start in enumerate(range(0, n_frames, 10000)):
            m = min(10000, n_frames - start)
            hops = rng.random((m, n_li)) < p_hop
            steps = np.where(hops[..., None], dirs6[rng.integers(0, 6, (m, n_li))], 0.0)
            li = sites + np.cumsum(steps, axis=0)
            sites = li[-1]
            li = li + 0.1 * rng.standard_normal(li.shape)
            tet = tetrahedra_positions(n_anions, m, dt_ps=DT_PS, cell=CELL, rotational_D_per_ps=0.002,
                                       flip_rate_per_ps=FLIP_RATE, noise_A=0.05, seed=k)[0]
            w.append(np.concatenate([li, tet], axis=1))


def analyse(path):
    """Everything of issue 13 on one file; returns (results, per-part (wall, CPU) seconds)."""
    t = {}
    out = {}
    with TrajectoryReader(path) as rd:
        t0, c0 = time.perf_counter(), time.process_time()
        diff = Diffusion(**FIT).compute(MSD(8).compute(rd))
        t["tracer MSD + D"] = (time.perf_counter() - t0, time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        cc = CollectiveConductivity(rd.volume_A3, 600.0, **FIT).compute(CollectiveMSD(8).compute(rd))
        out["H"] = haven_ratio(diff.D_blocks_A2_ps, cc.D_sigma_blocks_cm2_s * 1e4)
        out["sigma_coll"] = (cc.sigma_S_cm, cc.sigma_err_S_cm)
        t["collective sigma + H"] = (time.perf_counter() - t0, time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        rot = AnionRotations(8).compute(rd)
        out["tau1"] = (rot.tau1_ps(), rot.tau1_err_ps())
        out["flips"] = rot.reorientations_per_ps()
        t["anion rotations"] = (time.perf_counter() - t0, time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        jumps = LiJumps().compute(rd)
        out["hops"] = jumps.jumps_per_ps_per_ion
        t["Li jumps"] = (time.perf_counter() - t0, time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        pw = Paddlewheel().compute(jumps, rot)
        out["paddlewheel"] = (pw.enrichment, pw.enrichment_err)
        t["paddle-wheel"] = (time.perf_counter() - t0, time.process_time() - c0)
    t0, c0 = time.perf_counter(), time.process_time()
    T = np.arange(400.0, 1001.0, 50.0)
    y = 5 - 0.2 / K_B_EV * (1 / T - 1 / 700) - 0.2 / K_B_EV * np.maximum(1 / T - 1 / 700, 0)
    s = np.exp(y) / T * np.exp(0.05 * np.random.default_rng(1).standard_normal(T.size))
    out["break_T_K"] = BrokenArrhenius().compute(T, s, 0.05 * s).break_T_K
    t["broken Arrhenius"] = (time.perf_counter() - t0, time.process_time() - c0)
    return out, t


def _collective_on(path, n_frames):
    from lpsens.analysis.crosscheck import kinisi_conductivity

    class Head:
        """The first n_frames of a reader (kinisi loads everything)."""

        def __init__(self, rd):
            self._rd = rd

        def __getattr__(self, name):
            return getattr(self._rd, name)

        @property
        def n_frames(self):
            return n_frames

        def read_positions(self, frames=slice(None), atoms=slice(None)):
            start, stop, step = frames.indices(n_frames)
            return self._rd.read_positions(slice(start, stop, step), atoms)

    with TrajectoryReader(path) as rd:
        head = Head(rd)
        t0 = time.perf_counter()
        ours = CollectiveConductivity(rd.volume_A3, 600.0, **FIT).compute(CollectiveMSD(8).compute(head))
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        k = kinisi_conductivity(head, FIT["fit_start_ps"], 600.0, n_dt=100)
        t_kinisi = time.perf_counter() - t0
    return (ours.sigma_S_cm, ours.sigma_err_S_cm, t_ours), (*k, t_kinisi)


def _child(q, fn, args):
    q.put(fn(*args))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100000)
    ap.add_argument("--li", type=int, default=200)
    ap.add_argument("--anions", type=int, default=27)
    ap.add_argument("--kinisi-frames", type=int, default=20000)
    ap.add_argument("--no-kinisi", action="store_true")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "trajectory.h5"
        t0 = time.perf_counter()
        write(path, a.frames, a.li, a.anions)
        print(f"wrote {a.li} Li + {a.anions} PS4 x {a.frames} frames ({path.stat().st_size / 2**20:.0f} MiB) in "
              f"{time.perf_counter() - t0:.1f} s")
        tracemalloc.start()
        t0, c0 = time.perf_counter(), time.process_time()
        out, parts = analyse(path)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        for name, (sec, c) in parts.items():
            print(f"  {name:24s} {sec:7.2f} s wall {c:7.2f} s CPU")
        ok = total <= 30.0
        # on a shared machine the wall time includes waiting for a core; the CPU time does not
        print(f"total {total:.2f} s wall, {cpu:.2f} s CPU (load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores; target <= 30 s: {'met' if ok else 'NOT met'} on wall time, "
              f"{'met' if cpu <= 30 else 'NOT met'} on CPU time), tracemalloc peak {peak:.0f} MiB "
              f"(Li positions alone: {a.frames * a.li * 24 / 2**20:.0f} MiB)")
        print(f"  H = {out['H'][0]:.3f} +- {out['H'][1]:.3f} (truth 1: independent hops); "
              f"Li jumps {out['hops']:.4f}/ps (truth {HOP_RATE}); PS4 re-orientations {out['flips']:.4f}/ps "
              f"(flips {FLIP_RATE} + diffusion + segment restarts); tau1 {out['tau1'][0]:.1f} +- {out['tau1'][1]:.1f} ps; "
              f"paddle-wheel {out['paddlewheel'][0]:.2f} +- {out['paddlewheel'][1]:.2f} (truth 1); "
              f"break {out['break_T_K']:.0f} K (truth 700)")
        if not a.no_kinisi:
            n = min(a.kinisi_frames, a.frames)
            ctx = multiprocessing.get_context("fork")
            q = ctx.Queue()
            p = ctx.Process(target=_child, args=(q, _collective_on, (path, n)))
            p.start()
            ours, kin = q.get()
            p.join()
            print(f"first {n} frames: lpsens collective sigma {ours[0]:.4g} +- {ours[1]:.2g} S/cm in {ours[2]:.2f} s; "
                  f"kinisi ConductivityAnalyzer {kin[0]:.4g} +- {kin[1]:.2g} S/cm in {kin[2]:.2f} s "
                  f"(time ratio kinisi/lpsens {kin[2] / ours[2]:.0f})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
