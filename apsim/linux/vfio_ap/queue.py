"""vfio_ap's per-queue object (``struct vfio_ap_queue``).

Created when an AP queue device binds to vfio_ap and freed when it unbinds. It
records the mdev the queue is linked to, the guest's interruption resources (ISC
and notification-indicator byte of an AQIC the guest enabled) and the response
code of the queue's last reset, which decides whether the queue may be passed to
a guest (§11.4: 0x00, 0x03 and 0x04 are passable).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import simpy

if TYPE_CHECKING:
    from apsim.linux.devices import QueueDevice
    from apsim.linux.vfio_ap.mdev import MatrixMdev

ISC_INVALID = 0xFF
PASSABLE_RESET_RCS = frozenset({0x00, 0x03, 0x04})


class VfioQueue:
    """One queue bound to vfio_ap."""

    def __init__(self, dev: QueueDevice) -> None:
        self.dev = dev
        self.apqn = dev.apqn
        self.apid = dev.apid
        self.apqi = dev.apqi
        self.mdev: MatrixMdev | None = None
        self.saved_isc = ISC_INVALID
        self.saved_nib = 0
        # NIB pages pinned and guest ISCs registered on the queue's behalf (AQIC enable).
        self.nib_pins = 0
        self.gisc_refs = 0
        self.reset_status = 0
        self.reset_rc = 0
        self.worker: simpy.Process | None = None

    @property
    def passable(self) -> bool:
        """``_queue_passable``: the last reset left the queue usable for a guest."""
        return self.reset_rc in PASSABLE_RESET_RCS

    def free_aqic_resources(self) -> None:
        """``vfio_ap_free_aqic_resources``: unregister the saved guest ISC, unpin the saved NIB."""
        if self.saved_isc != ISC_INVALID:
            self.gisc_refs -= 1
        if self.saved_nib:
            self.nib_pins -= 1
        self.saved_isc = ISC_INVALID
        self.saved_nib = 0

    def __repr__(self) -> str:
        return f"VfioQueue({self.dev.name}, mdev={self.mdev.uuid if self.mdev else None})"
