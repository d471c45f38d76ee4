"""The base of every scenario model (apsim.scenario.base.StrictModel): unknown keys are
errors, instances are immutable, attribute docstrings describe the fields."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from apsim.scenario.base import StrictModel


class _Thing(StrictModel):
    size: int = 1
    """How big the thing is."""


def test_an_unknown_key_is_an_error_naming_it():
    with pytest.raises(ValidationError, match="sise"):
        _Thing(sise=2)


def test_a_model_is_immutable():
    t = _Thing(size=3)
    with pytest.raises(ValidationError):
        t.size = 4
    assert t.size == 3


def test_attribute_docstrings_become_schema_descriptions():
    assert _Thing.model_json_schema()["properties"]["size"]["description"] == "How big the thing is."
