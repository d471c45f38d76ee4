"""Seed 002 (2019 patch v4: dynamic configuration, SE and SCLP sections): its
examples replayed against the kernel model.

Machine: adapters 4, 5, 6 (CEX5C, CEX5C, CEX5A) — plus adapter 0x0a for the
document's hot plug example — with domains 4, 0x47, 0xab, 0xff online in the LPAR.

Differences from the kernel (asserted here as the kernel behaves):

* sharing errors are EADDRINUSE (this document is right; 001/004 say EBUSY);
* ``guest_matrix`` is readable without a guest (the document says ENODEV);
* the document's "To secure all queues on adapters 05 and 05" means 05 and 06.
"""

from __future__ import annotations

import errno

import pytest

from apsim.errors import SysfsError
from apsim.hw.machine import HardwareOpRefused
from tests.unit.linux_support import (
    BUS,
    CEX5A,
    CEX5C,
    MATRIX,
    MS,
    UUID1,
    UUID2,
    FakeKVM,
    FakeVMM,
    assign,
    create_mdev,
    doc_host,
    run,
    vfio_queues,
)

ADAPTERS = {4: CEX5C, 5: CEX5C, 6: CEX5A}
TWELVE = [f"{a:02x}.{d:04x}" for a in (4, 5, 6) for d in (4, 0x47, 0xAB, 0xFF)]


def secured(adapters=ADAPTERS, **kw):  # noqa: ANN001, ANN003, ANN201
    env, m, lp, host = doc_host(adapters, **kw)
    host.echo("-4,-0x47,-0xab,-0xff", f"{BUS}/aqmask")
    return env, m, lp, host


def test_securing_the_four_domains_on_all_adapters_binds_twelve_queues_to_vfio_ap():
    env, m, lp, host = secured()
    assert vfio_queues(host) == TWELVE


def test_securing_adapters_5_and_6_binds_their_eight_queues_and_keeps_adapter_4_for_the_host():
    env, m, lp, host = doc_host(ADAPTERS)
    host.echo("-5,-6", f"{BUS}/apmask")
    assert vfio_queues(host) == TWELVE[4:]
    assert sorted(n for n in host.sysfs.listdir(f"{BUS}/drivers/cex4queue") if "." in n) == TWELVE[:4]


def test_example_masks_0x70_and_0x0180_reserve_adapters_1_to_3_with_domains_7_and_8():
    env, m, lp, host = doc_host({a: CEX5C for a in range(5)}, domains=(6, 7, 8, 9))
    host.echo("0x7" + "0" * 63, f"{BUS}/apmask")
    host.echo("0x0180" + "0" * 60, f"{BUS}/aqmask")
    owned = sorted(n for n in host.sysfs.listdir(f"{BUS}/drivers/cex4queue") if "." in n)
    assert owned == ["01.0007", "01.0008", "02.0007", "02.0008", "03.0007", "03.0008"]


def test_assigning_an_apqn_not_bound_but_not_reserved_succeeds():
    """2019 change: only host-reserved APQNs are refused (EADDRNOTAVAIL)."""
    env, m, lp, host = secured()
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[4, 9], domains=[0x47])
    assert host.read(f"{MATRIX}/{UUID1}/matrix") == "04.0047\n09.0047\n"
    with pytest.raises(SysfsError) as e:
        assign(host, UUID1, domains=[0x10])
    assert e.value.errno == errno.EADDRNOTAVAIL


def test_sharing_an_apqn_with_another_mdev_fails_with_eaddrinuse():
    env, m, lp, host = secured()
    create_mdev(host, UUID1)
    create_mdev(host, UUID2)
    assign(host, UUID1, adapters=[4], domains=[4])
    with pytest.raises(SysfsError) as e:
        assign(host, UUID2, domains=[4], adapters=[4])
    assert e.value.errno == errno.EADDRINUSE


def test_guest_matrix_is_readable_without_a_guest():
    """The document says reading guest_matrix with no guest fails with ENODEV; the
    kernel shows what the guest would get."""
    env, m, lp, host = secured()
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[4, 5], domains=[4])
    assert host.read(f"{MATRIX}/{UUID1}/guest_matrix") == "04.0004\n05.0004\n"


def test_hot_plug_echo_0xa_into_assign_adapter_adds_adapter_10_to_the_running_guest():
    env, m, lp, host = secured({**ADAPTERS, 0x0A: CEX5C})
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[4], domains=[4, 0x47])
    k = FakeKVM(m, lp)
    FakeVMM(host).open(UUID1, k)
    host.echo("0xa", f"{MATRIX}/{UUID1}/assign_adapter")
    assert k.apm == [4, 0x0A]
    assert host.read(f"{MATRIX}/{UUID1}/guest_matrix") == "04.0004\n04.0047\n0a.0004\n0a.0047\n"


def test_hot_unplug_echo_5_into_unassign_domain_removes_domain_5_and_resets_its_queues():
    env, m, lp, host = doc_host(ADAPTERS, domains=(4, 5, 0x47, 0xAB, 0xFF))
    host.echo("-4,-5", f"{BUS}/aqmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[4, 5], domains=[4, 5])
    k = FakeKVM(m, lp)
    FakeVMM(host).open(UUID1, k)
    zapq_before = host.vfio.stats["zapq"]
    host.echo("5", f"{MATRIX}/{UUID1}/unassign_domain")
    assert k.aqm == [4]
    assert host.vfio.stats["zapq"] - zapq_before == 2  # 04.0005 and 05.0005
    assert host.read(f"{MATRIX}/{UUID1}/guest_matrix") == "04.0004\n05.0004\n"


def guest_on_4_and_5():  # noqa: ANN201
    env, m, lp, host = secured()
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[4, 5], domains=[4])
    k = FakeKVM(m, lp)
    FakeVMM(host).open(UUID1, k)
    run(env, 1 * MS)
    return env, m, lp, host, k


def test_se_configure_off_deconfigures_host_devices_and_the_guest_gets_rc_3_with_an_unchanged_apcb():
    env, m, lp, host, k = guest_on_4_and_5()
    pushes = len(k.updates)
    m.se_configure(lp, [5], on=False)
    run(env, m.chsc_event_ns + 1)
    assert host.read(f"{BUS}/devices/card05/config") == "0\n"
    assert host.read(f"{BUS}/devices/05.0004/config") == "0\n"
    assert len(k.updates) == pushes and k.apm == [4, 5]
    assert k.guest_cpu().tapq(0x0504).rc == 0x03
    m.se_configure(lp, [5], on=True)
    run(env, m.chsc_event_ns + 1)
    assert host.read(f"{BUS}/devices/05.0004/config") == "1\n"
    assert k.guest_cpu().tapq(0x0504).rc == 0x00
    assert len(k.updates) == pushes


def test_se_adding_adapters_requires_online_adapters_to_be_configured_off_first():
    env, m, lp, host = secured({**ADAPTERS, 7: CEX5C}, lpar_adapters=[4, 5, 6])
    with pytest.raises(HardwareOpRefused):
        m.se_change_lpar_crypto(lp, add_adapters=[7])


def test_se_removing_an_adapter_unplugs_it_from_the_guest_after_the_chsc_event():
    env, m, lp, host, k = guest_on_4_and_5()
    m.se_configure(lp, [4, 5, 6], on=False)
    m.se_change_lpar_crypto(lp, remove_adapters=[5])
    run(env, m.chsc_event_ns + 1)
    assert k.apm == [4]
    assert "card05" not in host.sysfs.listdir(f"{BUS}/devices")
    assert host.read(f"{MATRIX}/{UUID1}/matrix") == "04.0004\n05.0004\n"
    assert host.read(f"{MATRIX}/{UUID1}/guest_matrix") == "04.0004\n"


def test_sclp_deconfigure_via_card_config_sets_the_card_at_once_and_its_queues_at_the_next_scan():
    env, m, lp, host, k = guest_on_4_and_5()
    host.echo("0", f"{BUS}/devices/card05/config")
    assert host.read(f"{BUS}/devices/card05/config") == "0\n"
    assert host.read(f"{BUS}/devices/05.0004/config") == "1\n"
    assert 5 not in lp.online
    assert k.guest_cpu().tapq(0x0504).rc == 0x03
    run(env, m.chsc_event_ns + 1)
    assert host.read(f"{BUS}/devices/05.0004/config") == "0\n"
    host.echo("1", f"{BUS}/devices/card05/config")
    assert 5 in lp.online
    run(env, m.chsc_event_ns + 1)
    assert host.read(f"{BUS}/devices/05.0004/config") == "1\n"
    card_events = [e for _t, p, e in host.bus.uevents if p == "/sys/devices/ap/card05"]
    assert card_events == ["CONFIG=0", "CONFIG=1"]
