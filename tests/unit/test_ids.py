"""APQN identifiers: the kernel's names for cards and queue devices."""

from __future__ import annotations

import pytest

from apsim.ids import apqn, apqn_apid, apqn_apqi, format_apqn, format_card, parse_apqn


def test_apqn_prints_as_the_kernel_names_queue_devices():
    assert format_apqn(apqn(5, 4)) == "05.0004"
    assert format_apqn(apqn(0x0A, 0xAB)) == "0a.00ab"
    assert format_card(10) == "card0a"
    assert parse_apqn("06.00ff") == apqn(6, 0xFF)
    assert (apqn_apid(apqn(6, 0xFF)), apqn_apqi(apqn(6, 0xFF))) == (6, 0xFF)


@pytest.mark.parametrize("bad", ["5", "05-0004", "100.0004", "05.0100", "xx.0001"])
def test_parse_apqn_rejects_malformed_text(bad):
    with pytest.raises(ValueError):
        parse_apqn(bad)
