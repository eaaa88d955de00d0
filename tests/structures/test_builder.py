"""build_structure: the one entry point from (material, x, seed) to ase.Atoms, and its refusals."""

import math

import numpy as np
import pytest

from lpsens.errors import StructureError
from lpsens.structures import MATERIALS, build_structure
from lpsens.vocabulary import CRYSTAL_X_MOL_PCT, Material


def test_materials_are_the_state_point_materials_and_the_reference_crystals():
    assert set(MATERIALS) == {m.value for m in Material} | set(CRYSTAL_X_MOL_PCT)
    assert len(MATERIALS) == len(set(MATERIALS)) and {"Li4P2S6", "Li2S", "glass"} <= set(MATERIALS)


def test_a_crystal_records_its_state_point_and_composition():
    atoms = build_structure("gamma_Li3PS4", 75.0, 3, min_atoms=16)
    assert atoms.info["material"] == "gamma_Li3PS4" and atoms.info["seed"] == 3
    assert atoms.info["x_Li2S_mol_pct_realised"] == CRYSTAL_X_MOL_PCT["gamma_Li3PS4"] == 75.0
    assert all(atoms.pbc) and len(atoms) >= 16
    symbols = atoms.get_chemical_symbols()
    assert symbols.count("Li") == 3 * symbols.count("P") and symbols.count("S") == 4 * symbols.count("P")


def test_the_same_inputs_give_the_same_structure():
    a = build_structure("beta_Li3PS4", 75.0, 11, min_atoms=32)
    b = build_structure("beta_Li3PS4", 75.0, 11, min_atoms=32)
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_array_equal(a.numbers, b.numbers)


def test_an_enum_material_is_accepted():
    atoms = build_structure(Material.GAMMA_LI3PS4, 75, 0, min_atoms=16)
    assert atoms.info["material"] == "gamma_Li3PS4"


def test_unknown_material_lists_the_allowed_ones():
    with pytest.raises(StructureError, match="unknown material 'delta_Li3PS4'; allowed: alpha_Li3PS4") as exc:
        build_structure("delta_Li3PS4", 75.0, 0)
    assert exc.value.key == "material"


@pytest.mark.parametrize("x", [70.0, 75.02, math.nan, "much"])
def test_a_crystal_at_another_composition_is_refused(x):
    with pytest.raises(StructureError) as exc:
        build_structure("gamma_Li3PS4", x, 0, min_atoms=16)
    assert exc.value.key == "x_Li2S_mol_pct"


def test_a_composition_equal_to_0_01_mol_pct_is_the_same_composition():
    atoms = build_structure("gamma_Li3PS4", 75.004, 0, min_atoms=16)  # rounds to 75.00, as in a state point
    assert atoms.info["x_Li2S_mol_pct_realised"] == 75.0


@pytest.mark.parametrize("kwargs, key", [
    ({"seed": -1}, "seed"),
    ({"seed": True}, "seed"),
    ({"min_atoms": -5}, "min_atoms"),
    ({"min_width_A": math.inf}, "min_width_A"),
    ({"p2s6_fraction": 0.2}, "p2s6_fraction"),
])
def test_bad_sizes_seeds_and_glass_options_are_refused(kwargs, key):
    args = {"seed": 0, **kwargs}
    seed = args.pop("seed")
    with pytest.raises(StructureError) as exc:
        build_structure("gamma_Li3PS4", 75.0, seed, **args)
    assert exc.value.key == key
