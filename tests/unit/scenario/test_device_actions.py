"""The device-boundary action models (apsim.scenario.device_actions): what ``kvm.masks``,
``vfio.*`` and ``qemu.log`` accept and the combinations they refuse."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from apsim.scenario.device_actions import (KvmMasks, KvmMasksExpect, QemuLogExpect, VfioGetInfo, VfioIoctl,
                                           VfioOpen, VfioSetIrqs)

UUID = "62177883-f1bb-47f0-914d-32a22e3a8804"


def test_a_kvm_masks_expectation_needs_something_to_compare():
    assert KvmMasksExpect(apm=[5, "0x06"], last="set_masks").apm == [5, 6]
    with pytest.raises(ValidationError, match="at least one of apm, aqm, adm, updates, last"):
        KvmMasksExpect()
    with pytest.raises(ValidationError):
        KvmMasks(do="kvm.masks", at=0, guest="g", expect={"last": "reset_masks"})


def test_a_vfio_call_expects_its_fields_or_an_errno_but_not_both():
    assert VfioGetInfo(do="vfio.get_info", at=0, guest="g", expect={"flags": "0x21"}).expect == {"flags": 0x21}
    assert VfioGetInfo(do="vfio.get_info", at=0, guest="g", expect_errno="EBADF").expect_errno == "EBADF"
    with pytest.raises(ValidationError, match="not both"):
        VfioGetInfo(do="vfio.get_info", at=0, guest="g", expect={"flags": 1}, expect_errno="EBADF")


def test_set_irqs_defaults_to_registering_an_eventfd_for_the_request_irq():
    s = VfioSetIrqs(do="vfio.set_irqs", at=0, guest="g")
    assert (s.index, s.flags, s.start, s.count, s.fd) == (0, 0x24, 0, 1, "eventfd")
    assert VfioSetIrqs(do="vfio.set_irqs", at=0, guest="g", fd=-1).fd == -1
    with pytest.raises(ValidationError):
        VfioSetIrqs(do="vfio.set_irqs", at=0, guest="g", fd="pipe")


def test_ioctl_numbers_are_32_bit_registers_in_decimal_or_hex():
    assert VfioIoctl(do="vfio.ioctl", at=0, guest="g", cmd="0x3b6c").cmd == 0x3B6C
    with pytest.raises(ValidationError):
        VfioIoctl(do="vfio.ioctl", at=0, guest="g", cmd=1 << 32)


def test_open_takes_an_mdev_uuid_and_optionally_a_guests_kvm():
    o = VfioOpen(do="vfio.open", at="1ms", mdev=UUID.upper())
    assert o.mdev == UUID and o.guest is None and o.at == 1_000_000
    with pytest.raises(ValidationError, match="is not a UUID"):
        VfioOpen(do="vfio.open", at=0, mdev="ap0")


def test_qemu_log_expectations_are_regular_expressions_for_a_guest():
    q = QemuLogExpect(do="qemu.log", at=0, guest="g", expect=["DEVICE_DELETED"])
    assert q.expect == ["DEVICE_DELETED"]
    with pytest.raises(ValidationError, match="is not a regular expression"):
        QemuLogExpect(do="qemu.log", at=0, guest="g", absent=["[unclosed"])
