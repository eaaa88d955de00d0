"""The MD protocol: typed, validated settings with units in their names."""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass

from lpsens.errors import SpecError

__all__ = ["Thermostat", "MDProtocol"]


class Thermostat(str, enum.Enum):
    """Thermostats available in LAMMPS for the NVT runs."""

    NOSE_HOOVER = "nose_hoover"  # fix nvt (Nose-Hoover chain)
    CSVR = "csvr"  # fix temp/csvr + fix nve (Bussi canonical sampling velocity rescaling)


@dataclass(frozen=True)
class MDProtocol:
    """NVT MD settings (LAMMPS ``units metal``).

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
    """

    timestep_fs: float = 2.0
    equilibration_ps: float = 5.0
    production_ps: float = 100.0
    sampling_interval_fs: float = 100.0
    segment_ps: float = 10.0
    thermostat: Thermostat = Thermostat.NOSE_HOOVER
    thermostat_damping_fs: float = 100.0
    stop_on_broken_chemistry: bool = True

    def __post_init__(self):
        if not isinstance(self.stop_on_broken_chemistry, bool):
            raise SpecError(f"must be true or false, got {self.stop_on_broken_chemistry!r}",
                            key="protocol.stop_on_broken_chemistry")
        for f in dataclasses.fields(self):
            if f.name in ("thermostat", "stop_on_broken_chemistry"):
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
        for name in ("production_ps", "sampling_interval_fs", "segment_ps", "thermostat_damping_fs"):
            if getattr(self, name) <= 0:
                raise SpecError(f"must be > 0, got {getattr(self, name)}", key=f"protocol.{name}")
        if self.equilibration_ps < 0:
            raise SpecError(f"must be >= 0, got {self.equilibration_ps}", key="protocol.equilibration_ps")
        for name, length_fs in (
            ("sampling_interval_fs", self.sampling_interval_fs),
            ("segment_ps", self.segment_ps * 1000.0),
            ("production_ps", self.production_ps * 1000.0),
            ("equilibration_ps", self.equilibration_ps * 1000.0),
        ):
            if not _is_multiple(length_fs, self.timestep_fs):
                raise SpecError(
                    f"{length_fs:g} fs is not a whole number of {self.timestep_fs:g} fs timesteps",
                    key=f"protocol.{name}",
                )
        if not _is_multiple(self.segment_ps * 1000.0, self.sampling_interval_fs):
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
        return round(self.equilibration_ps * 1000.0 / self.timestep_fs)

    @property
    def production_steps(self) -> int:
        return round(self.production_ps * 1000.0 / self.timestep_fs)

    @property
    def sample_every_steps(self) -> int:
        return round(self.sampling_interval_fs / self.timestep_fs)

    @property
    def segment_steps(self) -> int:
        return round(self.segment_ps * 1000.0 / self.timestep_fs)

    @property
    def total_steps(self) -> int:
        return self.equilibration_steps + self.production_steps

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["thermostat"] = self.thermostat.value
        return d

    @classmethod
    def from_dict(cls, data: dict) -> MDProtocol:
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise SpecError(
                f"unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}",
                key="protocol",
            )
        return cls(**data)


def _is_multiple(length: float, unit: float) -> bool:
    n = length / unit
    return abs(n - round(n)) < 1e-6 and round(n) >= 0
