"""The nanosecond time base."""

from __future__ import annotations

import pytest

from apsim.units import MS, S, US, format_duration, parse_duration


def test_durations_parse_to_integer_nanoseconds():
    assert parse_duration("50ms") == 50 * MS
    assert parse_duration("1.5us") == 1500
    assert parse_duration("30s") == 30 * S
    assert parse_duration(250) == 250
    assert parse_duration("0.25ms") == 250 * US
    assert format_duration(1_500_000) == "1500us" and format_duration(30 * S) == "30s"


@pytest.mark.parametrize("bad", ["-1ms", "10", "10 parsecs", "1.5ns", "ms", None, True])
def test_bad_durations_are_rejected_with_a_reason(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)
