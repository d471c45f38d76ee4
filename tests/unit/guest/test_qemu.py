"""apsim.guest.qemu: QEMU's side of the vfio-ap device's eventfds (hw/vfio/ap.c
vfio_ap_register_irq_notifier / vfio_ap_unregister_irq_notifier) and its output lines."""

from __future__ import annotations

from apsim.guest.qemu import QemuLog, register_irq_notifiers, unregister_irq_notifiers
from apsim.linux.vfio_ap import ioctl


class FakeVfio:
    """A device file whose kernel has *num_irqs* IRQs; records the SET_IRQS calls."""

    def __init__(self, num_irqs: int) -> None:
        self.num_irqs = num_irqs
        self.set_irqs: list[tuple[int, object]] = []

    def device_ioctl(self, uuid: str, cmd: int, **args: object) -> object:
        if cmd == ioctl.VFIO_DEVICE_GET_INFO:
            return {"num_irqs": self.num_irqs}
        if cmd == ioctl.VFIO_DEVICE_SET_IRQS:
            self.set_irqs.append((args["index"], args["fd"]))  # type: ignore[arg-type]
        return {"count": 1}


def noop() -> None:
    """A reader that does nothing."""


def test_qemu_10_1_registers_both_eventfds_and_unregisters_them_with_fd_minus_1():
    """vfio_ap_realize registers IRQ 0 and (10.1) IRQ 1; vfio_ap_unrealize passes fd -1."""
    host, log = FakeVfio(2), QemuLog()
    fds = register_irq_notifiers(host, "u", (10, 1), log, 0, noop, noop)
    assert sorted(fds) == [0, 1] and log.lines() == []
    unregister_irq_notifiers(host, "u", fds)
    assert [fd for _, fd in host.set_irqs[2:]] == [-1, -1] and fds == {}


def test_a_kernel_without_the_irqs_is_reported_and_an_older_qemu_asks_for_none():
    """num_irqs < index + 1: error_report for the request IRQ, warn_report for the config
    change; QEMU before 8.1 registers no eventfd at all."""
    host, log = FakeVfio(0), QemuLog()
    assert register_irq_notifiers(host, "u", (10, 1), log, 5, noop, noop) == {}
    assert log.lines() == ["qemu-system-s390x: vfio: IRQ 0 not available (number of irqs 0)",
                           "qemu-system-s390x: warning: vfio: IRQ 1 not available (number of irqs 0)"]
    host, log = FakeVfio(2), QemuLog()
    assert register_irq_notifiers(host, "u", (8, 0), log, 5, noop, noop) == {} and host.set_irqs == []


def test_device_deleted_is_the_qmp_event_libvirt_waits_for():
    """qdev's device_unparent sends DEVICE_DELETED with the device id and its QOM path."""
    log = QemuLog()
    log.device_deleted(7, "hostdev0")
    assert log.entries == [(7, '{"event": "DEVICE_DELETED", "data": {"device": "hostdev0", '
                               '"path": "/machine/peripheral/hostdev0"}}')]
