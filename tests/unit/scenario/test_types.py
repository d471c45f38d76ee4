"""The scenario format's value types (apsim.scenario.types): what a YAML author may write
for ids, durations, APQNs, UUIDs, errno names, masks, response codes and addresses, and the
one-sentence rule each refusal names."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from apsim.scenario import types as t


def _ok(tp, value):  # noqa: ANN001, ANN202
    return TypeAdapter(tp).validate_python(value)


def _refused(tp, value, words: str) -> None:  # noqa: ANN001
    with pytest.raises(ValidationError, match=words):
        TypeAdapter(tp).validate_python(value)


def test_ids_are_decimal_or_0x_hex_ints_or_strings_0_to_255():
    assert [_ok(t.Id, v) for v in (5, "5", "0x47", " 0xAB ", 255)] == [5, 5, 0x47, 0xAB, 255]


@pytest.mark.parametrize("value, words", [(256, r"id 256 \(0x100\) is out of range 0..255"),
                                          (-1, "id -1 is out of range"), ("ab", "is not an id"),
                                          (True, "is not an id"), (1.5, "is not an id")])
def test_an_id_outside_0_255_or_not_a_number_is_refused(value, words):
    _refused(t.Id, value, words)


def test_durations_carry_a_unit_except_zero():
    assert [_ok(t.Duration, v) for v in ("10ms", "1.5us", "2s", 0, "7ns")] == [
        10_000_000, 1_500, 2_000_000_000, 0, 7]


@pytest.mark.parametrize("value, words", [(5, "5 needs a unit"), (-1, "negative duration"),
                                          (True, "is not a duration")])
def test_a_bare_number_or_a_negative_duration_is_refused(value, words):
    _refused(t.Duration, value, words)


def test_apqns_are_quoted_aa_dot_qqqq_and_serialize_back():
    ta = TypeAdapter(t.Apqn)
    assert ta.validate_python("05.0004") == 0x0504
    assert ta.dump_python(0x05AB) == "05.00ab"


def test_an_unquoted_apqn_that_yaml_read_as_a_float_is_refused_with_the_hint():
    _refused(t.Apqn, 5.0004, "write the APQN in quotes")
    _refused(t.Apqn, 1284, "is not an APQN")


def test_uuids_are_8_4_4_4_12_hex_and_lower_cased():
    assert _ok(t.Uuid, " 62177883-F1BB-47f0-914d-32a22e3a8804 ") == "62177883-f1bb-47f0-914d-32a22e3a8804"
    _refused(t.Uuid, "62177883-f1bb-47f0-914d", "is not a UUID")


def test_errno_names_are_pythons_with_a_did_you_mean_hint():
    assert _ok(t.ErrnoName, "EADDRINUSE") == "EADDRINUSE"
    assert "EBUSY" in t.ERRNO_NAMES and "EXIT_FAILURE" not in t.ERRNO_NAMES
    _refused(t.ErrnoName, "EBUSSY", "did you mean EBUSY")
    _refused(t.ErrnoName, 16, "unknown errno name")


def test_masks_are_the_ap_bus_grammar_and_must_be_quoted():
    assert _ok(t.MaskString, "0xffff") == "0xffff"
    assert _ok(t.MaskString, " -5,-6,+0x10-0x12 ") == "-5,-6,+0x10-0x12"
    _refused(t.MaskString, 0xFF00, "write the mask in quotes")
    _refused(t.MaskString, "+300", "bad mask")


def test_response_codes_are_numbers_or_the_kernels_names():
    assert [_ok(t.ResponseCode, v) for v in (1, "0x01", "Q_NOT_AVAIL", "AP_RESPONSE_BUSY",
                                             "no_pending_reply")] == [1, 1, 1, 5, 0x10]
    _refused(t.ResponseCode, 256, "0x00..0xff")
    _refused(t.ResponseCode, "Q_GONE", "is not a response code")


def test_addresses_are_64_bit_numbers_in_decimal_or_hex():
    assert [_ok(t.Address, v) for v in (4096, "0x1000", "4096")] == [4096] * 3
    _refused(t.Address, 1 << 64, "is not a 64-bit address")
    _refused(t.Address, "page", "is not an address")


def test_the_json_schema_accepts_what_an_author_writes():
    schema = TypeAdapter(t.Duration).json_schema()
    assert {"type": "integer", "const": 0} in schema["anyOf"]
    assert TypeAdapter(t.Apqn).json_schema()["type"] == "string"
