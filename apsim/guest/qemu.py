"""QEMU versions: which of QEMU's vfio-ap behaviours a guest's VMM has.

From QEMU's hw/vfio/ap.c and hw/s390x/ap-bridge.c: since 10.1 the vfio-ap device
registers vfio_ap's configuration-change eventfd (VFIO IRQ index 1) and turns each
signal into an AP configuration-change event the guest fetches with CHSC SEI (NT0,
reporting source 5, content code 3) after a channel report word, so the guest's AP
bus rescans at once. An older QEMU registers only the device-request eventfd: the
guest notices a new APCB at its AP bus's periodic scan.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

from apsim.errors import ApsimError, SysfsError
from apsim.kernel import parse_major_minor
from apsim.linux.vfio_ap.ioctl import (VFIO_AP_CFG_CHG_IRQ_INDEX, VFIO_AP_REQ_IRQ_INDEX, VFIO_DEVICE_GET_INFO,
                                       VFIO_DEVICE_GET_IRQ_INFO, VFIO_DEVICE_SET_IRQS,
                                       VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_DATA_EVENTFD, EventFd)

NEWEST_QEMU = (10, 1)
"""The default QEMU release."""

CFG_CHANGE_EVENT = (10, 1)
"""First release that relays vfio_ap's config-change eventfd to the guest."""

DEVICE_REQUEST_NOTIFIER = (8, 1)
"""First release whose vfio-ap device registers the device-request eventfd (IRQ index 0) and
unplugs itself when vfio_ap signals it ("s390x/ap: Wire up the device request notifier
interface", 2023) [U: the release is inferred from the series' date]."""

PROGRAM = "qemu-system-s390x"
"""The prefix of QEMU's error_report lines."""

def parse_qemu_version(text: str) -> tuple[int, int]:
    """``"9.2"`` → (9, 2); ValueError naming the rule otherwise (vfio-ap exists since 2.12)."""
    return parse_major_minor(text, "QEMU", "10.1", (2, 12), NEWEST_QEMU,
                             f"2.12 (the first vfio-ap) .. {NEWEST_QEMU[0]}.{NEWEST_QEMU[1]}")


def relays_config_change(version: tuple[int, int]) -> bool:
    """Whether this QEMU forwards vfio_ap's config-change eventfd to the guest."""
    return version >= CFG_CHANGE_EVENT


AP_BUS = "ap-bus"
"""QEMU's TYPE_AP_BUS: its bus class allows one device (ap_bus_class_init's max_dev = 1)."""

VFIO_AP_MIGRATION_ID = "/1/vfio-ap"
"""The vfio-ap device's savevm id: the AP bus's device path "/1" plus the vmstate name."""

DEFAULT_DEVICE_ID = "hostdev0"
"""The id libvirt gives a guest's first hostdev, used when a scenario names none."""


class QemuError(ApsimError):
    """QEMU refused a monitor command; the message is QEMU's own text."""


def bus_full_error() -> QemuError:
    """qdev_device_add finds no AP bus with room (the only slot holds a vfio-ap device)."""
    return QemuError(f"No '{AP_BUS}' bus found for device 'vfio-ap'")


def device_not_found_error(dev_id: str) -> QemuError:
    """qmp_device_del (find_device_state) for an id no device has."""
    return QemuError(f"Device '{dev_id}' not found")


def migration_blocked_error() -> QemuError:
    """qemu_savevm_state_blocked: vfio-ap's vmstate is unmigratable."""
    return QemuError(f"State blocked by non-migratable device '{VFIO_AP_MIGRATION_ID}'")


class VfioHost(Protocol):
    """The host Linux whose vfio_ap serves the device (:class:`apsim.linux.host.Host`)."""

    def device_ioctl(self, uuid: str, cmd: int, **args: object) -> object: ...


class QemuLog:
    """What QEMU writes for a guest: its stderr (error_report / warn_report lines) and the
    QMP events a management layer such as libvirt receives, one line each, with the time."""

    def __init__(self) -> None:
        self.entries: list[tuple[int, str]] = []

    def report(self, now: int, message: str, *, warning: bool = False) -> None:
        """``error_report`` (``warn_report`` with *warning*): ``qemu-system-s390x: [warning: ]MSG``."""
        self.entries.append((now, f"{PROGRAM}: {'warning: ' if warning else ''}{message}"))

    def event(self, now: int, name: str, data: str) -> None:
        """A QMP event, as the monitor sends it (the timestamp is the line's time)."""
        self.entries.append((now, f'{{"event": "{name}", "data": {data}}}'))

    def device_deleted(self, now: int, dev_id: str) -> None:
        """``DEVICE_DELETED`` after an unplug finished (qdev's device_unparent)."""
        self.event(now, "DEVICE_DELETED", f'{{"device": "{dev_id}", "path": "/machine/peripheral/{dev_id}"}}')

    def lines(self) -> list[str]:
        """The lines, oldest first."""
        return [text for _, text in self.entries]


def register_irq_notifiers(host: VfioHost, uuid: str, version: tuple[int, int], log: QemuLog, now: int,
                           on_request: Callable[[], None], on_cfg_change: Callable[[], None]) -> dict[int, EventFd]:
    """``vfio_ap_realize`` after attaching the device: ``vfio_ap_register_irq_notifier`` for
    the device request (≥ 8.1) and the configuration change (≥ 10.1).

    A kernel without the IRQ is reported on stderr and the device works without it, as
    QEMU does; returns the registered eventfds by IRQ index.
    """
    wanted = [(VFIO_AP_REQ_IRQ_INDEX, DEVICE_REQUEST_NOTIFIER, on_request, False),
              (VFIO_AP_CFG_CHG_IRQ_INDEX, CFG_CHANGE_EVENT, on_cfg_change, True)]
    info = host.device_ioctl(uuid, VFIO_DEVICE_GET_INFO)
    num_irqs = info["num_irqs"]  # type: ignore[index]
    fds: dict[int, EventFd] = {}
    for index, first, reader, warning in wanted:
        if version < first:
            continue
        if num_irqs < index + 1:
            log.report(now, f"vfio: IRQ {index} not available (number of irqs {num_irqs})", warning=warning)
            continue
        try:
            host.device_ioctl(uuid, VFIO_DEVICE_GET_IRQ_INFO, index=index)
            fd = EventFd(reader)
            host.device_ioctl(uuid, VFIO_DEVICE_SET_IRQS, index=index, fd=fd,
                              flags=VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER)
        except SysfsError as e:
            log.report(now, f"vfio: Error getting irq info: {os.strerror(e.errno or 0)}", warning=warning)
            continue
        fds[index] = fd
    return fds


def unregister_irq_notifiers(host: VfioHost, uuid: str, fds: dict[int, EventFd]) -> None:
    """``vfio_ap_unrealize``: SET_IRQS with fd -1 for each registered IRQ, before the close."""
    for index, fd in fds.items():
        host.device_ioctl(uuid, VFIO_DEVICE_SET_IRQS, index=index, fd=-1,
                          flags=VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER)
        fd.reader = None
    fds.clear()
