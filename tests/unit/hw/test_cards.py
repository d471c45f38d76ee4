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


def test_pre_cex4_generations_are_flagged_and_take_their_ap_type_from_the_mode():
    """ap_bus.h: AP_DEVICE_TYPE_CEX2A 6, CEX2C 7, CEX3A 8, CEX3C 9; CEX4 10 is the oldest supported."""
    assert [t.name for t in CardType if t.pre_cex4] == ["CEX2", "CEX3"]
    assert CardType.parse("cex3") is CardType.CEX3
    spec = CardSpec(CardType.CEX3, Mode.CCA)
    assert spec.ap_type == 9 and spec.hwinfo() >> 24 & 0xFF == 9 and spec.type_name == "CEX3C"
    assert CardSpec(CardType.CEX8, Mode.CCA).ap_type == 14


def test_a_pre_cex4_card_has_no_ep11_mode_and_no_serial_number():
    with pytest.raises(ValueError, match="EP11 came with CEX4P"):
        CardSpec(CardType.CEX2, Mode.EP11)
    with pytest.raises(ValueError, match="no card device"):
        CardSpec(CardType.CEX3, Mode.CCA, serialnr="93AABEHR")
