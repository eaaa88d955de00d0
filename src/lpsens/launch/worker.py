"""The worker process: runs one task for a launcher rank, so a crash costs only that task.

The group leader of a launch starts, per task, ``python -m lpsens.launch.worker`` (1 rank:
a plain child process; ``k`` ranks: a nested ``mpiexec -launcher fork -n k``). The worker
resolves the task (:func:`lpsens.tasks.task_function_for`, or ``--task module:function``),
runs it with ``should_stop`` (walltime rule, SIGTERM/SIGUSR1) and ``on_segment`` (journal
``checkpoint`` lines), and writes its outcome to ``--result`` (JSON, atomically, by rank 0).
No result file means the worker died: :mod:`lpsens.launch.crashes` turns the exit status and
the job's progress into the reason recorded on the job.

``--status-fd`` is the write end of a pipe from the leader: the worker writes ``R`` when its
imports are done (the leader starts the next spare only then, so at most one interpreter per
leader is importing and competing with running tasks for the cores) and ``D`` once the result
file is written (the leader records the outcome and starts the next task at once, instead of
waiting for the interpreter's teardown, which runs at the lowest priority, nice 19, so as not
to delay the next task; a 1-rank worker skips the interpreter's finalisation altogether unless
``LPSENS_WORKER_FINALIZE=1``).

Without ``--job`` the worker is a *spare*: it imports everything (signac, the task's module with
LAMMPS, ASE...) and then waits for one line on stdin, ``{"job": id, "result": path}``. The
leader keeps one spare ready for 1-rank tasks while a task runs, so the interpreter start and
imports are off the critical path; a spare runs one task and exits like any worker (each task
still gets a fresh process), and exits quietly at the end of its stdin.

ASE is made serial in the worker (as in the launcher's ranks): each rank of a task does its own
``ase.io`` reads and writes, never a hidden broadcast over the task's ``COMM_WORLD``.

MPI in the worker: the leader removes the PMI environment of its own launch (``PMI_*``,
``PMIX_*``, ``MPI_LOCAL*``, ``HYDRA_*``) before starting it, so a 1-rank worker initialises MPI
as a *singleton* (``COMM_WORLD`` of size 1, no contact with the launch's process manager) and
a k-rank worker gets a fresh ``COMM_WORLD`` of exactly its k ranks from its own ``mpiexec``.
The worker watches its launcher and kills itself when that process is gone, so a relaunch
never finds a task still written to by an orphan.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

__all__ = ["main", "worker_env", "PMI_PREFIXES"]

#: environment of the enclosing MPI launch that must not reach a worker. MPICH's PMI client
#: (libmpi of the mpich 5.0.2 wheel) reads PMI_FD, PMI_PORT, PMI_RANK, PMI_SIZE, PMI_ID,
#: PMI_SPAWNED, PMI_HOSTNAME, PMI_SUBVERSION, PMI_DEBUG, PMIX_NAMESPACE, PMIX_RANK, PMIX_VERSION;
#: srun adds PMI_JOBID (pmi2) and PMIX_SERVER_URI*, PMIX_SECURITY_MODE... (pmix). Any of them
#: left in a worker makes its MPI_Init talk to (or abort on) the launch's process manager.
PMI_PREFIXES = ("PMI_", "PMIX_", "MPI_LOCALNRANKS", "MPI_LOCALRANKID", "HYDRA_", "HYDI_")


def worker_env(extra: dict | None = None) -> dict:
    """``os.environ`` without the launch's PMI variables (:data:`PMI_PREFIXES`), plus ``extra``.

    ``SLURM_*`` variables are kept (tasks may read e.g. ``SLURM_JOB_ID``); a k-rank worker's
    ``mpiexec`` gets ``-launcher fork -hosts localhost`` so that hydra neither launches through
    srun nor takes its host list from ``SLURM_NODELIST``/``SLURM_TASKS_PER_NODE``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(PMI_PREFIXES)}
    env.update(extra or {})
    return env


def _watch_parent(pid: int) -> None:
    """Die with the launcher: a worker must never outlive the rank that holds its job's claim."""
    if pid <= 0:
        return
    try:  # immediate for a direct child (Linux); the thread covers nested mpiexec
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch():
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os.kill(os.getpid(), signal.SIGKILL)
            except PermissionError:
                pass
            time.sleep(1.0)

    threading.Thread(target=watch, daemon=True, name="lpsens-parent-watch").start()


def _tell(fd: int | None, what: bytes) -> None:
    """One status byte to the leader (``R`` ready, ``D`` result written); a gone leader is ignored."""
    if fd is None:
        return
    try:
        os.write(fd, what)
    except OSError:
        pass


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m lpsens.launch.worker", description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True)
    p.add_argument("--job", default=None, help="job id (default: read {\"job\", \"result\"} from stdin)")
    p.add_argument("--launch", required=True)
    p.add_argument("--rank", type=int, default=0, help="world rank of the leader (journal)")
    p.add_argument("--result", type=Path, default=None)
    p.add_argument("--parent-pid", type=int, default=0)
    p.add_argument("--end", type=float, default=None, help="allocation end, epoch seconds")
    p.add_argument("--margin", type=float, default=0.0)
    p.add_argument("--task", default=None, help="module:function (default: by the project's kind)")
    p.add_argument("--status-fd", type=int, default=None, help="pipe to the leader: R when ready, D when the result is written")
    args = p.parse_args(argv)
    _watch_parent(args.parent_pid)

    from lpsens.launch.lifecycle import StopFlag, make_ase_serial, task_result

    stop = StopFlag().install()
    comm = None
    if os.environ.get("LPSENS_WORKER_MPI") == "1":
        from mpi4py import MPI  # before LAMMPS; COMM_WORLD is this task's own k ranks

        comm = MPI.COMM_WORLD
    rank = 0 if comm is None else comm.Get_rank()
    # As in the launcher's ranks (isolate=False): ASE I/O is serial in every rank. With mpi4py
    # loaded, ase.io.read/write would otherwise read on COMM_WORLD rank 0 and broadcast -- a
    # collective the task's other ranks never join when only rank 0 does I/O (a training task:
    # rank 0 fits, rank 1 waits in comm.bcast), which deadlocks a k-rank worker.
    make_ase_serial()

    import signac

    from lpsens.launch.journal import Journal, journal_path
    from lpsens.tasks import resolve, task_function_for

    project = signac.get_project(args.root)
    task_fn = resolve(args.task) if args.task else task_function_for(project)
    status_fd = args.status_fd if rank == 0 else None
    if args.status_fd is not None and rank != 0:
        try:  # a k-rank worker: only its rank 0 talks to the leader
            os.close(args.status_fd)
        except OSError:
            pass
    _tell(status_fd, b"R")
    if args.job is None:  # a spare: ready, waiting for its task
        line = sys.stdin.readline()
        if not line.strip():
            return 0
        spec = json.loads(line)
        args.job, args.result = spec["job"], Path(spec["result"])
    job = project.open_job(id=args.job)
    journal = Journal(journal_path(Path(args.root)), args.launch, args.rank)
    seg = {"last": time.time()}

    def should_stop() -> bool:
        now = time.time()
        per_seg, seg["last"] = now - seg["last"], now
        halt = bool(stop)
        if args.end is not None:
            halt = halt or now + per_seg + args.margin > args.end
        return halt

    def on_segment(*a, **kw) -> None:
        if rank != 0:
            return
        info = {k: v for k, v in kw.items() if isinstance(v, (int, float, str, bool))}
        if a and isinstance(a[0], (int, float)):
            info.setdefault("steps", a[0])
        journal.write("checkpoint", job=args.job, worker_pid=os.getpid(), **info)

    try:
        status, steps = task_result(task_fn(job, comm=comm, should_stop=should_stop, on_segment=on_segment))
        result = {"ok": True, "status": status.value, "steps_done": steps}
    except Exception as exc:  # noqa: BLE001 -- every task error is reported to the launcher
        result = {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
    results = [result] if comm is None else comm.gather(result, root=0)
    if rank == 0:
        _write_json(args.result, {"results": results, "signal": stop.signum})
        _tell(status_fd, b"D")
    # The task is over: the interpreter teardown (35-90 ms of CPU) yields the cores to the next
    # task, which the leader starts now, and to the leader itself.
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 19)
    except (OSError, AttributeError):
        pass
    if comm is None and args.result is not None and os.environ.get("LPSENS_WORKER_FINALIZE") != "1":
        # A 1-rank worker skips the interpreter's finalisation: with torch and a reference model
        # loaded its garbage collection costs 1-2 s of CPU per labelling task (and, at nice 19
        # on busy cores, often outlives the launcher's 60 s teardown limit). Every file this
        # task wrote is closed and the result is on disk; a k-rank worker must still reach
        # MPI_Finalize, so it exits normally, and so does any worker with LPSENS_WORKER_FINALIZE=1
        # (atexit handlers of a custom task, coverage, profilers).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
