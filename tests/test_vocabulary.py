"""The domain facts stated once: phases and their x, ranges, constraints, keys, labels."""

import pytest

from lpsens.statepoint import StatePoint
from lpsens.vocabulary import (
    CRYSTAL_X_MOL_PCT,
    GLASS_X_RANGE,
    LI3PS4_PHASES,
    PHASE_X_LI2S,
    PHASES,
    STATEPOINT_KEYS,
    Constraint,
    Material,
    describe,
    job_label,
    results_group,
    same_x,
    series_label,
)


def test_x_follows_from_the_formula_unit():
    assert CRYSTAL_X_MOL_PCT == {"alpha_Li3PS4": 75.0, "beta_Li3PS4": 75.0, "gamma_Li3PS4": 75.0,
                                 "Li7P3S11": 70.0, "Li4P2S6": 66.67, "Li2S": 100.0}
    # Li7P3S11 = 7 Li2S : 3 P2S5 over 2 formula units -> 70 mol% Li2S
    assert PHASES["Li7P3S11"].formula_unit == {"Li": 7, "P": 3, "S": 11}


def test_every_crystal_material_of_a_state_point_has_its_phase():
    assert set(PHASE_X_LI2S) == set(Material) - {Material.GLASS}
    assert LI3PS4_PHASES == ("alpha_Li3PS4", "beta_Li3PS4", "gamma_Li3PS4")
    assert GLASS_X_RANGE == (50.0, 80.0)


@pytest.mark.parametrize("a, b, same", [(75, 75.0, True), (75.004, 75.0, True), (66.666667, 66.67, True),
                                        (75.01, 75.0, False), (70.0, 75.0, False)])
def test_same_x_is_equality_to_0_01(a, b, same):
    assert same_x(a, b) is same


def test_constraints_freeze_their_sublattice():
    assert [c.frozen_Z for c in Constraint] == [None, 16, 15]


def test_the_labels_of_a_state_point():
    glass = StatePoint.canonical("glass", 75, 600, 2, "frozen_S")
    crystal = StatePoint.canonical("beta_Li3PS4", None, 500, 0, "none")
    assert set(glass.to_dict()) == set(STATEPOINT_KEYS)
    assert job_label(glass.to_dict()) == glass.label() == "glass_x75_600K_frozen_S_r2"
    assert crystal.label() == "beta_Li3PS4_500K_none_r0"
    assert describe(glass.to_dict()) == "glass x=75.0 600 K frozen_S r2"
    assert describe({"material": "Li7P3S11"}) == "Li7P3S11 None K None rNone"
    assert series_label("glass", 67.0) == "glass 67Li2S" and series_label("beta_Li3PS4", 75.0) == "beta-Li3PS4"
    assert results_group(glass.to_dict()) == "statepoints/glass/x75.00/frozen_S/T600K/replica2"
