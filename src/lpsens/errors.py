"""One exception hierarchy for lpsens.

Every error carries what a user needs to fix it: the file, the key, the job and
the reason. ``key`` is a key of a spec or settings table (``protocol.timestep_fs``), shown as
``key '...'``; ``option`` is a command-line option (``--walltime``), shown as itself. A place
inside a data file (a line, a dataset, a block) belongs in the message text, not in ``key``. Subclasses also inherit the matching built-in so callers can catch
``ValueError``/``OSError``/``RuntimeError`` as usual. The CLI prints
``Error: <message>`` and exits with :attr:`LpsensError.exit_code` (4).

Exit status of ``lpsens``: 0 success; 1 some task, analysis or gate failed (the run itself
worked); 2 a usage error found by argparse (unknown option, missing argument); 3 ``lpsens run``
stopped at a segment boundary (``timeout``, resumable); 4 an :class:`LpsensError` (the message
names the fix); 70 the launcher itself failed (the job script relaunches); 130 interrupted.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

__all__ = [
    "check_keys",
    "LpsensError",
    "SpecError",
    "ProjectError",
    "DocumentError",
    "StructureError",
    "PotentialError",
    "MDError",
    "ChemistryError",
    "TrajectoryError",
    "TrajectoryLockedError",
    "AnalysisError",
    "InsufficientDataError",
    "LaunchError",
    "SubmitError",
    "TrainingError",
    "MPIError",
    "DemoError",
]


class LpsensError(Exception):
    """Base class of every lpsens error.

    Parameters
    ----------
    message
        What went wrong and how to fix it.
    file, key, option, job_id
        Optional context; prefixed to the message when given: the file, ``key '<key>'`` (a spec
        or settings key), the command-line option as typed (``--walltime``), ``job <id>``.
    """

    #: Exit status of the CLI for this error: distinct from argparse's usage error (2), from a
    #: failed task (1) and from a stopped ``lpsens run`` (3), so scripts can tell them apart.
    exit_code = 4

    def __init__(self, message: str, *, file=None, key=None, option=None, job_id=None):
        self.file = None if file is None else str(file)
        self.key = key
        self.option = option
        self.job_id = job_id
        self.reason = message
        parts = []
        if self.file:
            parts.append(self.file)
        if key:
            parts.append(f"key '{key}'")
        if option:
            parts.append(option)
        if job_id:
            parts.append(f"job {job_id}")
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class SpecError(LpsensError, ValueError):
    """The campaign spec (TOML) is malformed or has a bad value."""


class ProjectError(LpsensError, RuntimeError):
    """The signac data space is missing, of another schema, or inconsistent with the spec."""


class DocumentError(ProjectError):
    """One job's ``signac_job_document.json`` is empty, truncated or not JSON: that job is skipped."""


class StructureError(LpsensError, ValueError):
    """A structure cannot be built or read (unknown phase, bad size, unreadable CIF...)."""


class PotentialError(LpsensError, ValueError):
    """A GAP potential file is missing, malformed, or does not cover the structure's species."""


class MDError(LpsensError, RuntimeError):
    """A molecular-dynamics task failed (LAMMPS error, lost atoms, exploding temperature)."""


class ChemistryError(MDError):
    """A trajectory frame has broken chemistry (fused atoms, wrong P coordination, lost atoms)."""


class TrajectoryError(LpsensError, OSError):
    """A trajectory file is missing, unreadable, or not in the documented format."""


class TrajectoryLockedError(TrajectoryError):
    """Another process holds an HDF5 lock on a trajectory (or the file system has no locks).

    Nothing was written: the job's checkpoint is intact and the job can be resumed
    (``resumable`` is True), so a launcher may treat it like a ``timeout``.
    """

    resumable = True


class AnalysisError(LpsensError, ValueError):
    """An analysis cannot give an answer for its input."""


class InsufficientDataError(AnalysisError):
    """The data are too short or too few for a meaningful result (never a silent 0)."""


class LaunchError(LpsensError, RuntimeError):
    """The launcher cannot run (bad resources, walltime, communicator)."""


class MPIError(LaunchError):
    """No usable ``mpiexec`` (the MPI that mpi4py uses) for a multi-rank task or the demo."""


class SubmitError(LpsensError, RuntimeError):
    """An sbatch script cannot be rendered or submitted."""


class TrainingError(LpsensError, RuntimeError):
    """A training-campaign step failed (reference calculator, gap_fit, selection, gates)."""


class FitStopped(TrainingError):
    """gap_fit was stopped by a stop signal (a launch's walltime or USR1) before it finished:
    not a failure of the spec; the fit task ends as ``timeout`` and reruns at the next launch."""


class DemoError(LpsensError, RuntimeError):
    """A stage of the demo failed; the message names the stage and the command to rerun it."""


def check_keys(table: Mapping, valid: Iterable[str], *, where: str = "", file=None, error: type = SpecError) -> None:
    """Refuse keys of ``table`` that are not in ``valid``, suggesting the closest valid key.

    The one place where spec, settings and profile tables reject unknown keys, e.g.
    ``demo.toml: unknown key 'protocol.timestep' — did you mean 'timestep_fs'? Valid keys: ...``
    (closest match by :func:`difflib.get_close_matches`).

    Parameters
    ----------
    table
        The parsed table (a TOML table or a settings mapping).
    valid
        Its allowed keys.
    where
        Dotted path of the table in its file (``"protocol"``, ``"material[0].protocol"``);
        ``""`` for the top level.
    file
        The file the table was read from (named first in the message), if any.
    error
        The :class:`LpsensError` subclass to raise.

    Raises
    ------
    LpsensError
        ``error`` naming every unknown key in full (``where.key``), for each the closest valid
        key if one is close, and every valid key.
    """
    valid = sorted(valid)
    unknown = sorted(set(map(str, table)) - set(valid))
    if not unknown:
        return

    def full(k):
        return f"{where}.{k}" if where else k

    close = {k: difflib.get_close_matches(k, valid, n=1) for k in unknown}
    if len(unknown) == 1:
        (k,) = unknown
        message = f"unknown key '{full(k)}'" + (f" — did you mean '{close[k][0]}'?" if close[k] else ".")
    else:
        message = "unknown keys " + ", ".join(
            f"'{full(k)}'" + (f" (did you mean '{close[k][0]}'?)" if close[k] else "") for k in unknown) + "."
    raise error(f"{message} Valid keys: {', '.join(valid)}", file=file)
