"""The AP bus's ``driver_override`` of queue devices (≥ 6.19) and the mask-ownership rule
that goes with it, per kernel version.

From drivers/s390/crypto/ap_bus.c and ap_queue.c (≥ 6.19):

* ``driver_override_store`` (ap_queue.c) refuses with EINVAL unless apmask and
  aqmask are both all ones (``ap_apmask_aqmask_in_use``); the string follows
  ``driver_set_override``: one trailing newline is dropped, an empty string clears
  the override, a string of PAGE_SIZE bytes or more is EINVAL. It does not rebind:
  the queue keeps its driver until unbound and bound (or re-probed).
* ``apmask_store`` / ``aqmask_store`` refuse with EINVAL while any queue has an
  override (``ap_driver_override_ctr``).
* ``ap_device_probe``: a queue with an override binds only to the driver of that
  name; one without follows the masks. ``ap_owned_by_def_drv``: a queue with an
  override is the host's when it is bound to a default driver.
* ``__verify_card_reservations`` / ``__verify_queue_reservations`` ask the drivers'
  ``in_use`` for the newly reserved IDs against an all-ones opposite mask; before
  6.19 against the current opposite mask.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from apsim.errors import SysfsError
from apsim.masks import Mask

if TYPE_CHECKING:
    from apsim.linux.apbus import APBus, APDriver
    from apsim.linux.devices import QueueDevice

PAGE_SIZE = 4096


def masks_in_use(bus: APBus) -> bool:
    """``ap_apmask_aqmask_in_use``: either mask is not all ones."""
    return bus.apmask != Mask.full() or bus.aqmask != Mask.full()


def override_count(bus: APBus) -> int:
    """``ap_driver_override_ctr``: queues that have an override."""
    return sum(1 for q in bus.queues.values() if getattr(q, "driver_override", None))


def add_attr(bus: APBus, q: QueueDevice) -> None:
    """Create the queue's ``driver_override`` attribute (≥ 6.19 only)."""
    if not bus.host.kernel.driver_override:
        return
    q.driver_override = None  # type: ignore[attr-defined]
    bus.sysfs.add(q.attr("driver_override"),
                  read=lambda: f"{q.driver_override or ''}\n",  # type: ignore[attr-defined]
                  write=lambda text: _store(bus, q, text))


def _store(bus: APBus, q: QueueDevice, text: str) -> None:
    path = q.attr("driver_override")
    if masks_in_use(bus):
        raise SysfsError(errno.EINVAL, path, "driver_override needs apmask and aqmask all ones "
                                             "(reset them with \"+0-255\" first)")
    if len(text) >= PAGE_SIZE:
        raise SysfsError(errno.EINVAL, path, f"the override must be shorter than {PAGE_SIZE} bytes")
    name = text.split("\n", 1)[0]
    q.driver_override = name or None  # type: ignore[attr-defined]


def mask_store_refused(bus: APBus, path: str) -> None:
    """EINVAL for an apmask/aqmask write while a queue has an override (≥ 6.19)."""
    if bus.host.kernel.driver_override and override_count(bus):
        raise SysfsError(errno.EINVAL, path, "a queue has a driver_override: clear every "
                                             "driver_override before changing apmask/aqmask")


def probe_allowed(bus: APBus, drv: APDriver, q: QueueDevice) -> bool:
    """``ap_device_probe``'s queue check: the override's driver, else mask ownership."""
    name = getattr(q, "driver_override", None)
    if name:
        return name == drv.name
    return bus.owned_by_default(q.apid, q.apqi) == drv.default


def reservation_masks(bus: APBus, which: str, reserved: Mask) -> tuple[Mask, Mask]:
    """The (apm, aqm) the drivers' ``in_use`` is asked about for newly reserved IDs."""
    if bus.host.kernel.driver_override:
        other = Mask.full()
    else:
        other = bus.aqmask if which == "apmask" else bus.apmask
    return (reserved, other) if which == "apmask" else (other, reserved)
