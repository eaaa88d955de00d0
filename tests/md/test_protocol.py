"""MDProtocol: the stop_on_broken_chemistry switch."""

import pytest

from lpsens.errors import SpecError
from lpsens.md.protocol import MDProtocol


def test_stop_on_broken_chemistry_defaults_on_and_must_be_a_bool():
    assert MDProtocol().stop_on_broken_chemistry is True
    assert MDProtocol.from_dict({"stop_on_broken_chemistry": False}).to_dict()["stop_on_broken_chemistry"] is False
    with pytest.raises(SpecError, match="protocol.stop_on_broken_chemistry.*true or false"):
        MDProtocol(stop_on_broken_chemistry=1)
