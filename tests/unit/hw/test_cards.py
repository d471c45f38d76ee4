"""Card serial numbers: the firmware's format per mode (apsim.hw.cards)."""

from __future__ import annotations

import pytest

from apsim.hw.cards import CardSpec, CardType, Mode, check_serialnr


def test_a_cca_serial_is_exactly_eight_digits_or_upper_case_letters():
    assert check_serialnr(Mode.CCA, "93AABEHR") == "93AABEHR"
    for bad in ("93AABEH", "93AABEHR0", "93aabehr", "93AA-EHR", "93AABEH "):
        with pytest.raises(ValueError, match="a CCA card reports 8 characters"):
            check_serialnr(Mode.CCA, bad)


def test_an_ep11_serial_fills_the_sixteen_character_field_blank_padded():
    assert check_serialnr(Mode.EP11, "93AACFHS") == "93AACFHS        "
    assert check_serialnr(Mode.EP11, "93AACFHS12345678") == "93AACFHS12345678"
    assert check_serialnr(Mode.EP11, "93AACFHS        ") == "93AACFHS        "  # read back from sysfs
    for bad in ("93AACFHS123456789", "", "93 AACFHS", "93aacfhs"):
        with pytest.raises(ValueError, match="an EP11 card reports up to 16 characters"):
            check_serialnr(Mode.EP11, bad)


def test_an_accelerator_has_no_serial_number():
    with pytest.raises(ValueError, match="an accelerator has no serial number"):
        check_serialnr(Mode.ACCELERATOR, "93AABEHR")
    with pytest.raises(ValueError, match="an accelerator has no serial number"):
        CardSpec(CardType.CEX8, Mode.ACCELERATOR, serialnr="93AABEHR")


def test_the_card_spec_keeps_the_field_as_the_firmware_reports_it():
    assert CardSpec(CardType.CEX7, Mode.EP11, serialnr="93AACFHS").serialnr == "93AACFHS        "
    assert CardSpec(CardType.CEX7, Mode.CCA).serialnr is None
