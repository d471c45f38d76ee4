"""A nested guest's ``crycb:`` key (apsim.scenario.nested_specs): the designation a guest-1
hypervisor writes, and the validity intercept the start is expected to end in."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from apsim.scenario.nested_specs import NestedCrycbSpec, validity_outcome


def test_unset_keys_leave_the_designation_to_guest_1s_kvm_and_expect_a_normal_start():
    s = NestedCrycbSpec()
    assert (s.address, s.format_bits(), s.expected_outcome()) == (None, None, "ok")


@pytest.mark.parametrize("fmt, bits", [(0, 0b00), (1, 0b01), (2, 0b11), ("undefined", 0b10)])
def test_each_format_writes_its_crycbd_bits(fmt, bits):
    assert NestedCrycbSpec(format=fmt).format_bits() == bits


def test_the_address_must_fit_the_31_bit_origin():
    assert NestedCrycbSpec(address="0x7fffffff").address == 0x7FFFFFFF
    with pytest.raises(ValidationError, match="does not fit the 31-bit origin"):
        NestedCrycbSpec(address="0x80000000")


@pytest.mark.parametrize("written, code", [("0x0039", 0x39), (57, 0x39), (" 0x35 ", 0x35)])
def test_an_expected_validity_intercept_is_a_16_bit_code_reported_in_hex(written, code):
    s = NestedCrycbSpec(expect_validity=written)
    assert s.expect_validity == code and s.expected_outcome() == f"validity 0x{code:04x}"


@pytest.mark.parametrize("written", ["x39", 0x10000, -1, True])
def test_a_code_that_is_no_16_bit_number_is_refused(written):
    with pytest.raises(ValidationError, match="validity-intercept code"):
        NestedCrycbSpec(expect_validity=written)


def test_a_format_outside_0_1_2_or_undefined_is_refused():
    with pytest.raises(ValidationError):
        NestedCrycbSpec(format=3)
    assert validity_outcome(0x22) == "validity 0x0022"
