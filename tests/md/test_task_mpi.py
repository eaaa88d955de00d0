"""Under `mpiexec -n 2`: one LAMMPS per rank (COMM_SELF) runs two jobs side by side; the quippy
backend on a 2-rank communicator fails cleanly on both ranks instead of hanging."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_WORKER = textwrap.dedent(
    """
    import sys
    from mpi4py import MPI
    import signac
    from lpsens.errors import MDError
    from lpsens.md.task import run_task

    comm = MPI.COMM_WORLD
    project = signac.get_project(sys.argv[1])
    ids = sys.argv[2:]
    out = run_task(project.open_job(id=ids[comm.rank]), comm=MPI.COMM_SELF)
    print(f"rank {comm.rank} {out.status} {out.n_frames}", flush=True)
    try:
        run_task(project.open_job(id=ids[2]), comm=comm, backend="quippy")
    except MDError as exc:
        print(f"rank {comm.rank} MDError {'1-rank' in str(exc)}", flush=True)
    """
)


@pytest.mark.mpi
def test_two_ranks_two_jobs_and_clean_multirank_error(make_job):
    jobs = [make_job(seed=s, replica=s) for s in (1, 2, 3)]
    mpiexec = Path(sys.executable).with_name("mpiexec")
    proc = subprocess.run(
        [str(mpiexec), "-n", "2", sys.executable, "-c", _WORKER, str(jobs[0].project.path), *[j.id for j in jobs]],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    # Count in the whole output: mpiexec may join the two ranks' lines.
    out = proc.stdout
    assert len(re.findall(r"rank [01] done \d+", out)) == 2, out
    assert len(re.findall(r"rank [01] MDError True", out)) == 2, out + proc.stderr[-2000:]
    for job in jobs[:2]:
        assert job.doc["progress_steps"] == job.doc["total_steps"]


_UF3_WORKER = textwrap.dedent(
    """
    import sys
    from mpi4py import MPI
    import signac
    from lpsens.md.task import run_task

    comm = MPI.COMM_WORLD
    project = signac.get_project(sys.argv[1])
    one, two = (project.open_job(id=i) for i in sys.argv[2:4])
    if comm.rank == 0:
        run_task(one, comm=MPI.COMM_SELF)  # the reference: the same task on 1 rank
    comm.Barrier()
    out = run_task(two, comm=comm)  # one task, one 2-rank group (LAMMPS domain decomposition)
    print(f"rank {comm.rank} {out.status} {out.n_frames}", flush=True)
    """
)


@pytest.mark.mpi
def test_uf3_task_on_two_ranks_equals_the_one_rank_run(make_job, toy_uf3):
    """Relax + 50 MD steps of a 128-atom cell: every step's positions agree to 1e-8 Å."""
    import h5py
    import numpy as np

    proto = dict(equilibration_ps=0.0, production_ps=0.1, sampling_interval_fs=2.0, segment_ps=0.1, min_atoms=128)
    one = make_job(uf3=toy_uf3, seed=11, **proto)
    two = make_job(uf3=toy_uf3, seed=11, replica=1, **proto)
    mpiexec = Path(sys.executable).with_name("mpiexec")
    proc = subprocess.run(
        [str(mpiexec), "-n", "2", sys.executable, "-c", _UF3_WORKER, str(one.project.path), one.id, two.id],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(re.findall(r"rank [01] done 51", proc.stdout)) == 2, proc.stdout
    assert two.doc["provenance"]["mpi_ranks"] == 2 and one.doc["provenance"]["mpi_ranks"] == 1
    with h5py.File(one.fn("trajectory.h5"), "r") as a, h5py.File(two.fn("trajectory.h5"), "r") as b:
        pa, pb = a["positions"][:], b["positions"][:]
        assert a.attrs["mpi_ranks"] == 1 and b.attrs["mpi_ranks"] == 2
    assert pa.shape == pb.shape and pa.shape[0] == 51 and pa.shape[1] >= 128
    dev = np.abs(pa - pb).max()
    print(f"\nmax |2-rank - 1-rank| position deviation over 50 steps: {dev:.1e} Å")
    assert dev <= 1e-8, one.project.path
    assert np.abs(pa[-1] - pa[0]).max() > 0.01  # the atoms did move
