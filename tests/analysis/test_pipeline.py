"""The per-job pipeline: analyze_trajectory/analyze_job/analyze_project, settings precedence, the opener."""

import json

import pytest
import signac

from lpsens.analysis.pipeline import (
    RESULT_FORMAT,
    analyze_job,
    analyze_project,
    campaign_settings_of,
    uncertainty_flags,
)
from lpsens.analysis.settings import AnalysisSettings
from lpsens.analysis.synthetic import write_random_walk
from lpsens.errors import AnalysisError, ProjectError
from lpsens.statepoint import SCHEMA_VERSION

SP = {"material": "glass", "x_Li2S_mol_pct": 75.0, "temperature_K": 650, "replica": 0, "constraint": "none"}


def _project(root, analysis_settings=None):
    project = signac.init_project(str(root))
    project.doc["lpsens_schema_version"] = SCHEMA_VERSION  # as `lpsens init` would
    if analysis_settings is not None:
        project.doc["analysis_settings"] = analysis_settings
    job = project.open_job(SP).init()
    write_random_walk(job.fn("trajectory.h5"), n_frames=1200, n_walkers=8, n_framework=8, temperature_K=600.0)
    job.doc["status"] = "done"
    return project, job


def _settings_used(job) -> dict:
    with open(job.fn("analysis.json")) as fh:
        return json.load(fh)["settings"]


def test_analyze_project_uses_the_campaign_settings_from_python(tmp_path):
    project, job = _project(tmp_path / "p", {"fit_start_ps": 3.0, "n_blocks": 4})
    report = analyze_project(project.path)
    assert report.analysed == [job.id]
    used = _settings_used(job)
    assert used["fit_start_ps"] == 3.0 and used["n_blocks"] == 4


def test_overrides_come_after_the_campaign_settings(tmp_path):
    project, job = _project(tmp_path / "p", {"fit_start_ps": 3.0, "n_blocks": 4})
    analyze_project(project.path, overrides={"n_blocks": 6})
    used = _settings_used(job)
    assert used["fit_start_ps"] == 3.0 and used["n_blocks"] == 6


def test_explicit_settings_are_used_as_given(tmp_path):
    project, job = _project(tmp_path / "p", {"fit_start_ps": 3.0})
    analyze_project(project.path, AnalysisSettings(n_blocks=5))
    used = _settings_used(job)
    assert used["fit_start_ps"] == AnalysisSettings().fit_start_ps and used["n_blocks"] == 5
    with pytest.raises(AnalysisError, match="not both"):
        analyze_project(project.path, AnalysisSettings(), overrides={"n_blocks": 6}, force=True)


def test_analyze_project_refuses_a_project_that_is_not_lpsens(tmp_path):
    signac.init_project(str(tmp_path / "plain"))
    with pytest.raises(ProjectError, match="not an lpsens one"):
        analyze_project(tmp_path / "plain")
    with pytest.raises(ProjectError, match="no lpsens project"):
        analyze_project(tmp_path / "nothing")


def test_analyze_job_takes_the_temperature_from_the_state_point(tmp_path):
    project, job = _project(tmp_path / "p")
    result = analyze_job(job)  # the file says 600 K; the job is at 650 K
    assert result["format"] == RESULT_FORMAT and result["temperature_K"] == 650.0
    assert result["statepoint"] == SP and job.doc["analysis"]["temperature_K"] == 650.0


def test_campaign_settings_of_a_trajectory(tmp_path):
    project, job = _project(tmp_path / "p", {"n_blocks": 4})
    assert campaign_settings_of(job.fn("trajectory.h5")) == {"n_blocks": 4}
    loose = write_random_walk(tmp_path / "loose.h5", n_frames=10, n_walkers=2, n_framework=0)
    assert campaign_settings_of(loose) == {}


@pytest.mark.parametrize("value, error, hops, flags", [
    (1.0, 0.1, "ok", ""),
    (1.0, 2.0, "ok", "error>value"),
    (1.0, 0.1, "poor", "few-hops"),
    (1.0, 2.0, "none", "error>value;no-hops"),
])
def test_uncertainty_flags(value, error, hops, flags):
    assert uncertainty_flags(value, error, hops) == flags


def test_the_result_holds_every_key_the_vocabulary_states(tmp_path):
    """The result keys gather, status and the job document rely on (lpsens.vocabulary) are the ones
    the pipeline writes."""
    from lpsens.vocabulary import (
        DYNAMICS_KEYS,
        RESULT_ATTRIBUTE_KEYS,
        RESULT_REQUIRED_KEYS,
        SUMMARY_KEYS,
    )

    project, job = _project(tmp_path / "p")
    result = analyze_job(job)
    missing = [k for k in (*RESULT_REQUIRED_KEYS, *RESULT_ATTRIBUTE_KEYS, *SUMMARY_KEYS, *DYNAMICS_KEYS)
               if k not in result]
    assert not missing
    assert set(job.doc["analysis"]()) == set(SUMMARY_KEYS)
