"""vfio_ap's PQAP(AQIC) hook (reference §7.4) and the open-time hook quirk (§15 item 19)."""

from __future__ import annotations

import errno

import pytest

from apsim.kernel import KernelProfile

from apsim.errors import SysfsError
from apsim.engine import codes
from tests.unit.linux_support import (
    BUS,
    MS,
    UUID1,
    UUID2,
    FakeKVM,
    assign,
    create_mdev,
    doc_host,
    run,
)


def guest(kernel=None, aiv=True):  # noqa: ANN001, ANN201
    env, m, lp, host = doc_host(kernel=kernel)
    host.echo("-5,-6", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5, 6], domains=[4, 0x47])
    k = FakeKVM(m, lp, aiv=aiv)
    host.open_device(UUID1, k)
    run(env, 1 * MS)
    return env, m, lp, host, k


def rc(status: int | None) -> int | None:
    return None if status is None else codes.status_rc(status)


def test_enable_with_nib_zero_answers_invalid_address():
    env, m, lp, host, k = guest()
    assert rc(k.aqic(0x0504, enable=True, nib=0)) == 0x06


def test_an_apqn_not_linked_to_the_mdev_answers_0x01():
    env, m, lp, host, k = guest()
    assert rc(k.aqic(0x05AB, enable=True)) == 0x01


def test_enable_issues_the_host_aqic_with_the_guest_gisa_and_routes_interruptions_to_the_guest():
    env, m, lp, host, k = guest()
    status = k.aqic(0x0504, enable=True, isc=3, nib=0x2000)
    assert rc(status) == 0 and status & codes.SW_IRQ_ENABLED
    q = host.vfio.queues[0x0504]
    assert (q.saved_isc, q.saved_nib) == (3, 0x2000)
    cpu = k.guest_cpu()
    assert cpu.tapq(0x0504).irq_enabled
    assert cpu.enqueue(0x0504, psmid=1, request_type="rsa2048").rc == 0
    run(env, 100 * MS)
    assert k.interrupts == [0x0504]


def test_disable_clears_the_interruption_and_releases_the_guest_resources():
    env, m, lp, host, k = guest()
    k.aqic(0x0504, enable=True)
    status = k.aqic(0x0504, enable=False)
    assert rc(status) == 0 and not status & codes.SW_IRQ_ENABLED
    assert host.vfio.queues[0x0504].saved_isc == 0xFF
    assert not k.guest_cpu().tapq(0x0504).irq_enabled


def test_enabling_twice_answers_otherwise_changed_and_keeps_the_first_registration():
    env, m, lp, host, k = guest()
    k.aqic(0x0504, enable=True, isc=3)
    assert rc(k.aqic(0x0504, enable=True, isc=5, nib=0x3000)) == 0x07
    assert host.vfio.queues[0x0504].saved_isc == 3


def test_without_adapter_interruption_virtualization_the_hook_hands_over_to_user_space():
    env, m, lp, host, k = guest(aiv=False)
    assert k.aqic(0x0504, enable=True) is None


def test_close_removes_the_hook():
    env, m, lp, host, k = guest()
    host.close_device(UUID1)
    assert k.pqap_hook is None
    assert rc(k.aqic(0x0504, enable=True)) == 0x01


@pytest.mark.parametrize("kernel, expected", [(KernelProfile.all_fixed(), 0x01), (KernelProfile(), 0x00)])
def test_quirk_21_a_linked_queue_filtered_out_of_the_guest_is_accepted_in_mainline_unless_fixed(kernel, expected):
    """§15 item 21: the kernel checks the linked-queue table, not the guest's APCB."""
    env, m, lp, host, k = guest(kernel=kernel)
    host.echo("06.0047", f"{BUS}/drivers/vfio_ap/unbind")
    assert k.apm == [5]
    run(env, 50 * MS)
    assert rc(k.aqic(0x0604, enable=True)) == expected


@pytest.mark.parametrize("kernel, expected", [(KernelProfile.all_fixed(), 0x00), (KernelProfile(), 0x01)])
def test_quirk_19_a_rejected_second_open_leaves_the_hook_on_the_rejected_mdev_in_mainline_unless_fixed(
        kernel, expected):
    """§15 item 19: the hook is installed before the one-mdev-per-KVM check."""
    env, m, lp, host, k = guest(kernel=kernel)
    create_mdev(host, UUID2)
    with pytest.raises(SysfsError) as e:
        host.open_device(UUID2, k)
    assert e.value.errno == errno.EPERM
    assert rc(k.aqic(0x0504, enable=True)) == expected


def test_a_kvm_without_crycb_opens_without_getting_an_apcb_or_a_hook():
    env, m, lp, host = doc_host()
    host.echo("-5", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5], domains=[4])
    k = FakeKVM(m, lp, has_crycb=False)
    host.open_device(UUID1, k)
    assert k.updates == [] and k.pqap_hook is None
    assert host.read(f"{BUS}/devices/05.0004/status") == "assigned\n"
