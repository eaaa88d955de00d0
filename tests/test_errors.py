import pytest

from lpsens.errors import AnalysisError, LaunchError, SpecError, check_keys


def test_check_keys_accepts_known_keys():
    check_keys({"a": 1, "bb": 2}, ["a", "bb", "c"], where="t")


def test_check_keys_suggests_the_closest_valid_key():
    with pytest.raises(SpecError) as err:
        check_keys({"timestep": 1.0}, ["timestep_fs", "segment_ps"], where="protocol", file="x.toml")
    assert str(err.value) == ("x.toml: unknown key 'protocol.timestep' — did you mean 'timestep_fs'? "
                              "Valid keys: segment_ps, timestep_fs")
    assert err.value.key is None and err.value.file == "x.toml"


def test_check_keys_without_a_close_key_lists_the_valid_ones():
    with pytest.raises(AnalysisError) as err:
        check_keys({"zzz": 1}, ["n_blocks", "fit_start_ps"], where="analysis", error=AnalysisError)
    assert str(err.value) == "unknown key 'analysis.zzz'. Valid keys: fit_start_ps, n_blocks"


def test_check_keys_names_every_unknown_key():
    with pytest.raises(SpecError) as err:
        check_keys({"nodez": 1, "qqq": 2, "nodes": 1}, ["nodes", "qos"])
    assert str(err.value) == "unknown keys 'nodez' (did you mean 'nodes'?), 'qqq'. Valid keys: nodes, qos"


def test_option_is_shown_as_typed_and_key_as_a_key():
    assert str(LaunchError("bad", option="--walltime")) == "--walltime: bad"
    assert str(SpecError("bad", file="s.toml", key="protocol.timestep_fs")) == "s.toml: key 'protocol.timestep_fs': bad"


def test_lpsens_errors_exit_with_their_own_status_not_argparse_usage():
    from lpsens.cli import main
    from lpsens.errors import LpsensError

    assert LpsensError.exit_code == 4
    with pytest.raises(SystemExit) as usage:
        main(["status", "--no-such-option"])
    assert usage.value.code == 2  # argparse's usage error stays distinct
    assert main(["status", "--group-by", "colour"]) == 4


def test_demo_and_mpi_errors_are_in_the_hierarchy():
    from lpsens.errors import DemoError, LpsensError, MPIError

    assert issubclass(DemoError, LpsensError) and issubclass(DemoError, RuntimeError)
    assert issubclass(MPIError, LaunchError) and issubclass(MPIError, RuntimeError)


def test_find_mpiexec_says_how_to_get_one(monkeypatch, tmp_path):
    import sys

    from lpsens.errors import MPIError
    from lpsens.launch.communicator import find_mpiexec

    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MPIError, match="no mpiexec found.*mpich wheel"):
        find_mpiexec()
