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
