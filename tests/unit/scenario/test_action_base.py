"""What every timeline action shares (apsim.scenario.action_base): its time, its operands
as JSON, register values in hex, and log expectations that must be regular expressions."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import ValidationError

from apsim.scenario.action_base import ActionBase, LogExpect, parse_register


class _Act(ActionBase):
    do: Literal["x.y"] = "x.y"
    apqn: str | None = None
    count: int = 1


def test_an_action_takes_its_time_with_a_unit_and_reports_its_operands_without_at_and_do():
    a = _Act(at="2ms", apqn="05.0004")
    assert a.at == 2_000_000 and a.line is None
    assert a.operands() == {"apqn": "05.0004", "count": 1}
    assert _Act(at=0).operands() == {"count": 1}  # unset operands are left out


def test_register_values_are_decimal_or_0x_hex_text_or_numbers():
    assert [parse_register(v) for v in ("0x00800000", " 42 ", 7)] == [0x00800000, 42, 7]
    with pytest.raises(ValueError, match="'r5' is not a number"):
        parse_register("r5")


def test_log_expectations_are_regular_expressions():
    e = LogExpect(at=0, expect=["^ap: ", r"card\d+"], absent=["Oops"])
    assert e.expect == ["^ap: ", r"card\d+"] and e.absent == ["Oops"]
    with pytest.raises(ValidationError, match="is not a regular expression"):
        LogExpect(at=0, expect=["(unclosed"])


@pytest.mark.parametrize("patterns", [[], ["x" * 513], ["a"] * 65])
def test_a_pattern_list_is_1_to_64_patterns_of_at_most_512_characters(patterns):
    with pytest.raises(ValidationError):
        LogExpect(at=0, absent=patterns)
