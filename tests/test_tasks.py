"""The task registry: which function runs a job of a data space."""

import pytest
import signac

from lpsens.errors import LaunchError
from lpsens.launch.synthetic import sleep_task
from lpsens.tasks import name_of, register, resolve, task_function_for


def test_md_is_the_default_kind(tmp_path):
    from lpsens.md.task import run_task

    project = signac.init_project(str(tmp_path))
    assert task_function_for(project) is run_task
    project.doc["kind"] = "md"
    assert task_function_for(project) is run_task


def test_registered_kind_and_unknown_kind(tmp_path):
    project = signac.init_project(str(tmp_path))
    project.doc["kind"] = "synthetic-test"
    with pytest.raises(LaunchError, match="no task registered.*'synthetic-test'"):
        task_function_for(project)
    register("synthetic-test", "lpsens.launch.synthetic:sleep_task")
    assert task_function_for(project) is sleep_task


def test_names_round_trip_and_closures_refused():
    assert resolve(name_of(sleep_task)) is sleep_task
    with pytest.raises(LaunchError, match="importable by name"):
        name_of(lambda job, **kw: None)
    with pytest.raises(LaunchError, match="cannot import task"):
        resolve("lpsens.launch.synthetic:no_such_task")
