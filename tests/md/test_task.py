"""run_task: trajectory contract, job document, frozen sublattices, bad input."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from lpsens.errors import MDError, PotentialError, StructureError
from lpsens.md.protocol import MDProtocol
from lpsens.md.task import run_task


def test_complete_run_writes_the_documented_trajectory(make_job):
    job = make_job()
    prot = MDProtocol.from_dict(job.doc["protocol"]())
    seen = []
    out = run_task(job, on_segment=lambda done, total: seen.append((done, total)))
    assert out.status == "done" and out.steps_done == prot.total_steps
    n_expected = prot.production_steps // prot.sample_every_steps + 1
    assert out.n_frames == n_expected
    with h5py.File(job.fn("trajectory.h5"), "r") as f:
        a = dict(f.attrs)
        assert a["format"] == "lpsens-trajectory" and a["format_version"] == 1
        assert a["n_frames"] == n_expected and bool(a["complete"])
        assert a["temperature_K"] == 600 and a["timestep_fs"] == prot.timestep_fs
        assert a["sampling_interval_fs"] == prot.sampling_interval_fs
        assert a["backend"] in ("quippy", "native") and a["constraint"] == "none"
        assert a["potential_sha256"] == job.doc["potential"]["sha256"]
        assert a["lammps_version"] > 20200000
        n_atoms = len(f["numbers"])
        assert f["positions"].shape == (n_expected, n_atoms, 3)
        np.testing.assert_allclose(f["time"][:], np.arange(n_expected) * prot.sampling_interval_fs / 1000)
        np.testing.assert_array_equal(f["step"][:], np.arange(n_expected) * prot.sample_every_steps)
        np.testing.assert_array_equal(f["thermo/time"][:], f["time"][:])
        T = f["thermo/temperature_K"][:]
        assert T.shape == (n_expected,) and np.all((T > 0) & np.isfinite(T))
        etot = f["thermo/total_energy_eV"][:]
        np.testing.assert_allclose(etot, f["thermo/potential_energy_eV"][:] + f["thermo/kinetic_energy_eV"][:])
        assert f["cell"].shape == (3, 3) and not f["frozen"][:].any()
    assert job.doc["progress_steps"] == job.doc["total_steps"] == prot.total_steps
    assert seen[-1] == (prot.total_steps, prot.total_steps)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    prov = job.doc["provenance"]
    assert prov["backend"] == a["backend"] and prov["potential"]["sha256"] == job.doc["potential"]["sha256"]
    assert prov["protocol"] == prot.to_dict() and prov["seed"] == 7
    assert os.path.getsize(job.fn("md.log")) > 0 and os.path.exists(job.fn("initial.extxyz"))

    again = run_task(job)
    assert again.status == "done" and again.steps_done == 0 and again.n_frames == n_expected


@pytest.mark.parametrize("constraint, z", [("frozen_S", 16), ("frozen_P", 15)])
def test_frozen_sublattice_stays_put_and_mobile_atoms_are_at_target_temperature(make_job, constraint, z):
    T0 = 600.0
    job = make_job(constraint=constraint, thermostat="csvr", min_atoms=32, equilibration_ps=0.1,
                   production_ps=0.2, segment_ps=0.1)
    run_task(job)
    with h5py.File(job.fn("trajectory.h5"), "r") as f:
        pos, frozen, numbers = f["positions"][:], f["frozen"][:], f["numbers"][:]
        T = f["thermo/temperature_K"][:]
    np.testing.assert_array_equal(frozen, numbers == z)
    # Frozen atoms: bit-identical in every frame; mobile atoms move.
    assert np.array_equal(pos[:, frozen], np.broadcast_to(pos[0, frozen], pos[:, frozen].shape))
    assert np.abs(pos[-1, ~frozen] - pos[0, ~frozen]).max() > 0.1
    # Canonical fluctuation of the instantaneous temperature of n_dof degrees of freedom:
    # sigma_T / T = sqrt(2 / n_dof). Samples 20 fs apart with a 50 fs thermostat are correlated;
    # count one independent sample per 2 damping times.
    n_mobile = int((~frozen).sum())
    n_dof = 3 * n_mobile  # no centre-of-mass constraint with a frozen sublattice
    sigma = T0 * np.sqrt(2.0 / n_dof)
    n_eff = max(1.0, 200.0 / (2 * 50.0))
    assert abs(T.mean() - T0) < 4 * sigma / np.sqrt(n_eff), (T.mean(), sigma)
    # Independent check from the checkpoint velocities: frozen atoms have v = 0 exactly, and the
    # mobile kinetic temperature is a canonical sample (within 4 sigma; 2 T0 would be ~7 sigma off).
    with h5py.File(job.fn("checkpoint.h5"), "r") as f:
        v = f["velocities"][:]
    assert np.all(v[frozen] == 0.0)
    from ase.data import atomic_masses
    from ase.units import _amu, _k

    m = atomic_masses[numbers[~frozen]] * _amu
    ke_J = 0.5 * np.sum(m[:, None] * (v[~frozen] * 100.0) ** 2)  # Å/ps = 100 m/s
    T_inst = 2 * ke_J / (n_dof * _k)
    assert abs(T_inst - T0) < 4 * sigma, T_inst


def test_corrupted_initial_structure_is_a_clear_error(make_job):
    job = make_job()
    with open(job.fn("initial.extxyz"), "w") as fh:
        fh.write("16\nLattice=\"garbage\nLi 0 0\n")
    with pytest.raises(StructureError, match="initial.extxyz.*delete it"):
        run_task(job)


def test_uncovered_species_is_a_potential_error(make_job):
    import ase.io

    from lpsens.structures import build_structure

    job = make_job()
    atoms = build_structure("gamma_Li3PS4", 75.0, 0, min_atoms=16)
    numbers = atoms.numbers.copy()
    numbers[np.flatnonzero(numbers == 16)[0]] = 34  # one Se
    atoms.numbers = numbers
    ase.io.write(job.fn("initial.extxyz"), atoms, format="extxyz")
    with pytest.raises(PotentialError, match=r"Se \(Z=34\)"):
        run_task(job)
    assert not job.isfile("trajectory.h5")


def test_missing_or_changed_potential_is_a_potential_error(make_job, tmp_path):
    job = make_job()
    job.doc["potential"] = {**job.doc["potential"](), "bundled": False, "path": str(tmp_path / "gone.xml")}
    with pytest.raises(PotentialError, match="not found"):
        run_task(job)
    job2 = make_job(seed=8)
    job2.doc["potential"] = {**job2.doc["potential"](), "sha256": "0" * 64}
    with pytest.raises(PotentialError, match="changed"):
        run_task(job2)


def test_temperature_runaway_is_an_md_error(make_job):
    """A strongly distorted cell at a 50 K target (the lowest a state point allows) releases ~0.1 eV/atom
    of potential energy in a few fs (~800 K), far more than 5 x the target temperature: the run must stop
    with MDError, not produce data. (Without the minimisation that normally removes such a distortion
    first.)"""
    import ase.io

    from lpsens.structures import build_structure

    job = make_job(temperature_K=50, minimize_max_steps=0)
    atoms = build_structure("gamma_Li3PS4", 75.0, 0, min_atoms=16)
    atoms.rattle(0.3, seed=1)
    ase.io.write(job.fn("initial.extxyz"), atoms, format="extxyz")
    with pytest.raises(MDError, match="exceeds 5 x the target"):
        run_task(job)
    assert not job.isfile("trajectory.h5")


def test_state_point_outside_the_campaign_ranges_is_refused(make_job):
    """The task reads its state point through StatePoint.from_job: a hand-made 10 K job is refused
    before any file is written."""
    from lpsens.errors import SpecError

    job = make_job(temperature_K=10)
    with pytest.raises(SpecError, match="10 K is outside 50-3000 K"):
        run_task(job)
    assert not job.isfile("initial.extxyz") and not job.isfile("trajectory.h5")
