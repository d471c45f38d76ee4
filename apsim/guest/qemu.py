"""QEMU versions: which of QEMU's vfio-ap behaviours a guest's VMM has.

From QEMU's hw/vfio/ap.c and hw/s390x/ap-bridge.c: since 10.1 the vfio-ap device
registers vfio_ap's configuration-change eventfd (VFIO IRQ index 1) and turns each
signal into an AP configuration-change event the guest fetches with CHSC SEI (NT0,
reporting source 5, content code 3) after a channel report word, so the guest's AP
bus rescans at once. An older QEMU registers only the device-request eventfd: the
guest notices a new APCB at its AP bus's periodic scan.
"""

from __future__ import annotations

import re

NEWEST_QEMU = (10, 1)
"""The default QEMU release."""

CFG_CHANGE_EVENT = (10, 1)
"""First release that relays vfio_ap's config-change eventfd to the guest."""

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?$")


def parse_qemu_version(text: str) -> tuple[int, int]:
    """``"9.2"`` → (9, 2); ValueError naming the rule otherwise (vfio-ap exists since 2.12)."""
    m = _VERSION_RE.match(str(text).strip())
    if m is None:
        raise ValueError(f"QEMU version {text!r} is not MAJOR.MINOR (e.g. \"10.1\")")
    v = (int(m.group(1)), int(m.group(2)))
    if not (2, 12) <= v <= NEWEST_QEMU:
        raise ValueError(f"QEMU version {text!r} is outside 2.12 (the first vfio-ap) .. "
                         f"{NEWEST_QEMU[0]}.{NEWEST_QEMU[1]}")
    return v


def relays_config_change(version: tuple[int, int]) -> bool:
    """Whether this QEMU forwards vfio_ap's config-change eventfd to the guest."""
    return version >= CFG_CHANGE_EVENT
