import numpy as np
import pytest
from ase.build import bulk

from lpsens.analysis import RDF, TrajectoryReader
from lpsens.analysis.rdf import perpendicular_widths_A
from lpsens.analysis.synthetic import write_trajectory
from lpsens.errors import AnalysisError


def test_ideal_gas_normalises_to_one(tmp_path):
    rng = np.random.default_rng(0)
    cell = np.array([[14.0, 0, 0], [3.0, 13.0, 0], [-2.0, 1.5, 15.0]])  # triclinic
    pos = rng.random((50, 150, 3)) @ cell + 30.0 * rng.integers(-1, 2, (50, 150, 3))  # "unwrapped"
    path = write_trajectory(tmp_path / "gas.h5", pos, cell, np.full(150, 16))
    with TrajectoryReader(path) as rd:
        rdf = RDF(bins=40, max_frames=50).compute(rd)
    assert rdf.r_max_used_A == pytest.approx(0.5 * perpendicular_widths_A(cell).min())
    g = rdf.g[rdf.r_A > 2.0]
    assert np.mean(g) == pytest.approx(1.0, abs=0.03)
    assert np.all(np.abs(g - 1) < 0.25)


def test_fcc_lattice_first_shell(tmp_path):
    atoms = bulk("Cu", "fcc", a=4.0, cubic=True).repeat((4, 4, 4))
    atoms.set_atomic_numbers([16] * len(atoms))
    rng = np.random.default_rng(1)
    pos = atoms.positions + 0.05 * rng.standard_normal((10, len(atoms), 3))
    path = write_trajectory(tmp_path / "fcc.h5", pos, atoms.cell[:], atoms.numbers)
    with TrajectoryReader(path) as rd:
        rdf = RDF(bins=160).compute(rd)
    r, g = rdf.r_A, rdf.g
    dr = r[1] - r[0]
    rho = len(atoms) / atoms.get_volume()
    first = r < 0.5 * (4.0 / np.sqrt(2) + 4.0)  # between first (2.83 A) and second (4 A) shells
    coordination = np.sum(4 * np.pi * r[first] ** 2 * g[first] * dr) * rho
    assert coordination == pytest.approx(12.0, rel=0.02)
    assert r[np.argmax(g)] == pytest.approx(4.0 / np.sqrt(2), abs=dr)


def test_r_max_beyond_half_width_refused(tmp_path):
    cell = np.diag([10.0, 10.0, 10.0])
    path = write_trajectory(tmp_path / "g.h5", np.random.default_rng(0).random((2, 10, 3)) * 10, cell, np.full(10, 16))
    with TrajectoryReader(path) as rd, pytest.raises(AnalysisError, match="half the shortest"):
        RDF(r_max_A=6.0).compute(rd)
