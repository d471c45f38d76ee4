"""``lszcrypt`` rendering in the current s390-tools layout (ecosystem-formats.md)."""

from __future__ import annotations

from apsim.engine.config import Facilities
from tests.unit.linux_support import BUS, MS, UUID1, FakeKVM, assign, create_mdev, doc_host, run

HEADER = "CARD.DOM TYPE  MODE        STATUS     REQUESTS"
VHEADER = HEADER + "  PENDING HWTYPE QDEPTH FUNCTIONS  DRIVER     "


def test_plain_listing_has_the_46_column_header_and_one_row_per_card_then_its_queues():
    env, m, lp, host = doc_host()
    lines = host.lszcrypt().splitlines()
    assert lines[0] == HEADER and lines[1] == "-" * 46
    assert lines[2] == "05       CEX5C CCA-Coproc  online            0"
    assert lines[3] == "05.0004  CEX5C CCA-Coproc  online            0"
    assert [ln.split()[0] for ln in lines[2:]] == ["05", "05.0004", "05.0047", "05.00ab", "05.00ff",
                                                   "06", "06.0004", "06.0047", "06.00ab", "06.00ff"]


def test_verbose_listing_is_92_columns_wide_with_depth_plus_one_and_the_function_flags():
    env, m, lp, host = doc_host()
    lines = host.lszcrypt(verbose=True).splitlines()
    assert lines[0] == VHEADER and len(lines[0]) == 92 and lines[1] == "-" * 92
    assert lines[2] == ("05       CEX5C CCA-Coproc  online            0"
                        "        0     11     08 SMCD--N--- cex4card   ")
    assert lines[9].startswith("06.0047  CEX5A Accelerator online")
    assert lines[9].endswith("11     08 SMC-A-N--- cex4queue  ")


def test_vfio_ap_queues_appear_only_with_verbose_and_show_their_vfio_status():
    env, m, lp, host = doc_host()
    host.echo("-5", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5], domains=[4])
    plain = [ln.split()[0] for ln in host.lszcrypt().splitlines()[2:]]
    assert plain == ["05", "06", "06.0004", "06.0047", "06.00ab", "06.00ff"]
    verbose = host.lszcrypt(verbose=True).splitlines()
    assert verbose[3].startswith("05.0004  CEX5C CCA-Coproc  assigned          -        -")
    assert verbose[3].endswith("vfio_ap    ")
    assert verbose[4].startswith("05.0047  CEX5C CCA-Coproc  unassigned        -")
    host.open_device(UUID1, FakeKVM(m, lp))
    assert host.lszcrypt(verbose=True).splitlines()[3].startswith("05.0004  CEX5C CCA-Coproc  in use")


def test_deconfigured_and_checkstopped_devices_show_their_status_and_no_request_count():
    env, m, lp, host = doc_host()
    host.echo("0", f"{BUS}/devices/card05/config")
    run(env, m.chsc_event_ns + 1)
    m.checkstop(6)
    run(env, m.chsc_event_ns + 1)
    rows = {ln.split()[0]: ln for ln in host.lszcrypt(verbose=True).splitlines()[2:]}
    assert rows["05"].startswith("05       CEX5C CCA-Coproc  deconfig          -        -")
    assert rows["05.0004"].startswith("05.0004  CEX5C CCA-Coproc  deconfig          -        -")
    assert rows["06.0047"].startswith("06.0047  CEX5A Accelerator chkstop           0")


def test_a_default_domain_that_is_not_available_adds_the_warning_line():
    env, m, lp, host = doc_host(cmdline="ap.aqmask=0x")
    assert host.read(f"{BUS}/ap_domain") == "-1\n"
    out = host.lszcrypt()
    assert out.endswith("Warning: Default domain 0xffffffffffffffff is not available.\n")
    env, m, lp, host = doc_host()
    assert "Warning" not in host.lszcrypt()


def test_the_sestat_column_appears_with_the_apsb_feature():
    env, m, lp, host = doc_host(facilities=Facilities(apsb=True))
    lines = host.lszcrypt(verbose=True).splitlines()
    assert lines[0] == VHEADER + " SESTAT     "
    assert lines[2].endswith("cex4card    -          ")
    assert lines[3].endswith("cex4queue   usable     ")


def test_a_linux_without_cards_prints_the_tools_error():
    env, m, lp, host = doc_host(adapters={}, domains=(4,))
    assert host.lszcrypt() == "lszcrypt: No crypto card devices found.\n"
    run(env, 1 * MS)
