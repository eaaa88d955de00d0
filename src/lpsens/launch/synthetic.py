"""Synthetic tasks with the MD task's interface, for tests and benchmarks of the launcher.

:func:`sleep_task` behaves like :func:`lpsens.md.task.run_task` without physics: it sleeps
``n_atoms * steps / rate`` seconds per segment, appends deterministic "frames" to
``trajectory.txt``, writes ``checkpoint.json`` at every segment boundary, checks
``should_stop`` there, and resumes from its checkpoint. It reads from ``job.doc``:

- ``protocol`` (an :class:`~lpsens.md.protocol.MDProtocol` dict), ``n_atoms``, ``seed``;
- ``synthetic``: ``{"atom_steps_per_s": float, "fail": str or None, "crash": dict or None}``;
  ``fail`` makes the task raise :class:`~lpsens.errors.MDError` with that message (a broken
  input); ``crash = {"how": "kill" | "segv" | "exit0", "at_step": n, "times": m}`` makes the
  process die (SIGKILL, SIGSEGV, or ``os._exit(0)`` as quippy does on a malformed XML) in the
  middle of the first segment that starts at or after step ``n``, after writing one frame of it
  past the checkpoint, on its first ``m`` attempts (counted in ``crash_attempts.txt``).

:func:`noop_task` returns at once (dispatch-overhead benchmark); :func:`sized_task` records its
communicator size (``comm_size``), ranks (``comm_pids``) and the CPUs they may run on
(``comm_cpus``) in the job document, then sleeps. :func:`mpi_probe_task` initialises MPI in
its process, as LAMMPS does, and records what it found (``mpi_world_size``, the ``PMI_*``/
``PMIX_*`` variables it saw), then sleeps. :func:`lingering_task` sleeps, then keeps its
process alive ``synthetic.linger_s`` seconds after returning (a slow interpreter teardown) and
writes ``linger_end.txt`` (the time it ended) last.
None is used in production.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from lpsens.errors import MDError, StructureError
from lpsens.md.protocol import MDProtocol

__all__ = ["SyntheticOutcome", "sleep_task", "noop_task", "sized_task", "mpi_probe_task", "lingering_task",
           "frame_value"]


@dataclass(frozen=True)
class SyntheticOutcome:
    status: str
    steps_done: int
    wall_s: float
    steps_per_s: float
    n_frames: int


def frame_value(seed: int, step: int) -> str:
    """Deterministic content of the frame at ``step`` (what an uninterrupted run writes)."""
    return hashlib.sha256(f"{seed}:{step}".encode()).hexdigest()[:16]


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def sleep_task(job, *, comm=None, should_stop=None, backend="auto", on_segment=None) -> SyntheticOutcome:
    """The synthetic MD-like task (see the module docstring); returns a :class:`SyntheticOutcome`.

    Raises
    ------
    MDError
        When the job's ``synthetic.fail`` asks for a failure.
    StructureError
        For a job document without an integer ``n_atoms`` >= 1.
    """
    t0 = time.time()
    doc = job.doc()
    spec = doc.get("synthetic") or {}
    if spec.get("fail"):
        raise MDError(str(spec["fail"]), job_id=job.id)
    protocol = MDProtocol.from_dict(doc["protocol"])
    n_atoms = doc.get("n_atoms")
    if not isinstance(n_atoms, int) or n_atoms < 1:
        raise StructureError(f"synthetic job needs an integer n_atoms >= 1, got {n_atoms!r}", key="n_atoms", job_id=job.id)
    rate = float(spec.get("atom_steps_per_s", 1e6))
    seed = int(doc.get("seed", 0))
    root = comm is None or comm.Get_rank() == 0
    ckpt_path = Path(job.fn("checkpoint.json"))
    traj_path = Path(job.fn("trajectory.txt"))
    ckpt = json.loads(ckpt_path.read_text()) if ckpt_path.exists() else {"steps": 0, "n_frames": 0}
    steps, n_frames = int(ckpt["steps"]), int(ckpt["n_frames"])
    eq, total, seg, every = (protocol.equilibration_steps, protocol.total_steps, protocol.segment_steps,
                             protocol.sample_every_steps)
    if root:  # drop frames written after the last checkpoint (a run killed mid-segment)
        lines = traj_path.read_text().splitlines(keepends=True) if traj_path.exists() else []
        if len(lines) != n_frames:
            traj_path.write_text("".join(lines[:n_frames]))
    start_steps = steps
    crash = spec.get("crash") or None
    while steps < total:
        n = (eq - steps) if steps < eq else min(seg, total - steps)
        if crash and steps >= int(crash.get("at_step", 0)) and root:
            _maybe_crash(crash, Path(job.fn("crash_attempts.txt")), traj_path, steps - eq, seed)
        time.sleep(n_atoms * n / rate)
        if steps >= eq and root:
            prod0 = steps - eq
            with open(traj_path, "a") as fh:
                for s in range(prod0 + (every if prod0 else 0), prod0 + n + 1, every):
                    if s == 0 and n_frames:
                        continue
                    fh.write(f"{s} {frame_value(seed, s)}\n")
                    n_frames += 1
        steps += n
        if root:
            _write_json(ckpt_path, {"steps": steps, "n_frames": n_frames})
            job.doc.update({"progress_steps": steps, "total_steps": total})
        if on_segment is not None:
            on_segment(steps)
        if steps < total and should_stop is not None:
            stop = bool(should_stop()) if root else False  # asked on rank 0, like run_task
            if comm is not None and comm.bcast(stop, root=0) or comm is None and stop:
                break
    wall = time.time() - t0
    status = "done" if steps >= total else "timeout"
    run = steps - start_steps  # steps of this call, as TaskOutcome.steps_done
    return SyntheticOutcome(status, run, wall, run / wall if wall > 0 else 0.0, n_frames)


def _maybe_crash(crash: dict, counter: Path, traj_path: Path, prod_step: int, seed: int) -> None:
    import signal

    done = int(counter.read_text()) if counter.exists() else 0
    if done >= int(crash.get("times", 1)):
        return
    counter.write_text(str(done + 1))
    if prod_step >= 0:  # a frame past the checkpoint, as a process killed mid-segment leaves
        with open(traj_path, "a") as fh:
            fh.write(f"{prod_step + 1} partial-frame-of-a-dead-process\n")
    how = crash.get("how", "kill")
    if how == "exit0":
        os._exit(0)
    os.kill(os.getpid(), {"kill": signal.SIGKILL, "segv": signal.SIGSEGV}[how])
    time.sleep(60)  # the signal is delivered at once; never return into the task


def sized_task(job, *, comm=None, should_stop=None, backend="auto", on_segment=None) -> SyntheticOutcome:
    size = 1 if comm is None else comm.Get_size()
    me = (os.getpid(), sorted(os.sched_getaffinity(0)))
    ranks = [me] if comm is None else comm.gather(me, root=0)
    if comm is None or comm.Get_rank() == 0:
        job.doc.update({"comm_size": size, "comm_pids": sorted({p for p, _ in ranks}),
                        "comm_cpus": sorted({c for _, cpus in ranks for c in cpus})})
    return sleep_task(job, comm=comm, should_stop=should_stop, backend=backend, on_segment=on_segment)


def mpi_probe_task(job, *, comm=None, should_stop=None, backend="auto", on_segment=None) -> SyntheticOutcome:
    from mpi4py import MPI  # initialises MPI here: a singleton in a 1-rank worker

    world = MPI.COMM_WORLD
    seen = sorted(k for k in os.environ if k.startswith(("PMI_", "PMIX_")))
    info = world.gather({"pid": os.getpid(), "pmi": seen}, root=0)
    if world.Get_rank() == 0:
        job.doc.update({"mpi_world_size": world.Get_size(), "mpi_pids": sorted(i["pid"] for i in info),
                        "task_comm_size": 1 if comm is None else comm.Get_size(),
                        # variables a worker's own mpiexec sets are expected in a k-rank task
                        "pmi_env_seen": sorted({k for i in info for k in i["pmi"]})})
    return sleep_task(job, comm=comm, should_stop=should_stop, backend=backend, on_segment=on_segment)


def lingering_task(job, *, comm=None, should_stop=None, backend="auto", on_segment=None) -> SyntheticOutcome:
    import atexit

    linger_s = float((job.doc.get("synthetic") or {}).get("linger_s", 1.0))
    end_file = Path(job.fn("linger_end.txt"))

    def linger():
        time.sleep(linger_s)
        end_file.write_text(repr(time.time()))

    atexit.register(linger)
    return sleep_task(job, comm=comm, should_stop=should_stop, backend=backend, on_segment=on_segment)


def noop_task(job, *, comm=None, should_stop=None, backend="auto", on_segment=None) -> SyntheticOutcome:
    return SyntheticOutcome("done", 0, 0.0, 0.0, 0)


def init_synthetic_project(root, durations_s, *, segments: int = 4, rate: float = 1e5,
                           fail: frozenset[int] = frozenset(), material: str = "glass",
                           crash: dict[int, dict] | None = None, ranks: dict[int, int] | None = None):
    """A signac project of synthetic jobs lasting ``durations_s`` (s) at ``rate`` atom-steps/s.

    Job ``i`` has ``replica = i``; ``n_atoms`` is chosen so that ``n_atoms * total_steps / rate``
    is its duration, so the launcher's cost model (atoms x steps) orders them correctly.
    Jobs whose index is in ``fail`` raise :class:`~lpsens.errors.MDError` when run; ``crash``
    maps a job index to its ``synthetic.crash`` spec; ``ranks`` maps a job index to its
    ``potential.ranks_per_task``.
    """
    import signac

    project = signac.init_project(str(root))
    seg_steps = 10
    protocol = MDProtocol(timestep_fs=1.0, equilibration_ps=0.0, production_ps=segments * seg_steps / 1000.0,
                          sampling_interval_fs=5.0, segment_ps=seg_steps / 1000.0)
    for i, d in enumerate(durations_s):
        sp = {"material": material, "x_Li2S_mol_pct": 75.0, "temperature_K": 600, "replica": i,
              "constraint": "none"}
        job = project.open_job(sp).init()
        job.doc.update({
            "status": "pending", "seed": 1000 + i, "protocol": protocol.to_dict(),
            "n_atoms": max(1, round(d * rate / protocol.total_steps)),
            "system": {"min_atoms": 0, "min_width_A": 0.0},
            "synthetic": {"atom_steps_per_s": rate, "fail": f"synthetic failure of job {i}" if i in fail else None,
                          "crash": (crash or {}).get(i)},
        })
        if ranks and i in ranks:
            job.doc["potential"] = {"ranks_per_task": int(ranks[i])}
    return project
