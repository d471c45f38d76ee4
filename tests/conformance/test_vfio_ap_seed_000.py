"""Seed 000 (2018 patch v8, Documentation/s390/vfio-ap.txt): its two-guest example
replayed against the newest kernel model.

Where the 2018 document differs from the kernel (each test's docstring says which):

* it secures queues by unbinding them from cex4queue and binding them to vfio_ap;
  today the ``bind`` is refused (ENODEV) because apmask/aqmask still reserve the
  queue for the default drivers — the masks are the only way;
* it says usage domains implicitly become control domains; today the guest's ADM
  holds only explicitly assigned control domains;
* it requires at least one bound APQN before an adapter or domain can be assigned;
  today any APQN not reserved for the host may be assigned (over-provisioning);
* its Guest2 table shows adapter 05 as a CEX5A while Guest1 shows the same adapter
  as a CEX5C (a typo in the document; one adapter has one mode);
* it says remove fails while a guest runs; today the remove waits for the VMM.
"""

from __future__ import annotations

import errno

import pytest

from apsim.errors import SysfsError
from tests.unit.linux_support import (
    BUS,
    MATRIX,
    UUID1,
    UUID2,
    FakeKVM,
    assign,
    create_mdev,
    doc_host,
    driver_of,
)


def test_unbinding_05_0004_from_cex4queue_leaves_it_without_a_driver():
    env, m, lp, host = doc_host()
    host.echo("05.0004", f"{BUS}/drivers/cex4queue/unbind")
    assert driver_of(host, "05.0004") is None
    assert "05.0004" not in host.sysfs.listdir(f"{BUS}/drivers/cex4queue")
    assert host.read(f"{BUS}/bindings") == "7/8\n"


def test_binding_05_0004_to_vfio_ap_is_refused_with_enodev_while_the_masks_reserve_it():
    """2018: ``echo 05.0004 > bind`` hands the queue to vfio_ap. Kernel: the AP bus's
    probe refuses a host-owned APQN for a non-default driver."""
    env, m, lp, host = doc_host()
    host.echo("05.0004", f"{BUS}/drivers/cex4queue/unbind")
    with pytest.raises(SysfsError) as e:
        host.echo("05.0004", f"{BUS}/drivers/vfio_ap/bind")
    assert e.value.errno == errno.ENODEV
    assert driver_of(host, "05.0004") is None


def test_binding_works_once_apmask_gives_the_queue_up():
    env, m, lp, host = doc_host()
    host.echo("05.0004", f"{BUS}/drivers/cex4queue/unbind")
    host.echo("-5", f"{BUS}/apmask")  # the mask change re-probes the unbound queue too
    assert driver_of(host, "05.0004") == "vfio_ap"


def two_guests():  # noqa: ANN201
    env, m, lp, host = doc_host()
    host.echo("-5,-6", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    create_mdev(host, UUID2)
    assign(host, UUID1, adapters=[5, 6], domains=[4, 0xAB])
    assign(host, UUID2, adapters=[5], domains=[0x47, 0xFF])
    return env, m, lp, host


def test_two_guest_matrixes_match_the_documented_assignments():
    env, m, lp, host = two_guests()
    assert host.read(f"{MATRIX}/{UUID1}/matrix") == "05.0004\n05.00ab\n06.0004\n06.00ab\n"
    assert host.read(f"{MATRIX}/{UUID2}/matrix") == "05.0047\n05.00ff\n"


def test_usage_domains_do_not_become_control_domains_of_the_guest():
    """2018: every assigned usage domain is also set in the guest's ADM. Kernel: the
    ADM holds only assigned control domains that are in the host configuration."""
    env, m, lp, host = two_guests()
    k = FakeKVM(m, lp)
    host.open_device(UUID1, k)
    assert k.aqm == [4, 0xAB] and k.adm == []
    assign(host, UUID1, control_domains=[4])
    assert k.adm == [4]


def test_an_adapter_with_no_bound_queue_can_be_assigned_today():
    """2018: at least one APQN of the adapter must be bound to vfio_ap. Kernel:
    adapter 7 (not even in the LPAR) is accepted and kept out of the guest."""
    env, m, lp, host = two_guests()
    host.echo("-7", f"{BUS}/apmask")  # not reserved for the host, though nothing is bound
    host.echo("7", f"{MATRIX}/{UUID2}/assign_adapter")
    assert host.read(f"{MATRIX}/{UUID2}/matrix") == "05.0047\n05.00ff\n07.0047\n07.00ff\n"
    assert host.read(f"{MATRIX}/{UUID2}/guest_matrix") == "05.0047\n05.00ff\n"


def test_guest2_sees_adapter_5_in_the_mode_the_hardware_has():
    """The 2018 Guest2 table shows ``05 CEX5A Accelerator``; adapter 5 is the CEX5C of
    the Guest1 table, so the kernel reports CEX5C for both guests."""
    env, m, lp, host = two_guests()
    assert host.read(f"{BUS}/devices/card05/type") == "CEX5C\n"


def test_shared_queue_example_is_rejected_while_disjoint_domains_are_accepted():
    """Example 1 (valid: 1,2 × 5,6 and 1,2 × 7) and Example 2 (invalid: 1 × 6,7)."""
    from tests.unit.linux_support import CEX5C

    env, m, lp, host = doc_host({1: CEX5C, 2: CEX5C}, domains=(5, 6, 7))
    host.echo("-1,-2", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    create_mdev(host, UUID2)
    assign(host, UUID1, adapters=[1, 2], domains=[5, 6])
    assign(host, UUID2, adapters=[1, 2], domains=[7])
    host.echo("2", f"{MATRIX}/{UUID2}/unassign_adapter")
    host.echo("7", f"{MATRIX}/{UUID2}/unassign_domain")
    with pytest.raises(SysfsError) as e:
        assign(host, UUID2, domains=[6])
    assert e.value.errno == errno.EADDRINUSE


def test_remove_while_a_guest_runs_without_a_vmm_blocks_and_completes_on_close():
    """2018: "the remove will fail if a guest using the mdev is still running". Kernel:
    the write blocks (with no request channel it logs that it waits for the user) and
    the mdev disappears when the guest closes the device."""
    env, m, lp, host = two_guests()
    k = FakeKVM(m, lp)
    host.open_device(UUID1, k)
    host.echo("1", f"{MATRIX}/{UUID1}/remove")
    assert host.sysfs.exists(f"{MATRIX}/{UUID1}/matrix")
    assert (f"vfio_ap_mdev {UUID1}: No device request registered, blocked until released by user"
            in host.klog.messages())
    assert k.updates[-1] == "clear"
    host.close_device(UUID1)
    assert not host.sysfs.exists(f"{MATRIX}/{UUID1}")
