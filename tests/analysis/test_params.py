"""The analysis objects say what they are: parameters and whether they were computed."""

import pytest

from lpsens.analysis import RDF, AnionComposition, ArrheniusFit, NernstEinstein, TrajectoryReader
from lpsens.analysis.synthetic import write_random_walk


def test_repr_shows_the_parameters_before_and_after_compute():
    fit = ArrheniusFit(confidence=0.9)
    assert repr(fit) == "ArrheniusFit(confidence=0.9) (not computed)"
    fit.compute([500, 600, 700, 800], [1e-4, 3e-4, 8e-4, 1.6e-3], [1e-5, 3e-5, 8e-5, 1.6e-4])
    assert repr(fit) == "ArrheniusFit(confidence=0.9) (computed)"
    ne = NernstEinstein(10, 1000.0, 600.0)
    assert repr(ne).startswith("NernstEinstein(n_ions=10, volume_A3=1000.0, temperature_K=600.0, charge_number=1")
    assert repr(ne.compute(1e-5, 1e-6)).endswith("(computed)")


@pytest.mark.parametrize("obj, text", [
    (RDF(bins=50), "RDF(bins=50, r_max_A=None, pair=(16, 16), max_frames=200) (not computed)"),
    (AnionComposition(cutoff_PS_A=2.4), "AnionComposition(cutoff_PS_A=2.4, cutoff_PP_A=2.6, max_frames=200) (not computed)"),
])
def test_repr_of_constructed_objects(obj, text):
    assert repr(obj) == text


def test_repr_of_a_reader(tmp_path):
    path = write_random_walk(tmp_path / "t.h5", n_frames=12, n_walkers=3, n_framework=2)
    with TrajectoryReader(path) as reader:
        assert repr(reader) == f"TrajectoryReader({str(path)!r}, n_frames=12, n_atoms=5)"
