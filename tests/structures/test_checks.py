"""check_structure rejects broken structures with a message naming the failed check."""

import numpy as np
import pytest

from lpsens.errors import StructureError
from lpsens.structures import build_structure, check_structure


@pytest.fixture
def gamma():
    return build_structure("gamma_Li3PS4", 75.0, seed=0, min_atoms=100)


def test_valid_structure_passes(gamma):
    report = check_structure(gamma, expected_formula={"Li": 48, "P": 16, "S": 64}, density_g_cm3_expected=1.93,
                             density_rtol=0.01)
    assert report.charge_e == 0 and report.anion_counts == {"PS4": 16}


def test_missing_li_breaks_charge(gamma):
    del gamma[0]
    with pytest.raises(StructureError, match="formal charge is -1"):
        check_structure(gamma)


def test_wrong_formula(gamma):
    with pytest.raises(StructureError, match="composition"):
        check_structure(gamma, expected_formula={"Li": 47, "P": 16, "S": 64})


def test_overlap_is_found(gamma):
    sym = np.array(gamma.get_chemical_symbols())
    li = np.nonzero(sym == "Li")[0]
    gamma.positions[li[0]] = gamma.positions[li[1]] + [1.0, 0, 0]
    with pytest.raises(StructureError, match="Li-Li distance"):
        check_structure(gamma)


def test_density_mismatch(gamma):
    gamma.set_cell(gamma.cell * 1.02, scale_atoms=True)
    with pytest.raises(StructureError, match="density"):
        check_structure(gamma, density_g_cm3_expected=1.93, density_rtol=0.01)


def test_stretched_p_s_bond(gamma):
    sym = np.array(gamma.get_chemical_symbols())
    p = np.nonzero(sym == "P")[0][0]
    d = gamma.get_distances(p, np.nonzero(sym == "S")[0], mic=True, vector=True)
    s = np.nonzero(sym == "S")[0][np.argmin(np.linalg.norm(d, axis=1))]
    v = d[np.argmin(np.linalg.norm(d, axis=1))]
    gamma.positions[s] += 0.15 * v / np.linalg.norm(v)
    with pytest.raises(StructureError, match="P-S bond lengths"):
        check_structure(gamma)


def test_non_periodic(gamma):
    gamma.pbc = False
    with pytest.raises(StructureError, match="periodic"):
        check_structure(gamma)
