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
