"""The scenario's ``timing:`` block (apsim.scenario.timing_spec.TimingSpec): a named
profile plus overrides of any TimingProfile field, and nothing else."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from apsim.hw.timing import TimingProfile, get_profile
from apsim.scenario.timing_spec import TimingSpec


def test_no_overrides_is_the_default_profile():
    assert TimingSpec().resolve() == get_profile("default")


def test_a_named_profile_is_taken_with_the_given_fields_overridden():
    p = TimingSpec(profile="lognormal", reset_ns="5ms", cv=0.25).resolve()
    assert p.distribution == "lognormal" and p.cv == 0.25 and p.reset_ns == 5_000_000


def test_every_timing_profile_field_but_its_name_can_be_overridden():
    fields = set(TimingSpec.model_fields)
    assert fields == (set(TimingProfile.model_fields) - {"name"}) | {"profile"}


@pytest.mark.parametrize("kw, words", [
    ({"profile": "fastest"}, "fastest"),
    ({"speed": 2}, "speed"),
    ({"reset_ns": -1}, "reset_ns"),
    ({"distribution": "uniform"}, "distribution"),
])
def test_an_unknown_profile_key_or_a_bad_value_is_refused_naming_it(kw, words):
    with pytest.raises(ValidationError, match=words):
        TimingSpec(**kw)


def test_a_spec_is_immutable():
    t = TimingSpec()
    with pytest.raises(ValidationError):
        t.profile = "exponential"


def test_a_rule_across_fields_of_the_profile_is_reported_without_pydantics_prefix():
    with pytest.raises(ValidationError) as e:
        TimingSpec(distribution="empirical")
    assert "distribution 'empirical' needs the 'empirical' list of multipliers" in str(e.value)
    assert "Value error, Value error" not in str(e.value)
