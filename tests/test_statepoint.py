import json
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from lpsens.errors import SpecError
from lpsens.statepoint import Constraint, Material, StatePoint, derive_seed


@pytest.mark.parametrize("T", [600, 600.0, "600", " 600 "])
def test_temperature_forms_give_one_state_point(T):
    sp = StatePoint.canonical("glass", 75, T, 0, "none")
    assert sp.to_dict() == {
        "material": "glass",
        "x_Li2S_mol_pct": 75.0,
        "temperature_K": 600,
        "replica": 0,
        "constraint": "none",
    }
    assert isinstance(sp.to_dict()["temperature_K"], int)


def test_crystal_x_is_fixed_by_phase():
    assert StatePoint.canonical("Li7P3S11", None, 500, 0, "none").x_Li2S_mol_pct == 70.0
    assert StatePoint.canonical("beta_Li3PS4", 75, 500, 0, "none").x_Li2S_mol_pct == 75.0
    with pytest.raises(SpecError, match="70"):
        StatePoint.canonical("beta_Li3PS4", 70, 500, 0, "none")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature_K": 600.5}, "whole number"),
        ({"temperature_K": True}, "integer"),
        ({"temperature_K": "hot"}, "integer"),
        ({"material": "delta_Li3PS4"}, "allowed: 'alpha_Li3PS4'"),
        ({"constraint": "frozen_Li"}, "frozen_S"),
        ({"replica": -1}, ">= 0"),
        ({"x_Li2S_mol_pct": 90}, "50-80"),
    ],
)
def test_bad_state_points(kwargs, match):
    base = {"material": "glass", "x_Li2S_mol_pct": 75, "temperature_K": 600, "replica": 0, "constraint": "none"}
    with pytest.raises(SpecError, match=match):
        StatePoint.from_dict({**base, **kwargs})


def test_seeds_differ_per_replica_and_are_stable():
    a = StatePoint.canonical(Material.GLASS, 75, 600, 0, Constraint.NONE)
    b = StatePoint.canonical(Material.GLASS, 75, 600, 1, Constraint.NONE)
    assert derive_seed(1, a) != derive_seed(1, b)
    assert derive_seed(1, a) == derive_seed(1, StatePoint.canonical("glass", "75", 600.0, 0, "none"))
    assert derive_seed(1, a) != derive_seed(2, a)


_REF = StatePoint.canonical("glass", 70.3, 600, 1, "none")


@pytest.mark.parametrize("x, T, replica", [
    (70.3, np.arange(500, 700, 100)[1], np.int32(1)),             # np.int64 from np.arange
    (np.float64(70.3), np.array(600), np.array(1, dtype=np.uint8)),  # 0-d arrays (unyt, h5py reads)
    (np.float32(70.3), np.float64(600.0), np.int16(1)),           # float32 rounds to what was written
    (np.array(np.float32(70.3)), np.float32(600.0), Fraction(1)),
    (np.str_("70.3"), np.bytes_(b"600"), "1"),
    (Decimal("70.30"), 600, np.uint64(1)),
])
def test_exact_numpy_and_numeric_types_give_one_job(x, T, replica):
    sp = StatePoint.canonical(np.str_("glass"), x, T, replica, np.bytes_(b"none"))
    assert sp == _REF
    assert json.dumps(sp.to_dict()) == json.dumps(_REF.to_dict())  # signac hashes this JSON
    assert derive_seed(7, sp) == derive_seed(7, _REF)
    assert type(sp.temperature_K) is int and type(sp.x_Li2S_mol_pct) is float


@pytest.mark.parametrize("key, value, match", [
    ("temperature_K", np.float32(600.5), "whole number"),
    ("temperature_K", np.array([600, 700]), r"array of shape \(2,\)"),
    ("temperature_K", np.bool_(True), "integer"),
    ("x_Li2S_mol_pct", np.complex128(75 + 0j), "real number"),
    ("x_Li2S_mol_pct", np.float64("nan"), "finite"),
    ("replica", np.float64(0.5), "whole number"),
])
def test_inexact_or_non_scalar_values_refused_clearly(key, value, match):
    base = {"material": "glass", "x_Li2S_mol_pct": 75, "temperature_K": 600, "replica": 0, "constraint": "none"}
    with pytest.raises(SpecError, match=match) as err:
        StatePoint.from_dict({**base, key: value})
    assert err.value.key == key
