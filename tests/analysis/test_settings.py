"""AnalysisSettings: validation, round trip, and the precedence rule (campaign, then overrides)."""

import pytest

from lpsens.analysis.settings import AnalysisSettings, resolve_settings
from lpsens.errors import AnalysisError


def test_defaults_are_valid_and_round_trip():
    s = AnalysisSettings()
    assert AnalysisSettings.from_dict(s.to_dict()) == s
    assert s.n_blocks >= 4 and 0 < s.fit_end_fraction <= 0.5


def test_integers_are_coerced_and_fractions_refused():
    assert type(AnalysisSettings(n_blocks=6.0).n_blocks) is int
    with pytest.raises(AnalysisError, match="must be an integer") as exc:
        AnalysisSettings(n_blocks=6.5)
    assert exc.value.key == "analysis.n_blocks"


@pytest.mark.parametrize("key, value, expected", [
    ("n_blocks", 3, ">= 4"),
    ("fit_end_fraction", 0.7, "in \\(0, 0.5\\]"),
    ("fit_start_ps", float("nan"), "finite number"),
    ("bond_cutoff_PS_A", 4.0, "in \\[1.5, 3.2\\]"),
    ("dynamics", 1, "true or false"),
])
def test_invalid_values_name_their_key(key, value, expected):
    with pytest.raises(AnalysisError, match=expected) as exc:
        AnalysisSettings(**{key: value})
    assert exc.value.key == f"analysis.{key}"


def test_unknown_keys_suggest_the_closest():
    with pytest.raises(AnalysisError, match="n_block.*did you mean.*n_blocks"):
        AnalysisSettings.from_dict({"n_block": 6})


def test_resolve_settings_campaign_first_then_overrides():
    stored = {"n_blocks": 6, "fit_start_ps": 3.0}
    s = resolve_settings(stored, {"n_blocks": 10})
    assert s.n_blocks == 10 and s.fit_start_ps == 3.0
    assert resolve_settings(None) == AnalysisSettings()
    assert resolve_settings(stored) == AnalysisSettings(n_blocks=6, fit_start_ps=3.0)
    with pytest.raises(AnalysisError):
        resolve_settings(stored, {"n_blocks": 2})


def test_chemistry_limits_follow_the_settings():
    limits = AnalysisSettings(integrity_S_S_min_A=1.7).chemistry_limits()
    assert limits.S_S_min_A == 1.7
