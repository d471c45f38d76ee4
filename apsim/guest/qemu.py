"""QEMU versions: which of QEMU's vfio-ap behaviours a guest's VMM has.

From QEMU's hw/vfio/ap.c and hw/s390x/ap-bridge.c: since 10.1 the vfio-ap device
registers vfio_ap's configuration-change eventfd (VFIO IRQ index 1) and turns each
signal into an AP configuration-change event the guest fetches with CHSC SEI (NT0,
reporting source 5, content code 3) after a channel report word, so the guest's AP
bus rescans at once. An older QEMU registers only the device-request eventfd: the
guest notices a new APCB at its AP bus's periodic scan.
"""

from __future__ import annotations

from apsim.errors import ApsimError
from apsim.kernel import parse_major_minor

NEWEST_QEMU = (10, 1)
"""The default QEMU release."""

CFG_CHANGE_EVENT = (10, 1)
"""First release that relays vfio_ap's config-change eventfd to the guest."""

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
