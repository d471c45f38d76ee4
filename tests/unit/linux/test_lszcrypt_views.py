"""lszcrypt -b, -d, -c, -s, and REQUESTS / PENDING from the model's counters."""

from __future__ import annotations

from pathlib import Path

import pytest

from apsim.cli import main
from apsim.linux.lszcrypt import (LszcryptError, render_bus, render_capability, render_domains,
                                  render_serial)
from apsim.scenario import load_scenario
from apsim.scenario.build import build
from apsim.scenario.run import schedule_timeline

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = Path(__file__).parents[1] / "interop" / "golden" / "lszcrypt"


@pytest.fixture(scope="module")
def sim():
    s = build(load_scenario(ROOT / "scenarios/three-guests.yaml"))
    schedule_timeline(s)
    s.env.run(until=110_000_000)  # the guests are ready at 90 ms
    return s


def test_domains_view_marks_usage_and_control_domains_as_the_tool_does(sim):
    assert render_domains(sim.host) == (GOLDEN / "domains.txt").read_text()


def test_bus_view_prints_the_bus_attributes_in_the_tools_order(sim):
    lines = render_bus(sim.host).splitlines()
    assert [ln.split("=")[0].split(" ")[0] for ln in lines] == [
        "features:", "ap_domain", "ap_max_domain_id", "ap_interrupts", "config_time", "poll_thread",
        "poll_timeout"]
    assert "ap_domain=0x4" in lines and "config_time=30 (seconds)" in lines


def test_card_capability_of_a_cca_coprocessor(sim):
    assert render_capability(sim.host, "5") == ("card05 provides capability for:\nRSA 4K Clear Key\n"
                                                "CCA Secure Key\nLong RNG\n"
                                                "AP bus max message size limit 12 Kb\n")
    assert render_capability(sim.host, "0x06").splitlines()[1] == "RSA 4K Clear Key"


def test_queue_capability_and_bad_ids_are_refused_with_the_tools_message(sim):
    assert render_capability(sim.host, "05.0004") == "queue 05.0004 capabilities:\n"
    with pytest.raises(LszcryptError, match="'x5' is an invalid cryptographic device id"):
        render_capability(sim.host, "x5")
    with pytest.raises(LszcryptError, match="cryptographic device card07 does not exist"):
        render_capability(sim.host, "7")


def test_serial_view_lists_only_cca_and_ep11_cards(sim):
    lines = render_serial(sim.host).splitlines()
    assert lines[0] == "CARD.DOM TYPE  MODE        STATUS     SERIALNR"
    assert [ln.split()[0] for ln in lines[2:]] == ["05"]  # card 06 is an accelerator


def test_guest_requests_and_pending_come_from_its_requests(sim):
    g = sim.guests["guest1"]
    rows = {ln.split()[0]: ln.split() for ln in g.lszcrypt(verbose=True).splitlines()[2:]}
    for name in ("05.0004", "05.00ab", "06.0004", "06.00ab"):
        hw = sim.lpar.queue(int(name[:2], 16) << 8 | int(name[3:], 16))
        assert int(rows[name][4]) == hw.nqap_count > 0
        assert int(rows[name][5]) == hw.count
    assert int(rows["05"][4]) == int(rows["05.0004"][4]) + int(rows["05.00ab"][4])


def test_host_queues_given_to_vfio_ap_show_no_requests(sim):
    lines = sim.host.lszcrypt(verbose=True).splitlines()[2:]
    queues = [ln for ln in lines if ln[2] == "."]
    assert len(queues) == 8 and all(ln[38:46].strip() == "-" for ln in queues)


def test_cli_lszcrypt_views_and_bad_device_exit_2(capsys):
    f = str(ROOT / "scenarios/three-guests.yaml")
    assert main(["lszcrypt", f, "--at", "1ms", "-d"]) == 0
    assert capsys.readouterr().out == (GOLDEN / "domains.txt").read_text()
    assert main(["lszcrypt", f, "--at", "1ms", "-c", "300"]) == 2
    assert "invalid cryptographic device id" in capsys.readouterr().err
