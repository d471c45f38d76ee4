"""Every errno an AP bus, card, queue or driver attribute returns, reached once each
(reference §10.3, §10.5, §12.2; zcrypt's ``online``; the driver core's bind/unbind)."""

from __future__ import annotations

import errno

import pytest

from apsim.errors import SysfsError
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.engine.config import Facilities
from apsim.linux import Host
from tests.unit.linux_support import (
    BUS,
    MATRIX,
    MS,
    UUID1,
    FakeKVM,
    assign,
    create_mdev,
    doc_host,
    guest_behind_mdev,
    run,
)


def errno_of(fn, *args):  # noqa: ANN001, ANN002, ANN201
    with pytest.raises(SysfsError) as e:
        fn(*args)
    return e.value.errno


@pytest.fixture
def host():  # noqa: ANN201
    return doc_host()[3]


# --- apmask / aqmask ---------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["apmask", "aqmask"])
@pytest.mark.parametrize("text", ["0X41\n", "0x41,\n", " 0x41\n", "0x" + "f" * 65 + "\n", "+\n", "+5-\n",
                                  "+256\n", "+5-3\n", "+0-256\n", "+5;+6\n", "+5 +6\n", "5,6\n", "-0x\n",
                                  "+5,,x\n", "0x41\n\n"])
def test_mask_write_rejects_bad_text_with_einval_and_keeps_the_mask(host, which, text):
    before = host.read(f"{BUS}/{which}")
    assert errno_of(host.write, f"{BUS}/{which}", text) == errno.EINVAL
    assert host.read(f"{BUS}/{which}") == before


@pytest.mark.parametrize("which, ids", [("apmask", "+5"), ("aqmask", "+4")])
def test_mask_write_taking_back_an_assigned_apqn_fails_with_ebusy(which, ids):
    env, m, lp, host = doc_host()
    host.echo("-5", f"{BUS}/apmask")
    host.echo("-4", f"{BUS}/aqmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5], domains=[4])
    assert errno_of(host.echo, ids, f"{BUS}/{which}") == errno.EBUSY


def test_mask_write_checks_in_use_against_all_domains_not_only_the_current_aqmask():
    """≥ v6.19: the other dimension is all ones, so an mdev holding 05.0004 blocks
    giving adapter 5 back even while domain 4 is outside aqmask."""
    env, m, lp, host = doc_host()
    host.echo("-5", f"{BUS}/apmask")
    host.echo("-4", f"{BUS}/aqmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5], domains=[4])
    assert errno_of(host.echo, "0xff", f"{BUS}/apmask") == errno.EBUSY


def test_clearing_mask_bits_never_triggers_the_in_use_check(host):
    create_mdev(host, UUID1)
    host.echo("-5", f"{BUS}/apmask")
    assign(host, UUID1, adapters=[5], domains=[4])
    host.echo("-6", f"{BUS}/apmask")
    assert host.read(f"{BUS}/apmask").startswith("0xf9")


# --- simple bus attributes ------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["x\n", "-1\n", "256\n", "0x100\n", "\n"])
def test_ap_domain_rejects_non_domains_with_einval(host, text):
    assert errno_of(host.write, f"{BUS}/ap_domain", text) == errno.EINVAL


def test_ap_domain_rejects_a_domain_outside_aqmask_with_einval(host):
    host.echo("-0x47", f"{BUS}/aqmask")
    assert errno_of(host.echo, "0x47", f"{BUS}/ap_domain") == errno.EINVAL
    host.echo("0xab", f"{BUS}/ap_domain")
    assert host.read(f"{BUS}/ap_domain") == "171\n"


@pytest.mark.parametrize("text", ["4\n", "121\n", "-30\n", "thirty\n", "\n"])
def test_config_time_outside_5_to_120_seconds_fails_with_einval(host, text):
    assert errno_of(host.write, f"{BUS}/config_time", text) == errno.EINVAL
    assert host.read(f"{BUS}/config_time") == "30\n"


def test_config_time_takes_a_leading_number_and_ignores_the_rest(host):
    host.write(f"{BUS}/config_time", "60 seconds\n")
    assert host.read(f"{BUS}/config_time") == "60\n"


def test_poll_timeout_errors_einval_junk_erange_overflow_einval_above_120_s(host):
    assert errno_of(host.echo, "fast", f"{BUS}/poll_timeout") == errno.EINVAL
    assert errno_of(host.echo, "99999999999999999999", f"{BUS}/poll_timeout") == errno.ERANGE
    assert errno_of(host.echo, "120000000001", f"{BUS}/poll_timeout") == errno.EINVAL
    host.echo("120000000000", f"{BUS}/poll_timeout")
    assert host.read(f"{BUS}/poll_timeout") == "120000000000\n"


def test_poll_thread_rejects_non_booleans_with_einval(host):
    assert errno_of(host.echo, "maybe", f"{BUS}/poll_thread") == errno.EINVAL


@pytest.mark.parametrize("attr", ["ap_max_adapter_id", "ap_max_domain_id", "bindings", "features",
                                  "ap_adapter_mask", "ap_usage_domain_mask", "ap_control_domain_mask",
                                  "ap_interrupts"])
def test_read_only_bus_attributes_refuse_writes_with_eacces(host, attr):
    assert errno_of(host.echo, "1", f"{BUS}/{attr}") == errno.EACCES


def test_unknown_bus_attribute_is_enoent(host):
    assert errno_of(host.read, f"{BUS}/no_such_attribute") == errno.ENOENT


# --- card config (SCLP) ------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["2\n", "-1\n", "on\n", "+1\n", "\n"])
def test_card_config_accepts_only_0_or_1_with_einval_otherwise(host, text):
    assert errno_of(host.write, f"{BUS}/devices/card05/config", text) == errno.EINVAL


def test_card_config_eio_when_sclp_refuses_the_command():
    env, m, lp, host = doc_host()
    m.se_configure(lp, [5, 6], on=False)
    m.se_change_lpar_crypto(lp, remove_adapters=[5])
    # Before the CHSC event arrives the card is still there, configured as far as Linux knows.
    assert errno_of(host.echo, "0", f"{BUS}/devices/card05/config") == errno.EIO
    # sclp_ap.c do_ap_configure logs "configure" for both commands.
    assert "sclp_cmd: configure AP adapter 5 failed: cmd=0x001e0501 response=0x09f0" in host.klog.messages()


def test_card_config_eopnotsupp_in_a_guest_without_sclp():
    env, m, lp, host = doc_host()
    host.echo("-5", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5], domains=[4])
    k = FakeKVM(m, lp)
    host.open_device(UUID1, k)
    guest = Host(env, m, k.guest_cpu(), name="guest")
    assert errno_of(guest.echo, "0", f"{BUS}/devices/card05/config") == errno.EOPNOTSUPP


def test_card_config_same_value_issues_no_sclp_command(host):
    before = len(host.machine.events)
    host.echo("1", f"{BUS}/devices/card05/config")
    assert len(host.machine.events) == before


# --- zcrypt online -----------------------------------------------------------------------------------
def test_card_online_errnos_einval_for_junk_and_enodev_while_deconfigured(host):
    assert errno_of(host.echo, "2", f"{BUS}/devices/card05/online") == errno.EINVAL
    host.echo("0", f"{BUS}/devices/card05/config")
    assert errno_of(host.echo, "1", f"{BUS}/devices/card05/online") == errno.ENODEV


def test_queue_online_errnos(host):
    q = f"{BUS}/devices/05.0004/online"
    assert errno_of(host.echo, "x", q) == errno.EINVAL
    host.echo("0", f"{BUS}/devices/card05/online")
    assert host.read(q) == "0\n"
    assert errno_of(host.echo, "1", q) == errno.EINVAL  # the card is offline
    host.echo("1", f"{BUS}/devices/card05/online")
    host.echo("0", f"{BUS}/devices/card05/config")
    assert errno_of(host.echo, "1", q) == errno.ENODEV  # the card is deconfigured


# --- queue attributes ----------------------------------------------------------------------------------
def test_queue_ap_functions_eio_when_tapq_answers_above_busy():
    """An SE guest's queue whose association failed answers TAPQ with the
    asynchronous RC 0x35, which is above 0x05: reading ap_functions fails. (Card 5
    is an EP11 coprocessor here: only EP11 queues take an association.)"""
    env, m, lp, host, k, guest = guest_behind_mdev({5: CardSpec(CardType.CEX8, Mode.EP11)}, [4, 0x47])
    cpu = k.guest_cpu()
    for q in (0x0504, 0x0547):
        assert cpu.bapq(q).rc == 0
        assert cpu.aapq(q, 1).rc == 0  # the same secret index twice: the second fails later
    run(env, 2 * MS)
    assert cpu.tapq(0x0504).rc == 0
    assert errno_of(guest.read, f"{BUS}/devices/05.0047/ap_functions") == errno.EIO


def test_queue_ap_functions_of_an_apqn_gone_from_the_configuration_reads_zero():
    """TAPQ answers 0x01 (not above 0x05): the kernel prints the empty facility word."""
    env, m, lp, host = doc_host()
    m.se_configure(lp, [5, 6], on=False)
    m.se_change_lpar_crypto(lp, remove_usage_domains=[4])
    assert host.read(f"{BUS}/devices/05.0004/ap_functions") == "0x00000000\n"


def test_queue_ap_functions_reads_the_facility_word(host):
    assert host.read(f"{BUS}/devices/05.0004/ap_functions") == host.read(f"{BUS}/devices/card05/ap_functions")


@pytest.mark.parametrize("attr", ["config", "chkstop", "interrupt", "requestq_count", "pendingq_count"])
def test_read_only_queue_attributes_refuse_writes_with_eacces(host, attr):
    assert errno_of(host.echo, "1", f"{BUS}/devices/05.0004/{attr}") == errno.EACCES


# --- driver bind / unbind --------------------------------------------------------------------------------
def test_bind_enodev_for_an_unknown_device_or_a_driver_of_another_type(host):
    host.echo("05.0004", f"{BUS}/drivers/cex4queue/unbind")
    assert errno_of(host.echo, "05.0099", f"{BUS}/drivers/cex4queue/bind") == errno.ENODEV
    assert errno_of(host.echo, "05.0004", f"{BUS}/drivers/cex4card/bind") == errno.ENODEV


def test_bind_ebusy_when_the_device_already_has_a_driver(host):
    assert errno_of(host.echo, "05.0004", f"{BUS}/drivers/cex4queue/bind") == errno.EBUSY


def test_bind_enodev_when_the_masks_reserve_the_queue_for_the_other_driver_class(host):
    host.echo("-5", f"{BUS}/apmask")
    host.echo("05.0004", f"{BUS}/drivers/vfio_ap/unbind")
    assert errno_of(host.echo, "05.0004", f"{BUS}/drivers/cex4queue/bind") == errno.ENODEV
    host.echo("05.0004", f"{BUS}/drivers/vfio_ap/bind")


def test_unbind_enodev_when_the_device_is_not_bound_to_that_driver(host):
    assert errno_of(host.echo, "05.0004", f"{BUS}/drivers/vfio_ap/unbind") == errno.ENODEV
    assert errno_of(host.echo, "nosuch", f"{BUS}/drivers/cex4queue/unbind") == errno.ENODEV


def test_attributes_of_an_mdev_that_was_never_created_are_enoent(host):
    assert errno_of(host.read, f"{MATRIX}/{UUID1}/matrix") == errno.ENOENT
