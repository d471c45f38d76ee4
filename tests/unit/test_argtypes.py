"""The command lines' shared argument types (apsim.argtypes)."""

from __future__ import annotations

import argparse

import pytest

from apsim.argtypes import int_in_range


def test_a_decimal_whole_number_inside_the_range_is_taken_including_both_ends():
    parse = int_in_range(1, 64)
    assert [parse("1"), parse("64"), parse("007")] == [1, 64, 7]


@pytest.mark.parametrize("text, words", [("0", "0 must be in 1..64"), ("65", "65 must be in 1..64"),
                                         ("-3", "-3 must be in 1..64")])
def test_a_number_outside_the_range_is_refused_with_the_range(text, words):
    with pytest.raises(argparse.ArgumentTypeError, match=words):
        int_in_range(1, 64)(text)


@pytest.mark.parametrize("text", ["0x10", "1.5", "ten", ""])
def test_anything_but_a_decimal_whole_number_is_refused_naming_the_text(text):
    with pytest.raises(argparse.ArgumentTypeError, match="is not a whole number"):
        int_in_range(0, 100)(text)


def test_argparse_reports_the_rule_as_a_usage_error_exit_2(capsys):
    p = argparse.ArgumentParser(prog="apsim")
    p.add_argument("--workers", type=int_in_range(1, 8))
    with pytest.raises(SystemExit) as e:
        p.parse_args(["--workers", "9"])
    assert e.value.code == 2 and "9 must be in 1..8" in capsys.readouterr().err
