"""The zcrypt card driver's ``serialnr`` (apsim.linux.zcrypt) and ``lszcrypt -s`` showing it:
CCA and EP11 cards only, asked of the firmware through a usable zcrypt queue of the card,
an empty line when the query cannot be sent or the card reports none."""

from __future__ import annotations

import pytest

from apsim.linux.lszcrypt import render_serial
from apsim.scenario import parse_scenario
from apsim.scenario.build import build
from apsim.scenario.run import schedule_timeline
from tests.unit.scenario_samples import SERIALS

CARD = "/sys/devices/ap/card{:02x}/serialnr"


@pytest.fixture()
def sim():
    s = build(parse_scenario(SERIALS, file="serials.yaml"))
    schedule_timeline(s)
    s.env.run(until=60_000_000)  # g1's Linux is up at 50 ms (QEMU's queue reset, its boot)
    return s


def test_cca_and_ep11_cards_print_the_firmwares_serial(sim):
    assert sim.host.read(CARD.format(5)) == "93AABEHR\n"
    assert sim.host.read(CARD.format(6)) == "93AACFHS        \n"  # EP11: %16.16s of the 16-character field


def test_an_accelerator_has_no_serialnr_attribute(sim):
    assert not sim.host.sysfs.exists(CARD.format(7))
    assert sim.host.sysfs.exists("/sys/devices/ap/card07/type")


def test_a_card_without_a_known_serial_prints_an_empty_line(sim):
    assert sim.host.read(CARD.format(8)) == "\n"


def test_the_query_needs_an_online_zcrypt_queue_of_the_card(sim):
    # The host's card 9 has no cex4queue queue (its queue is vfio_ap's): the query fails.
    assert sim.host.read(CARD.format(9)) == "\n"
    # The guest's zcrypt reaches the card through its passed-through queue.
    assert sim.linux_of("g1").read(CARD.format(9)) == "93AAXK2Q\n"
    sim.host.write("/sys/devices/ap/card05/05.0004/online", "0")
    assert sim.host.read(CARD.format(5)) == "\n"
    sim.host.write("/sys/devices/ap/card05/05.0004/online", "1")
    assert sim.host.read(CARD.format(5)) == "93AABEHR\n"


def test_an_offline_card_reports_no_serial(sim):
    sim.host.write("/sys/devices/ap/card06/online", "0")
    assert sim.host.read(CARD.format(6)) == "\n"


def test_lszcrypt_s_shows_the_first_eight_characters_or_a_dash(sim):
    assert render_serial(sim.host).splitlines()[2:] == [
        "05       CEX8C CCA-Coproc  online     93AABEHR",
        "06       CEX8P EP11-Coproc online     93AACFHS",
        "08       CEX8C CCA-Coproc  online     -       ",
        "09       CEX7C CCA-Coproc  online     -       ",
    ]
    assert render_serial(sim.linux_of("g1")).splitlines()[2:] == ["09       CEX7C CCA-Coproc  online     93AAXK2Q"]


def test_unbinding_the_card_driver_removes_the_attribute(sim):
    sim.host.write("/sys/bus/ap/drivers/cex4card/unbind", "card05")
    assert not sim.host.sysfs.exists(CARD.format(5))
    sim.host.write("/sys/bus/ap/drivers/cex4card/bind", "card05")
    assert sim.host.read(CARD.format(5)) == "93AABEHR\n"
