"""MSD and D of 100 Li over 200,000 frames read from HDF5: time and memory, next to kinisi.

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_msd.py [--frames 200000] [--li 100] [--framework 32]
       [--no-kinisi] [--kinisi-frames 20000]

Writes a synthetic trajectory in the documented format (random walkers with a known D plus a
vibrating P/S framework and a uniform drift) to a temporary directory, then times
``MSD(...).compute`` + ``Diffusion(...).compute`` (the production code path) and reports the
peak RSS growth and the tracemalloc peak. kinisi (extra ``crosscheck``) is run on the same file
(on its first ``--kinisi-frames`` frames: it holds the whole run in memory).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from lpsens.analysis import MSD, AnalysisSettings, Diffusion, TrajectoryReader
from lpsens.analysis.synthetic import SyntheticTrajectory


def rss_MB() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_MB() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write(path, n_frames, n_li, n_fw, D, dt_ps, chunk):
    """Random walkers (Li) + vibrating framework (P/S), all drifting, appended in 20,000-frame segments."""
    cell = np.diag([20.0, 21.0, 22.0])
    rng = np.random.default_rng(0)
    numbers = [3] * n_li + [15 if i % 2 == 0 else 16 for i in range(n_fw)]
    drift = np.array([0.05, -0.02, 0.01])  # A/ps
    li = rng.random((n_li, 3)) @ cell
    sites = rng.random((n_fw, 3)) @ cell
    with SyntheticTrajectory(path, cell, numbers, sampling_interval_fs=dt_ps * 1000, chunk_frames=chunk) as w:
        for start in range(0, n_frames, 20000):
            m = min(20000, n_frames - start)
            walk = li + np.cumsum(rng.standard_normal((m, n_li, 3)) * np.sqrt(2 * D * dt_ps), axis=0)
            li = walk[-1]
            fw = sites + 0.1 * rng.standard_normal((m, n_fw, 3))
            pos = np.concatenate([walk, fw], axis=1) + ((start + np.arange(m)) * dt_ps)[:, None, None] * drift
            w.append(pos)


def _kinisi(path, start_ps):
    from lpsens.analysis.crosscheck import kinisi_diffusion

    with TrajectoryReader(path) as rd:
        return kinisi_diffusion(rd, start_ps, max_dt_fraction=0.5, n_dt=100)


def _child(q, fn, args):
    out = fn(*args)
    q.put((out, peak_rss_MB()))


def _in_child(fn, *args):
    """Run fn in a forked process (so its memory does not count against this one); (result, peak RSS MiB)."""
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q, fn, args))
    p.start()
    out = q.get()
    p.join()
    if p.exitcode:
        raise RuntimeError(f"{fn.__name__} failed in a child process")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--li", type=int, default=100)
    ap.add_argument("--framework", type=int, default=32)
    ap.add_argument("--chunk-frames", type=int, default=1000)
    ap.add_argument("--no-kinisi", action="store_true")
    ap.add_argument("--kinisi-frames", type=int, default=20_000)
    args = ap.parse_args(argv)
    D_true, dt_ps = 0.2, 0.01  # A^2/ps; 10 fs frames -> 2 ns
    settings = AnalysisSettings()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        path = Path(tmp) / "trajectory.h5"
        t0 = time.perf_counter()
        _in_child(write, path, args.frames, args.li, args.framework, D_true, dt_ps, args.chunk_frames)
        size_MB = path.stat().st_size / 2**20
        print(f"# python {sys.version.split()[0]}, numpy {np.__version__}, OMP_NUM_THREADS="
              f"{os.environ.get('OMP_NUM_THREADS')}, cores {os.cpu_count()}")
        print(f"file: {args.frames} frames x {args.li} Li + {args.framework} P/S atoms, chunks of "
              f"{args.chunk_frames} frames, {size_MB:.0f} MiB on disk (written in {time.perf_counter() - t0:.1f} s)")
        rss0 = rss_MB()
        peak0 = peak_rss_MB()
        tracemalloc.start()
        t0 = time.perf_counter()
        with TrajectoryReader(path) as rd:
            msd = MSD(settings.n_blocks, settings.memory_limit_MB).compute(rd)
            d = Diffusion(settings.fit_start_ps, settings.fit_end_fraction, settings.min_fit_points).compute(msd)
        elapsed = time.perf_counter() - t0
        _, tm_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"lpsens: D = {d.D_cm2_s:.4e} +- {d.D_err_cm2_s:.1e} cm^2/s (true {D_true * 1e-4:.4e}; "
              f"{(d.D_cm2_s / (D_true * 1e-4) - 1) * 100:+.2f} %), {settings.n_blocks} blocks, window "
              f"{d.window_ps[0]:g}-{d.window_ps[1]:g} ps")
        print(f"lpsens: {elapsed:.2f} s wall; tracemalloc peak {tm_peak / 2**20:.0f} MiB; RSS before {rss0:.0f} MiB (peak "
              f"{peak0:.0f}), peak RSS after {peak_rss_MB():.0f} MiB (memory_limit_MB = {settings.memory_limit_MB:g}; all positions "
              f"would be {args.frames * (args.li + args.framework) * 24 / 2**20:.0f} MiB)")
        if args.no_kinisi:
            return 0
        try:
            import kinisi

            from lpsens.analysis.crosscheck import kinisi_diffusion  # noqa: F401  (availability)
        except ImportError:
            print("kinisi: not installed (pip install 'lpsens[crosscheck]')")
            return 0
        n_k = min(args.kinisi_frames, args.frames)
        small = Path(tmp) / "head.h5"
        with TrajectoryReader(path) as rd:
            head = rd.read_positions(slice(0, n_k))
            with SyntheticTrajectory(small, rd.cell, rd.numbers, sampling_interval_fs=dt_ps * 1000) as w:
                w.append(head)
        del head
        with TrajectoryReader(small) as rd:
            t0 = time.perf_counter()
            ours = Diffusion(settings.fit_start_ps, settings.fit_end_fraction, settings.min_fit_points).compute(
                MSD(settings.n_blocks).compute(rd))
            t_ours = time.perf_counter() - t0
            t0 = time.perf_counter()
        (D_k, D_k_sd), k_rss = _in_child(_kinisi, small, settings.fit_start_ps)
        t_k = time.perf_counter() - t0
        print(f"on the first {n_k} frames: lpsens D = {ours.D_cm2_s:.4e} +- {ours.D_err_cm2_s:.1e} in {t_ours:.2f} s; "
              f"kinisi {kinisi.__version__} D = {D_k:.4e} +- {D_k_sd:.1e} in {t_k:.2f} s "
              f"(100 lags, Bayesian fit; its process' peak RSS {k_rss:.0f} MiB); "
              f"ratio lpsens/kinisi = {ours.D_cm2_s / D_k:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
