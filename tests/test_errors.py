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
