"""The two host-side steps of ``vfio_ap_irq_enable`` that can fail before the AQIC is
issued: pinning the guest's NIB page (``vfio_pin_pages``) and registering the guest
ISC with the GIB (``kvm_s390_gisc_register``).

They fail only when a scenario injects it (``fault.inject`` kinds ``nib_pin`` and
``gisc``, :class:`apsim.hw.faults.FaultTable`). Each step returns the status word
the guest gets when it fails (None: it succeeded), logs what the kernel logs, and
undoes what the kernel undoes; the queue's ``nib_pins`` / ``gisc_refs`` count what
vfio_ap holds on the queue's behalf, so a leak or a rollback is visible.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from apsim.engine import codes
from apsim.engine.codes import RC

if TYPE_CHECKING:
    from apsim.linux.vfio_ap.matrix_dev import VfioAp
    from apsim.linux.vfio_ap.queue import VfioQueue


def _injected(vfio: VfioAp, kind: str, kvm: object, apqn: int) -> int:
    faults = vfio.cpu.machine.faults
    if faults is None:
        return 0
    return faults.irq_enable_error(kind, str(getattr(kvm, "name", "")), apqn)


def pin_nib(vfio: VfioAp, q: VfioQueue, kvm: object, nib: int) -> int | None:
    """``vfio_pin_pages`` of the NIB page: on failure a DBF warning and RC 0x06, nothing held."""
    rc = _injected(vfio, "nib_pin", kvm, q.apqn)
    if rc:
        vfio.klog.dbf(f"vfio_ap_irq_enable: vfio_pin_pages failed: rc={rc},nib=0x{nib:x}, "
                      f"apqn=0x{q.apqn:04x}")
        return codes.make_status(RC.INVALID_ADDRESS)
    q.nib_pins += 1
    return None


def register_gisc(vfio: VfioAp, q: VfioQueue, kvm: object, isc: int) -> int | None:
    """``kvm_s390_gisc_register``: on failure a DBF warning; since 6.8 the NIB page is
    unpinned and the guest sees 0x06, before it stays pinned and the guest sees 0x08."""
    nisc = _injected(vfio, "gisc", kvm, q.apqn)
    if not nisc:
        q.gisc_refs += 1
        return None
    vfio.klog.dbf(f"vfio_ap_irq_enable: gisc registration failed: nisc={nisc}, isc={isc}, "
                  f"apqn=0x{q.apqn:04x}")
    if vfio.kernel.gisc_failure_unpins:
        q.nib_pins -= 1
        return codes.make_status(RC.INVALID_ADDRESS)
    return codes.make_status(RC.INVALID_GISA)


DEFAULT_ERRNO = {"nib_pin": errno.EFAULT, "gisc": errno.ENODEV}
"""What the failing call returns unless the scenario names an errno: ``pin_user_pages``'
EFAULT, and ``kvm_s390_gisc_register``'s ENODEV for a KVM without a GIB."""
