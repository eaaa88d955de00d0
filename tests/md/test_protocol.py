"""MDProtocol: validation, derived step counts, the stop_on_broken_chemistry switch."""

import pytest

from lpsens.errors import SpecError
from lpsens.md.protocol import MDProtocol


def test_stop_on_broken_chemistry_defaults_on_and_must_be_a_bool():
    assert MDProtocol().stop_on_broken_chemistry is True
    assert MDProtocol.from_dict({"stop_on_broken_chemistry": False}).to_dict()["stop_on_broken_chemistry"] is False
    with pytest.raises(SpecError, match="protocol.stop_on_broken_chemistry.*true or false"):
        MDProtocol(stop_on_broken_chemistry=1)


def test_step_counts_follow_the_lengths_and_the_timestep():
    p = MDProtocol(timestep_fs=2.0, equilibration_ps=1.0, production_ps=4.0, sampling_interval_fs=20.0,
                   segment_ps=2.0, npt_ps=0.5)
    assert (p.equilibration_steps, p.production_steps, p.total_steps) == (500, 2000, 2500)
    assert (p.sample_every_steps, p.segment_steps, p.npt_steps) == (10, 1000, 250)


def test_round_trip_through_a_dict():
    p = MDProtocol(thermostat="csvr", npt_coupling="aniso", production_ps=20.0)
    d = p.to_dict()
    assert d["thermostat"] == "csvr" and d["npt_coupling"] == "aniso"
    assert MDProtocol.from_dict(d) == p


@pytest.mark.parametrize("kwargs, key", [
    ({"timestep_fs": 10.0}, "protocol.timestep_fs"),
    ({"sampling_interval_fs": 3.0}, "protocol.sampling_interval_fs"),  # not a whole number of 2 fs steps
    ({"segment_ps": 200.0}, "protocol.segment_ps"),  # longer than production
    ({"thermostat": "berendsen"}, "protocol.thermostat"),
    ({"equilibration_ps": -1.0}, "protocol.equilibration_ps"),
    ({"minimize_max_steps": 2.5}, "protocol.minimize_max_steps"),
])
def test_invalid_protocols_name_their_key(kwargs, key):
    with pytest.raises(SpecError) as exc:
        MDProtocol(**kwargs)
    assert exc.value.key == key


def test_unknown_keys_are_refused():
    with pytest.raises(SpecError, match="timestep"):
        MDProtocol.from_dict({"timestep": 2.0})


def test_lengths_in_ps():
    p = MDProtocol(timestep_fs=2.0, sampling_interval_fs=50.0, thermostat_damping_fs=100.0, barostat_damping_fs=1000.0)
    assert (p.timestep_ps, p.sampling_interval_ps) == (0.002, 0.05)
    assert (p.thermostat_damping_ps, p.barostat_damping_ps) == (0.1, 1.0)
