"""Canonical, typed state points: the identity of every job in the data space.

signac hashes the raw JSON of a state point, so ``600`` and ``600.0`` would be two jobs.
Everything is coerced and validated here before a job is opened.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from lpsens.errors import SpecError
from lpsens.vocabulary import (
    GLASS_X_RANGE,
    PHASE_X_LI2S,
    STATEPOINT_KEYS,
    X_DECIMALS,
    Constraint,
    Material,
    job_label,
    same_x,
)

__all__ = [
    "SCHEMA_VERSION",
    "Material",
    "Constraint",
    "StatePoint",
    "PHASE_X_LI2S",
    "derive_seed",
]

#: Version of the on-disk layout (state-point keys and job-document fields); see docs/formats.md.
SCHEMA_VERSION = 1


def _allowed(enum_cls) -> str:
    return ", ".join(repr(m.value) for m in enum_cls)


def coerce_enum(enum_cls, value, key):
    """``value`` as a member of ``enum_cls`` (by value), from a plain or numpy value.

    Raises
    ------
    SpecError
        For a value that is not one of the enum's (the allowed values are listed).
    """
    value = plain_value(value, key)
    try:
        return enum_cls(value)
    except ValueError:
        raise SpecError(f"unknown value {value!r}; allowed: {_allowed(enum_cls)}", key=key) from None


def plain_value(value, key):
    """A plain Python value from numpy scalars, 0-d arrays, bytes and other exact numeric types.

    ``np.int64(600)`` (from ``np.arange``), ``np.array(600)``, ``np.int32``, ``np.float64`` and
    ``Fraction``/``Decimal`` become ``int``/``float``; a ``np.float32`` becomes the float of its
    shortest decimal form (``np.float32(70.3)`` -> ``70.3``, not 70.30000305: the value the user
    wrote, hence the same job); ``np.bytes_``/``bytes`` become ``str``. Anything else is returned
    unchanged for the caller's own check.

    Raises
    ------
    SpecError
        For arrays of more than one value, complex numbers and undecodable bytes.
    """
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise SpecError(f"expected one value, got an array of shape {value.shape}", key=key)
        value = value[()]
    if isinstance(value, (bytes, np.bytes_)):
        try:
            return bytes(value).decode("ascii")
        except UnicodeDecodeError:
            raise SpecError(f"expected text or a number, got undecodable bytes {bytes(value)[:20]!r}", key=key) from None
    if isinstance(value, np.str_):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (complex, np.complexfloating)):
        raise SpecError(f"expected a real number, got {value!r}", key=key)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, np.floating):
        return float(str(value))  # shortest repr of its own precision: float32(70.3) -> 70.3
    if isinstance(value, (numbers.Rational, Decimal)):
        return float(value)
    return value


def coerce_int(value, key, *, minimum=None) -> int:
    """An integer from 600, 600.0, "600", np.int64(600), np.array(600) or np.float32(600.0);
    anything else (600.5, True, "hot") is an error.

    Raises
    ------
    SpecError
        For anything but a whole number, or one below ``minimum``.
    """
    value = plain_value(value, key)
    if isinstance(value, bool):
        raise SpecError(f"expected an integer, got {value!r}", key=key)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise SpecError(f"expected an integer, got {value!r}", key=key) from None
    if isinstance(value, float):
        if not math.isfinite(value) or value != round(value):
            raise SpecError(f"expected a whole number, got {value!r}", key=key)
        value = int(round(value))
    if not isinstance(value, int):
        raise SpecError(f"expected an integer, got {value!r} ({type(value).__name__})", key=key)
    if minimum is not None and value < minimum:
        raise SpecError(f"must be >= {minimum}, got {value}", key=key)
    return value


def coerce_float(value, key) -> float:
    """A finite float from a Python or numpy number, a 0-d array or a numeric string.

    Raises
    ------
    SpecError
        For anything but a finite real number.
    """
    value = plain_value(value, key)
    if isinstance(value, bool):
        raise SpecError(f"expected a number, got {value!r}", key=key)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise SpecError(f"expected a number, got {value!r}", key=key) from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpecError(f"expected a finite number, got {value!r}", key=key)
    return float(value)


@dataclass(frozen=True)
class StatePoint:
    """One (material, stoichiometry, temperature, replica, constraint) condition.

    Attributes
    ----------
    material : Material
    x_Li2S_mol_pct : float
        mol% Li2S, rounded to 0.01; fixed by the phase for crystals.
    temperature_K : int
    replica : int
    constraint : Constraint
    """

    material: Material
    x_Li2S_mol_pct: float
    temperature_K: int
    replica: int
    constraint: Constraint

    @classmethod
    def canonical(cls, material, x_Li2S_mol_pct, temperature_K, replica, constraint) -> StatePoint:
        """A validated state point with canonical types (int temperature and replica, x to 0.01 mol%).

        Raises
        ------
        SpecError
            For an unknown material or constraint, a temperature outside 50-3000 K, a glass x
            outside the glass range, or a crystal x other than its formula's.
        """
        material = coerce_enum(Material, material, "material")
        constraint = coerce_enum(Constraint, constraint, "constraint")
        temperature = coerce_int(temperature_K, "temperature_K", minimum=1)
        if not 50 <= temperature <= 3000:
            raise SpecError(f"{temperature} K is outside 50-3000 K", key="temperature_K")
        replica = coerce_int(replica, "replica", minimum=0)
        if material is Material.GLASS:
            if x_Li2S_mol_pct is None:
                raise SpecError("a glass needs its composition in mol% Li2S, e.g. 75", key="x_Li2S_mol_pct")
            x = round(coerce_float(x_Li2S_mol_pct, "x_Li2S_mol_pct"), X_DECIMALS)
            lo, hi = GLASS_X_RANGE
            if not lo <= x <= hi:
                raise SpecError(f"{x} mol% Li2S is outside the supported {lo:g}-{hi:g}", key="x_Li2S_mol_pct")
        else:
            x = PHASE_X_LI2S[material]
            if x_Li2S_mol_pct is not None and not same_x(coerce_float(x_Li2S_mol_pct, "x_Li2S_mol_pct"), x):
                raise SpecError(
                    f"{material.value} has x = {x:g} mol% Li2S by its formula, got {x_Li2S_mol_pct!r}; "
                    "leave x_Li2S_mol_pct out for crystals",
                    key="x_Li2S_mol_pct",
                )
        return cls(material, float(x), temperature, replica, constraint)

    @classmethod
    def from_dict(cls, data: dict) -> StatePoint:
        """A state point from its JSON form (``replica``/``constraint`` default to 0/none).

        Raises
        ------
        SpecError
            For unknown keys or invalid values (see :meth:`canonical`).
        """
        allowed = set(STATEPOINT_KEYS)
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise SpecError(f"unknown state-point key(s) {unknown}; allowed: {sorted(allowed)}")
        return cls.canonical(
            data.get("material"),
            data.get("x_Li2S_mol_pct"),
            data.get("temperature_K"),
            data.get("replica", 0),
            data.get("constraint", "none"),
        )

    def to_dict(self) -> dict:
        """The JSON state point stored by signac (plain types, fixed key set)."""
        return {
            "material": self.material.value,
            "x_Li2S_mol_pct": self.x_Li2S_mol_pct,
            "temperature_K": self.temperature_K,
            "replica": self.replica,
            "constraint": self.constraint.value,
        }

    @classmethod
    def from_job(cls, job) -> StatePoint:
        """The canonical state point of a signac job (``job.statepoint``), validated.

        Raises
        ------
        SpecError
            If the job's state point is not a valid lpsens state point.
        """
        return cls.from_dict(dict(job.cached_statepoint))

    def label(self) -> str:
        """Compact label, e.g. ``glass_x75_600K_none_r0`` (:func:`lpsens.vocabulary.job_label`)."""
        return job_label(self.to_dict())


def derive_seed(campaign_seed: int, sp: StatePoint) -> int:
    """A 31-bit seed from the campaign seed and the state point, stable across Python versions."""
    payload = json.dumps([campaign_seed, sp.to_dict()], sort_keys=True).encode()
    return int.from_bytes(hashlib.sha256(payload).digest()[:4], "little") & 0x7FFFFFFF
