"""Rebinding queues between the default driver and vfio_ap (reference §10.3, §6)."""

from __future__ import annotations

from tests.unit.linux_support import BUS, MS, doc_host, driver_of, run

Q = f"{BUS}/devices/05.0004"


def test_giving_an_adapter_to_vfio_ap_rebinds_its_queues_and_zeroizes_them():
    env, m, lp, host = doc_host()
    run(env, 100 * MS)
    assert host.read(f"{Q}/interrupt") == "Interrupts enabled.\n"
    host.echo("-5", f"{BUS}/apmask")
    assert driver_of(host, "05.0004") == "vfio_ap"
    assert driver_of(host, "06.0004") == "cex4queue"
    # The bus removed the default driver with ZAPQ, which also disabled interruptions.
    assert host.read(f"{Q}/interrupt") == "Interrupts disabled.\n"
    assert host.read(f"{Q}/request_count") == "-\n"
    assert host.read(f"{Q}/status") == "unassigned\n"
    assert not host.sysfs.exists(f"{Q}/online")


def test_taking_an_adapter_back_starts_the_reset_and_interrupt_state_machine():
    env, m, lp, host = doc_host()
    host.echo("-5", f"{BUS}/apmask")
    run(env, 100 * MS)
    host.echo("+5", f"{BUS}/apmask")
    assert driver_of(host, "05.0004") == "cex4queue"
    assert host.read(f"{Q}/reset") == "Reset in progress.\n"
    assert host.read(f"{Q}/request_count") == "0\n"
    assert not host.sysfs.exists(f"{Q}/status")
    run(env, 40 * MS + 1)
    assert host.read(f"{Q}/reset") == "No Reset Timer set.\n"
    assert host.read(f"{Q}/interrupt") == "Interrupts enabled.\n"


def test_writing_the_same_mask_changes_nothing():
    env, m, lp, host = doc_host()
    before = len(host.bus.uevents)
    host.echo("0x" + "f" * 64, f"{BUS}/apmask")
    assert len(host.bus.uevents) == before


def test_a_mask_change_sends_an_apmask_uevent_with_the_new_mask():
    env, m, lp, host = doc_host()
    host.echo("-5", f"{BUS}/apmask")
    assert host.bus.uevents[-1][1:] == ("/sys/devices/ap", "APMASK=0xfb" + "f" * 62)


def test_a_mask_change_also_probes_queues_that_have_no_driver():
    env, m, lp, host = doc_host()
    host.echo("06.0047", f"{BUS}/drivers/cex4queue/unbind")
    host.echo("-5", f"{BUS}/apmask")
    assert driver_of(host, "06.0047") == "cex4queue"


def test_writing_a_queue_reset_restarts_its_state_machine():
    env, m, lp, host = doc_host()
    run(env, 100 * MS)
    host.echo("1", f"{Q}/reset")
    assert host.read(f"{Q}/reset") == "Reset in progress.\n"
    run(env, 40 * MS + 1)
    assert host.read(f"{Q}/reset") == "No Reset Timer set.\n"


def test_reset_write_on_a_vfio_ap_queue_leaves_it_waiting_because_the_bus_does_not_run_it():
    """A vfio_ap-bound queue is UNINITIATED for the bus: the reset never starts."""
    env, m, lp, host = doc_host()
    host.echo("-5", f"{BUS}/apmask")
    host.echo("1", f"{Q}/reset")
    run(env, 100 * MS)
    assert host.read(f"{Q}/reset") == "Reset in progress.\n"


def test_card_online_zero_takes_its_queues_offline():
    env, m, lp, host = doc_host()
    host.echo("0", f"{BUS}/devices/card05/online")
    assert host.read(f"{Q}/online") == "0\n"
    host.echo("1", f"{BUS}/devices/card05/online")
    assert host.read(f"{Q}/online") == "1\n"
