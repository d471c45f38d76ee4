"""How a timeline entry's expectation compares with what happened (apsim.scenario.expect)."""

from __future__ import annotations

from apsim.engine.recorder import TimelineEntry
from apsim.scenario.expect import errno_number, expect_lines, expect_outcome


def _entry() -> TimelineEntry:
    return TimelineEntry(0, "sysfs.write", {})


def test_errno_names_have_their_numbers_and_anything_else_none():
    import errno
    assert errno_number("EBUSY") == errno.EBUSY
    assert errno_number("EFOO") is None and errno_number("ok") is None and errno_number(16) is None
    assert errno_number("EXIT_FAILURE") is None  # an os attribute that is no errno


def test_an_outcome_passes_when_equal_or_when_both_name_the_same_errno():
    e = _entry()
    expect_outcome(e, "ok", "ok")
    assert e.passed and (e.expected, e.actual) == ("ok", "ok")
    expect_outcome(e, "EOPNOTSUPP", "ENOTSUP")
    assert e.passed
    expect_outcome(e, "EBUSY", "EINVAL")
    assert e.passed is False and e.actual == "EINVAL"


def test_log_patterns_must_match_in_order_each_after_the_previous_match():
    lines = ["ap: a", "vfio_ap: b", "ap: c"]
    e = _entry()
    expect_lines(e, lines, ["ap: a", "ap: c"], None)
    assert e.passed and e.actual["matched"] == ["ap: a", "ap: c"]
    e = _entry()
    expect_lines(e, lines, ["ap: c", "b"], None)  # b comes before c
    assert e.passed is False and e.actual["expect"] == ["ap: c", None]


def test_an_absent_pattern_fails_when_any_line_matches_it():
    e = _entry()
    expect_lines(e, ["ap: a", "WARNING: x"], None, ["WARN", "Oops"])
    assert e.passed is False and e.actual["absent"] == ["WARN"]
    e = _entry()
    expect_lines(e, ["ap: a"], None, ["Oops"])
    assert e.passed and e.outcome == "ok"


def test_nothing_is_recorded_without_log_expectations():
    e = _entry()
    e.outcome = "EBUSY"
    expect_lines(e, ["x"], None, None)
    assert e.passed is None and e.outcome == "EBUSY" and e.expected is None
