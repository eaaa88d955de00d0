"""Shared fixtures: small campaign specs, temporary projects, and MD jobs on the bundled demo GAP."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lpsens_testing import MINI_SPEC

# One thread per process: the CI machine has 2 cores and MPI tests use both.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def mini_spec(tmp_path) -> Path:
    path = tmp_path / "mini.toml"
    path.write_text(MINI_SPEC)
    return path


# --------------------------------------------------------------------------- MD jobs (tests/md, `lpsens run`)
@pytest.fixture(scope="session")
def demo_info():
    from lpsens.potential import demo_potential_path, inspect_potential

    return inspect_potential(demo_potential_path())


@pytest.fixture(scope="session")
def toy_uf3(tmp_path_factory, demo_info):
    """A compiled-GAP stand-in (tests/uf3_toy.py) whose sidecar names the demo GAP."""
    from uf3_toy import write_toy_uf3

    from lpsens.potential import inspect_uf3

    return inspect_uf3(write_toy_uf3(tmp_path_factory.mktemp("uf3") / "toy.uf3", demo_info.sha256))


#: 20 equilibration + 60 production steps of 2 fs, 3 production segments, a frame every 10 steps.
SHORT = dict(timestep_fs=2.0, equilibration_ps=0.04, production_ps=0.12, sampling_interval_fs=20.0,
             segment_ps=0.04, thermostat="nose_hoover", thermostat_damping_fs=50.0)


@pytest.fixture
def make_job(tmp_path, demo_info):
    """Factory: a job of a fresh tmp signac project with a filled job document.

    ``uf3``: a ``UF3Info`` to record as the job's compiled GAP (backend ``uf3`` unless ``backend`` says).
    """
    import signac

    from lpsens.md.protocol import MDProtocol
    from lpsens.statepoint import SCHEMA_VERSION

    project = signac.init_project(tmp_path / "project")
    project.doc["lpsens_schema_version"] = SCHEMA_VERSION  # as `lpsens init` would

    def make(*, material="gamma_Li3PS4", x=75.0, temperature_K=600, replica=0, constraint="none",
             seed=7, min_atoms=16, uf3=None, backend=None, **protocol):
        sp = {"material": material, "x_Li2S_mol_pct": x, "temperature_K": temperature_K,
              "replica": replica, "constraint": constraint}
        job = project.open_job(sp).init()
        if uf3 is not None:  # the toy stand-in holds no P-S bonds: the chemistry check would stop it
            protocol.setdefault("stop_on_broken_chemistry", False)
        job.doc.update(
            seed=seed,
            protocol=MDProtocol(**{**SHORT, **protocol}).to_dict(),
            potential={"path": str(demo_info.path), "label": demo_info.label,
                       "sha256": demo_info.sha256, "bundled": True,
                       "backend": backend or ("auto" if uf3 is None else "uf3"),
                       "uf3_path": None if uf3 is None else str(uf3.path),
                       "uf3_sha256": None if uf3 is None else uf3.sha256, "ranks_per_task": 1},
            system={"min_atoms": min_atoms, "min_width_A": 0.0},
            status="pending",
        )
        return job

    return make
