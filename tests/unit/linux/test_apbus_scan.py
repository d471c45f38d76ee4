"""AP bus scans: triggers, timing and order (reference §10.4, §12.3)."""

from __future__ import annotations

from apsim.engine.config import Facilities
from apsim.engine.instructions import Executor
from apsim.linux import Host
from apsim.linux.vfio_ap import ops
from tests.unit.linux_support import (
    BUS,
    CEX5A,
    CEX5C,
    MATRIX,
    MS,
    S,
    UUID1,
    FakeKVM,
    assign,
    create_mdev,
    doc_host,
    doc_machine,
    run,
)


def test_initial_scan_at_boot_creates_cards_and_queues_and_counts_one_scan():
    env, m, lp, host = doc_host()
    assert host.read(f"{BUS}/scans") == "1\n"
    assert sorted(host.bus.cards) == [5, 6]
    assert len(host.bus.queues) == 8
    assert ("/sys/devices/ap", "INITSCAN=done") in [(p, e) for _t, p, e in host.bus.uevents]


def test_periodic_scan_runs_every_config_time_seconds():
    env, m, lp, host = doc_host()
    run(env, 30 * S)  # env.run(until=t) stops before the events due at t
    assert host.read(f"{BUS}/scans") == "1\n"
    run(env, 1)
    assert host.read(f"{BUS}/scans") == "2\n"
    run(env, 30 * S)
    assert host.read(f"{BUS}/scans") == "3\n"


def test_writing_config_time_rearms_the_timer_from_now():
    env, m, lp, host = doc_host()
    run(env, 10 * S)
    host.echo("5", f"{BUS}/config_time")
    run(env, 5 * S)
    assert host.read(f"{BUS}/scans") == "1\n"
    run(env, 1)
    assert host.read(f"{BUS}/scans") == "2\n"
    assert host.read(f"{BUS}/config_time") == "5\n"


def test_no_periodic_scan_when_config_time_is_none():
    env, m, lp, host = doc_host(config_time_s=None)
    run(env, 200 * S)
    assert host.read(f"{BUS}/scans") == "1\n"


def test_chsc_event_forces_a_scan_after_the_event_latency_and_rearms_the_timer():
    env, m, lp, host = doc_host()
    run(env, 10 * S)
    m.se_configure(lp, [6], on=False)
    run(env, m.chsc_event_ns)
    assert host.read(f"{BUS}/devices/card06/config") == "1\n"
    run(env, 1)
    assert host.read(f"{BUS}/devices/card06/config") == "0\n"
    assert host.read(f"{BUS}/scans") == "2\n"
    run(env, 30 * S - 1)  # the forced scan re-armed the timer: 30 s after it, not after boot
    assert host.read(f"{BUS}/scans") == "2\n"
    run(env, 1)
    assert host.read(f"{BUS}/scans") == "3\n"


def test_without_the_chsc_event_the_periodic_scan_catches_the_change():
    env, m, lp = doc_machine()
    host = Host(env, m, Executor(m, lp.config))  # a guest-like Linux: nobody forwards the event
    lp._listeners.clear()
    m.se_configure(lp, [6], on=False)
    run(env, 1 * S)
    assert host.read(f"{BUS}/devices/card06/config") == "1\n"
    run(env, 29 * S + 1)
    assert host.read(f"{BUS}/devices/card06/config") == "0\n"


def test_writing_scans_forces_a_scan():
    env, m, lp, host = doc_host()
    host.echo("1", f"{BUS}/scans")
    assert host.read(f"{BUS}/scans") == "2\n"


def test_scan_calls_on_config_changed_then_probes_new_queues_then_on_scan_complete(monkeypatch):
    env, m, lp, host = doc_host({5: CEX5C, 6: CEX5A, 7: CEX5C}, lpar_adapters=[5, 6])
    host.echo("-7", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[7], domains=[4])
    calls: list[str] = []
    for name in ("on_config_changed", "probe_queue", "on_scan_complete"):
        real = getattr(ops, name)

        def wrapper(vfio, arg, *rest, _real=real, _name=name):  # noqa: ANN001, ANN002, ANN202
            calls.append(_name if _name != "probe_queue" else f"probe {arg.name}")
            return _real(vfio, arg, *rest)
        monkeypatch.setattr(ops, name, wrapper)
    m.se_configure(lp, [5, 6], on=False)
    m.se_change_lpar_crypto(lp, add_adapters=[7])
    run(env, m.chsc_event_ns + 1)
    assert calls == ["on_config_changed", "probe 07.0004", "probe 07.0047", "probe 07.00ab",
                     "probe 07.00ff", "on_scan_complete"]
    assert host.read(f"{MATRIX}/{UUID1}/guest_matrix") == "07.0004\n"


def test_an_adapter_removed_from_the_lpar_loses_its_card_and_queue_devices():
    env, m, lp, host = doc_host()
    m.se_configure(lp, [5, 6], on=False)
    m.se_change_lpar_crypto(lp, remove_adapters=[6])
    run(env, m.chsc_event_ns + 1)
    assert sorted(host.bus.cards) == [5]
    assert not host.sysfs.exists(f"{BUS}/devices/06.0004")
    assert host.read(f"{BUS}/ap_adapter_mask").startswith("0x04")


def test_a_standby_adapter_has_deconfigured_card_and_queue_devices():
    env, m, lp, host = doc_host(standby=[6])
    assert host.read(f"{BUS}/devices/card06/config") == "0\n"
    assert host.read(f"{BUS}/devices/06.0047/config") == "0\n"
    assert host.read(f"{BUS}/devices/06.0047/online") == "0\n"


def test_a_checkstopped_adapter_shows_chkstop_on_card_and_queues_after_the_scan():
    env, m, lp, host = doc_host()
    m.checkstop(5)
    run(env, m.chsc_event_ns + 1)
    assert host.read(f"{BUS}/devices/card05/chkstop") == "1\n"
    assert host.read(f"{BUS}/devices/05.0004/chkstop") == "1\n"
    m.checkstop(5, on=False)
    run(env, m.chsc_event_ns + 1)
    assert host.read(f"{BUS}/devices/05.0004/chkstop") == "0\n"


def test_maxima_come_from_qci_na_and_nd_with_apxa_and_are_63_15_without():
    env, m, lp, host = doc_host(max_adapter_id=100, max_domain_id=255)
    assert (host.read(f"{BUS}/ap_max_adapter_id"), host.read(f"{BUS}/ap_max_domain_id")) == ("100\n", "255\n")
    from apsim.hw.machine import Machine
    env2 = env.__class__()
    m2 = Machine(env2, apxa=False)
    m2.install_adapter(5, CEX5C)
    lp2 = m2.add_lpar("l", adapters=[5], usage_domains=[4])
    h2 = Host(env2, m2, Executor(m2, lp2.config))
    assert (h2.read(f"{BUS}/ap_max_adapter_id"), h2.read(f"{BUS}/ap_max_domain_id")) == ("63\n", "15\n")


def test_a_linux_without_qci_scans_ids_up_to_63_and_15_and_prints_not_supported():
    env, m, lp, host = doc_host(domains=(4, 0x47))
    host.echo("-5", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5], domains=[4, 0x47])
    k = FakeKVM(m, lp, facilities=Facilities(apqci=False))
    host.open_device(UUID1, k)
    guest = Host(env, m, k.guest_cpu(), name="guest")
    assert guest.read(f"{BUS}/ap_adapter_mask") == "not supported\n"
    assert guest.read(f"{BUS}/features") == "-\n"
    assert guest.read(f"{BUS}/ap_max_domain_id") == "15\n"
    assert sorted(guest.bus.queues) == [0x0504]  # domain 0x47 is beyond 15


def test_a_linux_without_apft_creates_no_devices():
    env, m, lp, host = doc_host()
    host.echo("-5", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5], domains=[4])
    k = FakeKVM(m, lp, facilities=Facilities(apft=False))
    host.open_device(UUID1, k)
    guest = Host(env, m, k.guest_cpu(), name="guest")
    assert guest.bus.cards == {} and guest.bus.queues == {}
    assert guest.lszcrypt() == "lszcrypt: No crypto card devices found.\n"


def test_a_linux_without_ap_instructions_has_no_ap_bus():
    env, m, lp = doc_machine(facilities=Facilities(ap=False))
    host = Host(env, m, Executor(m, lp.config))
    assert host.bus is None and host.vfio is None
    assert host.klog.messages() == ["ap: The hardware system does not support AP instructions"]
    assert not host.sysfs.exists(BUS)


def test_default_domain_is_the_first_domain_in_aqmask_with_a_working_queue():
    env, m, lp, host = doc_host(cmdline="ap.aqmask=-4")
    assert host.read(f"{BUS}/ap_domain") == "-1\n"  # relative boot string on a cleared mask: empty
    env, m, lp, host = doc_host(cmdline="ap.aqmask=+0x47-0xff")
    assert host.read(f"{BUS}/ap_domain") == "71\n"


def test_boot_parameter_domain_outside_aqmask_is_warned_about_and_ignored():
    env, m, lp, host = doc_host(cmdline="ap.aqmask=0x08 ap.domain=0x47")
    assert "ap: 71 is not a valid cryptographic domain" in host.klog.messages()
    assert host.read(f"{BUS}/ap_domain") == "4\n"
    env, m, lp, host = doc_host(cmdline="ap.domain=0xab")
    assert host.read(f"{BUS}/ap_domain") == "171\n"


def test_bindings_complete_is_counted_once_per_completion():
    env, m, lp, host = doc_host()
    assert host.read(f"{BUS}/bindings_complete_count") == "1\n"
    host.echo("05.0004", f"{BUS}/drivers/cex4queue/unbind")
    assert host.read(f"{BUS}/bindings") == "7/8\n"
    host.echo("05.0004", f"{BUS}/drivers/cex4queue/bind")
    host.echo("1", f"{BUS}/scans")
    assert host.read(f"{BUS}/bindings_complete_count") == "2\n"
    run(env, 1 * MS)
