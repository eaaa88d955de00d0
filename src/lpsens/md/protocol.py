"""The MD protocol: typed, validated settings with units in their names."""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass

from lpsens.errors import SpecError, check_keys

__all__ = ["Thermostat", "Coupling", "MDProtocol", "FS_PER_PS"]


#: fs in one ps: protocols state short times in fs, LAMMPS ``units metal`` and trajectories use ps.
FS_PER_PS = 1000.0


class Thermostat(str, enum.Enum):
    """Thermostats available in LAMMPS for the NVT runs."""

    NOSE_HOOVER = "nose_hoover"  # fix nvt (Nose-Hoover chain)
    CSVR = "csvr"  # fix temp/csvr + fix nve (Bussi canonical sampling velocity rescaling)


class Coupling(str, enum.Enum):
    """How the cell may change under a barostat (``fix box/relax`` / ``fix npt``)."""

    ISO = "iso"  # one scale factor, shape kept
    ANISO = "aniso"  # x, y, z lengths independently


@dataclass(frozen=True)
class MDProtocol:
    """MD settings (LAMMPS ``units metal``): relax, optional NPT, then NVT equilibration and production.

    Attributes
    ----------
    timestep_fs
        Integration timestep in fs.
    equilibration_ps
        Equilibration length in ps (not written to the trajectory).
    production_ps
        Production length in ps.
    sampling_interval_fs
        Interval between trajectory frames in fs (a multiple of the timestep).
    segment_ps
        Production segment length in ps; a checkpoint is written after each segment.
    thermostat
        ``nose_hoover`` or ``csvr``.
    thermostat_damping_fs
        Thermostat damping time in fs.
    stop_on_broken_chemistry
        Check the frames written since the last segment boundary with
        :func:`lpsens.chemistry.check_frame` (fused or bonded S, P with <= 2 or >= 5 S, Li on top
        of an atom, lost atoms) and stop a broken run with status ``failed`` (default True).
        Does not change the trajectory, so toggling it keeps checkpoints valid.
    minimize_max_steps
        Energy minimisation before MD (LAMMPS ``minimize``, conjugate gradients): iteration
        limit; 0 skips it. Force evaluations are limited to 10x this.
    minimize_ftol_eV_A
        Minimisation stops when the 2-norm of the global force vector is below this, eV/Å.
    minimize_etol
        Minimisation stops when the relative energy change of an iteration is below this (0: off).
    relax_cell
        Relax the cell during minimisation (``fix box/relax`` to ``pressure_bar``, ``npt_coupling``).
    npt_ps
        Constant-pressure MD after minimisation (native backends ``uf3``/``native`` only); the
        cell is then set to its mean over the second half. 0: no NPT.
    pressure_bar
        Target pressure of the cell relaxation and the NPT stage in bar.
    npt_coupling
        ``iso`` or ``aniso``.
    barostat_damping_fs
        Barostat damping time in fs.
    """

    timestep_fs: float = 2.0
    equilibration_ps: float = 5.0
    production_ps: float = 100.0
    sampling_interval_fs: float = 100.0
    segment_ps: float = 10.0
    thermostat: Thermostat = Thermostat.NOSE_HOOVER
    thermostat_damping_fs: float = 100.0
    stop_on_broken_chemistry: bool = True
    minimize_max_steps: int = 200
    minimize_ftol_eV_A: float = 0.01
    minimize_etol: float = 0.0
    relax_cell: bool = False
    npt_ps: float = 0.0
    pressure_bar: float = 1.0
    npt_coupling: Coupling = Coupling.ISO
    barostat_damping_fs: float = 1000.0

    def __post_init__(self):
        if not isinstance(self.stop_on_broken_chemistry, bool):
            raise SpecError(f"must be true or false, got {self.stop_on_broken_chemistry!r}",
                            key="protocol.stop_on_broken_chemistry")
        if not isinstance(self.relax_cell, bool):
            raise SpecError(f"must be true or false, got {self.relax_cell!r}", key="protocol.relax_cell")
        steps = self.minimize_max_steps
        if isinstance(steps, bool) or not isinstance(steps, (int, float)) or steps != int(steps) or not 0 <= steps <= 100_000:
            raise SpecError(f"must be a whole number 0-100000 (0: no minimisation), got {steps!r}",
                            key="protocol.minimize_max_steps")
        object.__setattr__(self, "minimize_max_steps", int(steps))
        try:
            object.__setattr__(self, "npt_coupling", Coupling(self.npt_coupling))
        except ValueError:
            raise SpecError(f"unknown coupling {self.npt_coupling!r}; allowed: iso, aniso", key="protocol.npt_coupling") from None
        for f in dataclasses.fields(self):
            if f.name in ("thermostat", "stop_on_broken_chemistry", "relax_cell", "minimize_max_steps", "npt_coupling"):
                continue
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise SpecError(f"must be a finite number, got {value!r}", key=f"protocol.{f.name}")
            object.__setattr__(self, f.name, float(value))
        try:
            object.__setattr__(self, "thermostat", Thermostat(self.thermostat))
        except ValueError:
            allowed = ", ".join(t.value for t in Thermostat)
            raise SpecError(
                f"unknown thermostat {self.thermostat!r}; allowed: {allowed}", key="protocol.thermostat"
            ) from None
        if not 0.05 <= self.timestep_fs <= 5.0:
            raise SpecError(f"timestep_fs = {self.timestep_fs} outside 0.05-5 fs (Li needs <= ~2 fs)", key="protocol.timestep_fs")
        for name in ("production_ps", "sampling_interval_fs", "segment_ps", "thermostat_damping_fs",
                     "minimize_ftol_eV_A", "barostat_damping_fs"):
            if getattr(self, name) <= 0:
                raise SpecError(f"must be > 0, got {getattr(self, name)}", key=f"protocol.{name}")
        for name in ("equilibration_ps", "npt_ps", "minimize_etol"):
            if getattr(self, name) < 0:
                raise SpecError(f"must be >= 0, got {getattr(self, name)}", key=f"protocol.{name}")
        if not -1e5 <= self.pressure_bar <= 1e6:
            raise SpecError(f"{self.pressure_bar} bar is outside -1e5..1e6 bar", key="protocol.pressure_bar")
        for name, length_fs in (
            ("sampling_interval_fs", self.sampling_interval_fs),
            ("segment_ps", self.segment_ps * FS_PER_PS),
            ("production_ps", self.production_ps * FS_PER_PS),
            ("equilibration_ps", self.equilibration_ps * FS_PER_PS),
            ("npt_ps", self.npt_ps * FS_PER_PS),
        ):
            if not _is_multiple(length_fs, self.timestep_fs):
                raise SpecError(
                    f"{length_fs:g} fs is not a whole number of {self.timestep_fs:g} fs timesteps",
                    key=f"protocol.{name}",
                )
        if not _is_multiple(self.segment_ps * FS_PER_PS, self.sampling_interval_fs):
            raise SpecError(
                f"segment_ps = {self.segment_ps:g} must be a multiple of sampling_interval_fs = {self.sampling_interval_fs:g} fs",
                key="protocol.segment_ps",
            )
        if self.segment_ps > self.production_ps:
            raise SpecError(
                f"segment_ps = {self.segment_ps:g} is longer than production_ps = {self.production_ps:g}",
                key="protocol.segment_ps",
            )

    # Derived step counts -------------------------------------------------
    @property
    def equilibration_steps(self) -> int:
        return round(self.equilibration_ps * FS_PER_PS / self.timestep_fs)

    @property
    def production_steps(self) -> int:
        return round(self.production_ps * FS_PER_PS / self.timestep_fs)

    @property
    def sample_every_steps(self) -> int:
        return round(self.sampling_interval_fs / self.timestep_fs)

    @property
    def segment_steps(self) -> int:
        return round(self.segment_ps * FS_PER_PS / self.timestep_fs)

    @property
    def npt_steps(self) -> int:
        return round(self.npt_ps * FS_PER_PS / self.timestep_fs)

    @property
    def total_steps(self) -> int:
        return self.equilibration_steps + self.production_steps

    # The same lengths in ps (LAMMPS metal units, trajectory times) -------
    @property
    def timestep_ps(self) -> float:
        return self.timestep_fs / FS_PER_PS

    @property
    def sampling_interval_ps(self) -> float:
        """Time between trajectory frames, ps."""
        return self.sampling_interval_fs / FS_PER_PS

    @property
    def thermostat_damping_ps(self) -> float:
        return self.thermostat_damping_fs / FS_PER_PS

    @property
    def barostat_damping_ps(self) -> float:
        return self.barostat_damping_fs / FS_PER_PS

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["thermostat"] = self.thermostat.value
        d["npt_coupling"] = self.npt_coupling.value
        return d

    @classmethod
    def from_dict(cls, data: dict) -> MDProtocol:
        check_keys(data, (f.name for f in dataclasses.fields(cls)), where="protocol")
        return cls(**data)


def _is_multiple(length: float, unit: float) -> bool:
    n = length / unit
    return abs(n - round(n)) < 1e-6 and round(n) >= 0
