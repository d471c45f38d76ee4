"""The failing steps of vfio_ap_irq_enable (apsim.linux.vfio_ap.irq_faults): NIB pinning
and guest-ISC registration, with what vfio_ap holds for the queue afterwards."""

from __future__ import annotations

import pytest

from apsim.engine import codes
from apsim.hw.faults import Fault, table_of
from apsim.kernel import KernelProfile
from tests.unit.linux_support import open_guest


def guest(kernel=None):  # noqa: ANN001, ANN201
    _env, m, _lp, host, k = open_guest(kernel=kernel)
    return m, host, k


def arm(m, kind: str, code: int, issuer: str | None = None) -> Fault:  # noqa: ANN001
    f = Fault(id=1, kind=kind, start=m.env.now, code=code, count=1, issuer=issuer)
    table_of(m).arm(f)
    return f


def held(host) -> tuple[int, int]:  # noqa: ANN001
    q = host.vfio.queues[0x0504]
    return q.nib_pins, q.gisc_refs


def test_an_enable_holds_one_pin_and_one_registration_and_a_disable_frees_them():
    """vfio_ap_irq_enable keeps the NIB page pinned and the ISC registered;
    vfio_ap_irq_disable → vfio_ap_free_aqic_resources gives both back."""
    m, host, k = guest()
    assert codes.status_rc(k.aqic(0x0504, enable=True)) == 0
    assert held(host) == (1, 1)
    assert codes.status_rc(k.aqic(0x0504, enable=False)) == 0
    assert held(host) == (0, 0)


def test_a_failed_pin_answers_only_rc_06_and_holds_nothing():
    """vfio_ap_irq_enable: vfio_pin_pages != 1 → status with RC 0x06 and no other bit."""
    m, host, k = guest()
    f = arm(m, "nib_pin", -14)
    assert k.aqic(0x0504, enable=True) == codes.make_status(0x06)
    assert held(host) == (0, 0)
    assert f.fired == 1
    assert not m.adapters[5].queues[4].irq


@pytest.mark.parametrize("kernel, rc, pins", [("6.19", 0x06, 0), ("6.7", 0x08, 1)])
def test_a_failed_gisc_registration_unpins_from_6_8(kernel, rc, pins):
    """vfio_ap_irq_enable: kvm_s390_gisc_register < 0; from 6.8 vfio_unpin_pages and RC
    0x06, before RC 0x08 with the page left pinned."""
    m, host, k = guest(KernelProfile.of(kernel))
    arm(m, "gisc", -19)
    assert k.aqic(0x0504, enable=True) == codes.make_status(rc)
    assert held(host) == (pins, 0)


def test_an_aqic_answering_07_gives_back_the_new_pin_and_registration():
    """vfio_ap_irq_enable, AP_RESPONSE_OTHERWISE_CHANGED: unregister the ISC, unpin the NIB."""
    m, host, k = guest()
    k.aqic(0x0504, enable=True)
    assert codes.status_rc(k.aqic(0x0504, enable=True)) == 0x07
    assert held(host) == (1, 1)


def test_a_fault_for_another_guest_does_not_fire():
    """A fault limited to one guest's AQICs spares the others."""
    m, host, k = guest()
    f = arm(m, "nib_pin", -14, issuer="guest:other")
    assert codes.status_rc(k.aqic(0x0504, enable=True)) == 0
    assert f.fired == 0
