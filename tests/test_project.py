"""The signac data space: idempotent and incremental init, canonical identity, signac queries."""

import json
import subprocess
import sys

import pytest
import signac
from lpsens_testing import MINI_SPEC, run_cli

from lpsens.campaign import load_campaign
from lpsens.errors import ProjectError
from lpsens.project import find_job, init_project, open_project
from lpsens.statepoint import SCHEMA_VERSION


def test_init_is_idempotent(mini_spec, tmp_path):
    root = tmp_path / "p"
    first = init_project(load_campaign(mini_spec), root)
    assert (first.added, first.existing) == (8, 0)
    project = open_project(root)
    docs_before = {job.id: dict(job.doc) for job in project}
    second = init_project(load_campaign(mini_spec), root)
    assert (second.added, second.existing) == (0, 8)
    assert {job.id: dict(job.doc) for job in open_project(root)} == docs_before
    assert project.doc["lpsens_schema_version"] == SCHEMA_VERSION


def test_init_extends_without_touching_existing_jobs(mini_spec, tmp_path):
    root = tmp_path / "p"
    init_project(load_campaign(mini_spec), root)
    project = open_project(root)
    some = next(iter(project))
    some.doc["status"] = "done"  # a finished job must survive re-init
    bigger = tmp_path / "bigger.toml"
    bigger.write_text(MINI_SPEC.replace("[600, 700]", "[600, 700, 800]"))
    report = init_project(load_campaign(bigger), root)
    assert (report.added, report.existing) == (2, 8)
    assert project.open_job(id=some.id).doc["status"] == "done"
    assert len(project) == 10


def test_equivalent_spellings_give_one_job(tmp_path):
    root = tmp_path / "p"
    for i, T in enumerate(["600", "600.0", '"600"']):
        spec = tmp_path / f"s{i}.toml"
        spec.write_text(MINI_SPEC.replace("[600, 700]", f"[{T}]"))
        init_project(load_campaign(spec), root)
    project = open_project(root)
    gamma = list(project.find_jobs({"material": "gamma_Li3PS4"}))
    assert len(gamma) == 2  # two replicas, one temperature
    assert all(type(job.sp.temperature_K) is int for job in gamma)


@pytest.mark.parametrize(
    "old, new, field",
    [
        ("production_ps = 0.4", "production_ps = 0.8", "protocol"),
        ("seed = 7", "seed = 8", "seed"),
        ("min_atoms = 16", "min_atoms = 32", "system"),
    ],
)
def test_changed_protocol_cannot_mix_results(mini_spec, tmp_path, old, new, field):
    root = tmp_path / "p"
    init_project(load_campaign(mini_spec), root)
    changed = tmp_path / "changed.toml"
    changed.write_text(MINI_SPEC.replace(old, new) + '\n[[material]]\nname = "Li7P3S11"\ntemperatures_K = [500]\n')
    with pytest.raises(ProjectError, match=f"different '{field}'"):
        init_project(load_campaign(changed), root)
    assert len(open_project(root)) == 8  # nothing was added


def test_job_document_records_identity_and_status(mini_spec, tmp_path):
    root = tmp_path / "p"
    init_project(load_campaign(mini_spec), root)
    job = next(iter(open_project(root)))
    doc = job.doc
    assert doc["status"] == "pending"
    assert len(doc["potential"]["sha256"]) == 64
    assert doc["protocol"]["timestep_fs"] == 2.0
    assert doc["total_steps"] == (100 + 400) // 2
    seeds = {j.doc["seed"] for j in open_project(root)}
    assert len(seeds) == 8


def test_open_project_errors(tmp_path):
    with pytest.raises(ProjectError, match="lpsens init"):
        open_project(tmp_path)
    signac.init_project(str(tmp_path / "plain"))
    with pytest.raises(ProjectError, match="not an lpsens one"):
        open_project(tmp_path / "plain")


def test_init_refuses_a_training_campaign(mini_spec, tmp_path):
    """MD jobs in a training campaign's data space would be tasks its launches cannot run."""
    project = signac.init_project(str(tmp_path / "t"))
    project.doc.update({"lpsens_schema_version": SCHEMA_VERSION, "kind": "training"})
    with pytest.raises(ProjectError, match="is a training campaign"):
        init_project(load_campaign(mini_spec), tmp_path / "t")
    assert len(project) == 0


def test_find_job_by_prefix(mini_spec, tmp_path):
    init_project(load_campaign(mini_spec), tmp_path / "p")
    project = open_project(tmp_path / "p")
    job = next(iter(project))
    assert find_job(project, job.id[:12]).id == job.id
    with pytest.raises(ProjectError, match="no job"):
        find_job(project, "zzzz")


def test_plain_signac_queries(mini_spec, tmp_path):
    root = tmp_path / "p"
    run_cli("init", mini_spec, "--root", root, check=True)
    project = signac.get_project(str(root))
    failed = next(iter(project.find_jobs({"material": "glass", "constraint": "frozen_S"})))
    failed.doc.update({"status": "failed", "reason": "lost atoms"})
    signac_exe = [sys.executable, "-c", "import sys; from signac.__main__ import main; sys.argv[0]='signac'; sys.exit(main())"]
    out = subprocess.run(
        [*signac_exe, "find", json.dumps({"doc.status": "failed"})],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert out == [failed.id]
    out = subprocess.run(
        [*signac_exe, "find", "material", "glass", "temperature_K", "600"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert len(out) == 4
    out = subprocess.run(
        [*signac_exe, "find", "doc.status", "pending", "constraint", "frozen_S"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert len(out) == 1
    assert len(list(project.find_jobs({"doc.status": "pending"}))) == 7


def test_jobs_created_before_stop_on_broken_chemistry_extend_cleanly(mini_spec, tmp_path):
    root = tmp_path / "p"
    init_project(load_campaign(mini_spec), root)
    for job in open_project(root):  # a project made before the setting existed
        proto = dict(job.doc["protocol"])
        del proto["stop_on_broken_chemistry"]
        job.doc["protocol"] = proto
    init_project(load_campaign(mini_spec), root)  # same spec: accepted, nothing added
    assert len(open_project(root)) == 8
