"""Seed 004 (2021 patch v16: dynamic configuration / hot plug): its hot plug, hot
unplug and over-provisioning rules replayed against the kernel model.

Differences from the kernel (asserted as the kernel behaves):

* "The control domain must be assigned to the host's AP configuration": not
  enforced; an out-of-configuration control domain is accepted and kept out of the
  guest's ADM until it appears (over-provisioning of control domains);
* "Must reference an AP queue device bound to the vfio_ap device driver" (in the
  assignment rules) is a condition for the queue to reach the guest, not for the
  assignment to succeed;
* the sharing errno is EADDRINUSE, not the EBUSY the document names.
"""

from __future__ import annotations

from tests.unit.linux_support import (
    BUS,
    CEX5A,
    CEX5C,
    MATRIX,
    MS,
    UUID1,
    FakeKVM,
    FakeVMM,
    assign,
    create_mdev,
    doc_host,
    run,
)


def running_guest(adapters=None, **kw):  # noqa: ANN001, ANN003, ANN201
    env, m, lp, host = doc_host(adapters or {5: CEX5C, 6: CEX5A}, **kw)
    host.echo("-5,-6,-7", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5], domains=[4, 0x47])
    k = FakeKVM(m, lp)
    vmm = FakeVMM(host)
    vmm.open(UUID1, k)
    run(env, 1 * MS)
    return env, m, lp, host, k, vmm


def test_hot_plug_of_an_adapter_whose_queues_are_all_bound_reaches_the_guest_at_once():
    env, m, lp, host, k, vmm = running_guest()
    host.echo("6", f"{MATRIX}/{UUID1}/assign_adapter")
    assert k.apm == [5, 6]
    assert vmm.cfg_changes[-1] == UUID1
    assert host.read(f"{BUS}/devices/06.0047/status") == "in use\n"


def test_hot_plug_of_a_domain_reaches_the_guest_when_every_adapter_has_the_queue_bound():
    env, m, lp, host, k, vmm = running_guest()
    host.echo("0xab", f"{MATRIX}/{UUID1}/assign_domain")
    assert k.aqm == [4, 0x47, 0xAB]


def test_hot_plug_of_a_domain_outside_the_host_configuration_is_kept_out_of_the_guest():
    env, m, lp, host, k, vmm = running_guest()
    pushes = len(k.updates)
    host.echo("-0x20", f"{BUS}/aqmask")
    host.echo("0x20", f"{MATRIX}/{UUID1}/assign_domain")
    assert "05.0020" in host.read(f"{MATRIX}/{UUID1}/matrix")
    assert k.aqm == [4, 0x47] and len(k.updates) == pushes


def test_an_adapter_with_an_unbound_queue_is_not_plugged_until_the_queue_is_bound():
    """The rule "each APQN must reference a queue bound to vfio_ap" decides whether
    the adapter reaches the guest; the assignment itself succeeds."""
    env, m, lp, host, k, vmm = running_guest()
    host.echo("06.0047", f"{BUS}/drivers/vfio_ap/unbind")
    host.echo("6", f"{MATRIX}/{UUID1}/assign_adapter")
    assert "06.0047" in host.read(f"{MATRIX}/{UUID1}/matrix")
    assert k.apm == [5]
    host.echo("06.0047", f"{BUS}/drivers/vfio_ap/bind")
    assert k.apm == [5, 6]


def test_hot_unplug_of_an_adapter_clears_it_from_the_guest_and_resets_its_queues():
    env, m, lp, host, k, vmm = running_guest()
    host.echo("6", f"{MATRIX}/{UUID1}/assign_adapter")
    before = host.vfio.stats["zapq"]
    host.echo("6", f"{MATRIX}/{UUID1}/unassign_adapter")
    assert k.apm == [5]
    assert host.vfio.stats["zapq"] - before == 2
    assert host.read(f"{BUS}/devices/06.0047/status") == "unassigned\n"


def test_control_domain_outside_the_host_configuration_is_accepted_and_not_given_to_the_guest():
    env, m, lp, host, k, vmm = running_guest()
    host.echo("0x10", f"{MATRIX}/{UUID1}/assign_control_domain")
    host.echo("4", f"{MATRIX}/{UUID1}/assign_control_domain")
    assert host.read(f"{MATRIX}/{UUID1}/control_domains") == "0004\n0010\n"
    assert k.adm == [4]


def test_over_provisioned_adapter_is_plugged_once_the_se_adds_it_to_the_lpar():
    env, m, lp, host, k, vmm = running_guest({5: CEX5C, 6: CEX5A, 7: CEX5C},
                                              lpar_adapters=[5, 6])
    host.echo("7", f"{MATRIX}/{UUID1}/assign_adapter")
    assert host.read(f"{MATRIX}/{UUID1}/matrix") == "05.0004\n05.0047\n07.0004\n07.0047\n"
    assert host.read(f"{MATRIX}/{UUID1}/guest_matrix") == "05.0004\n05.0047\n"
    pushes = len(k.updates)
    m.se_configure(lp, [5, 6], on=False)
    m.se_change_lpar_crypto(lp, add_adapters=[7])
    run(env, m.chsc_event_ns + 1)
    assert host.read(f"{MATRIX}/{UUID1}/guest_matrix") == "05.0004\n05.0047\n07.0004\n07.0047\n"
    assert k.apm == [5, 7] and len(k.updates) == pushes + 1
    assert host.read(f"{BUS}/devices/card07/config") == "0\n"  # added adapters come in standby
    m.se_configure(lp, [5, 6, 7], on=True)
    run(env, m.chsc_event_ns + 1)
    assert host.read(f"{BUS}/devices/07.0047/config") == "1\n"
    assert k.guest_cpu().tapq(0x0747).rc == 0


def test_over_provisioned_domain_is_plugged_once_the_se_adds_it_to_the_lpar():
    env, m, lp, host, k, vmm = running_guest()
    host.echo("-0x30", f"{BUS}/aqmask")
    host.echo("0x30", f"{MATRIX}/{UUID1}/assign_domain")
    assert k.aqm == [4, 0x47]
    m.se_configure(lp, [5, 6], on=False)
    m.se_change_lpar_crypto(lp, add_usage_domains=[0x30])
    run(env, m.chsc_event_ns + 1)
    assert k.aqm == [4, 0x30, 0x47]
    assert "05.0030" in host.sysfs.listdir(f"{BUS}/drivers/vfio_ap")
