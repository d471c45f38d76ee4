"""vfio_ap's VFIO ioctls and the eventfds user space registers with them.

From drivers/s390/crypto/vfio_ap_ops.c (``vfio_ap_mdev_ioctl`` and its helpers),
drivers/vfio/vfio_main.c (``vfio_set_irqs_validate_and_prepare``) and
include/uapi/linux/vfio.h. The ioctls work on an open device file; which one the
VMM holds is the guest layer's business.

* ``VFIO_DEVICE_GET_INFO``: ``argsz`` below 16 → EINVAL; flags ``AP | RESET``
  (0x21), no regions, ``VFIO_AP_NUM_IRQS`` interrupts (0 before 6.5, 1 with the
  request IRQ, 2 from 6.15 with the configuration-change IRQ).
* ``VFIO_DEVICE_GET_IRQ_INFO`` (≥ 6.5): ``argsz`` below 16 or an index not below
  the number of IRQs → EINVAL; each index has count 1 and flag ``EVENTFD``.
* ``VFIO_DEVICE_SET_IRQS`` (≥ 6.5): the core's checks (``argsz`` below 20, index
  out of range, ``count`` or ``start`` beyond one IRQ, unknown flag bits, not
  exactly one data type, too little data → EINVAL), then vfio_ap's: the action
  must be TRIGGER and the data an eventfd (else EINVAL); the fd is -1 (unregister),
  an eventfd (register, replacing one), a closed fd (EBADF) or another file (EINVAL).
* ``VFIO_DEVICE_RESET``: reset every queue of the mdev.
* Anything else (``GET_REGION_INFO`` too): ``vfio_ap_mdev_ioctl``'s default, EOPNOTSUPP.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from apsim.errors import SysfsError
from apsim.linux.vfio_ap import ops

if TYPE_CHECKING:
    import simpy

    from apsim.linux.vfio_ap.matrix_dev import VfioAp
    from apsim.linux.vfio_ap.mdev import MatrixMdev

VFIO_TYPE = ord(";")
VFIO_BASE = 100


def _io(nr: int) -> int:
    return (VFIO_TYPE << 8) | (VFIO_BASE + nr)


VFIO_DEVICE_GET_INFO = _io(7)
VFIO_DEVICE_GET_REGION_INFO = _io(8)
VFIO_DEVICE_GET_IRQ_INFO = _io(9)
VFIO_DEVICE_SET_IRQS = _io(10)
VFIO_DEVICE_RESET = _io(11)
IOCTL_NAMES = {VFIO_DEVICE_GET_INFO: "VFIO_DEVICE_GET_INFO", VFIO_DEVICE_GET_REGION_INFO: "VFIO_DEVICE_GET_REGION_INFO",
               VFIO_DEVICE_GET_IRQ_INFO: "VFIO_DEVICE_GET_IRQ_INFO", VFIO_DEVICE_SET_IRQS: "VFIO_DEVICE_SET_IRQS",
               VFIO_DEVICE_RESET: "VFIO_DEVICE_RESET"}

VFIO_DEVICE_FLAGS_RESET = 1 << 0
VFIO_DEVICE_FLAGS_AP = 1 << 5
VFIO_IRQ_INFO_EVENTFD = 1 << 0
VFIO_IRQ_SET_DATA_NONE = 1 << 0
VFIO_IRQ_SET_DATA_BOOL = 1 << 1
VFIO_IRQ_SET_DATA_EVENTFD = 1 << 2
VFIO_IRQ_SET_DATA_TYPE_MASK = 0x07
VFIO_IRQ_SET_ACTION_TRIGGER = 1 << 5
VFIO_IRQ_SET_ACTION_TYPE_MASK = 0x38
VFIO_AP_REQ_IRQ_INDEX = 0
VFIO_AP_CFG_CHG_IRQ_INDEX = 1

DEVICE_INFO_MINSZ = 16
"""offsetofend(struct vfio_device_info, num_irqs)."""
IRQ_INFO_MINSZ = 16
"""offsetofend(struct vfio_irq_info, count)."""
IRQ_SET_MINSZ = 20
"""offsetofend(struct vfio_irq_set, count)."""
_DATA_SIZE = {VFIO_IRQ_SET_DATA_NONE: 0, VFIO_IRQ_SET_DATA_BOOL: 1, VFIO_IRQ_SET_DATA_EVENTFD: 4}


@dataclass
class EventFd:
    """An eventfd a process registered; ``signal`` runs its reader (QEMU's notifier, or nothing)."""

    reader: Callable[[], None] | None = None
    signals: int = 0

    def signal(self) -> None:
        """``eventfd_signal``: count it and wake the reader, if any."""
        self.signals += 1
        if self.reader is not None:
            self.reader()


@dataclass(frozen=True)
class BadFd:
    """A file descriptor that is not an eventfd: closed (EBADF) or another file (EINVAL)."""

    errno: int


def num_irqs(vfio: VfioAp) -> int:
    """``VFIO_AP_NUM_IRQS`` of the kernel's uapi header."""
    k = vfio.kernel
    return 2 if k.config_change_eventfd else 1 if k.device_request_irq else 0


def get_device_info(vfio: VfioAp, m: MatrixMdev, argsz: int = DEVICE_INFO_MINSZ) -> dict[str, int]:
    """``vfio_ap_mdev_get_device_info``."""
    if argsz < DEVICE_INFO_MINSZ:
        raise SysfsError(errno.EINVAL, m.path, f"VFIO_DEVICE_GET_INFO argsz {argsz} < {DEVICE_INFO_MINSZ}")
    return {"argsz": argsz, "flags": VFIO_DEVICE_FLAGS_AP | VFIO_DEVICE_FLAGS_RESET, "num_regions": 0,
            "num_irqs": num_irqs(vfio)}


def get_irq_info(vfio: VfioAp, m: MatrixMdev, index: int, argsz: int = IRQ_INFO_MINSZ) -> dict[str, int]:
    """``vfio_ap_get_irq_info``: every index vfio_ap has is one eventfd-signalled IRQ."""
    n = num_irqs(vfio)
    if argsz < IRQ_INFO_MINSZ or not 0 <= index < n:
        raise SysfsError(errno.EINVAL, m.path, f"VFIO_DEVICE_GET_IRQ_INFO index {index} (vfio_ap has {n}) "
                                               f"argsz {argsz} (at least {IRQ_INFO_MINSZ})")
    return {"argsz": argsz, "index": index, "flags": VFIO_IRQ_INFO_EVENTFD, "count": 1}


def set_irqs(vfio: VfioAp, m: MatrixMdev, *, flags: int, index: int, start: int = 0, count: int = 1,
             argsz: int | None = None, fd: EventFd | BadFd | int = -1) -> None:
    """``vfio_ap_set_irqs``: register (or with fd -1 unregister) an IRQ's eventfd."""
    path = m.path
    if argsz is None:
        argsz = IRQ_SET_MINSZ + 4 * count
    n = num_irqs(vfio)
    # vfio_set_irqs_validate_and_prepare(hdr, 1, VFIO_AP_NUM_IRQS, ...): one IRQ per index.
    if (argsz < IRQ_SET_MINSZ or index >= n or count >= (1 << 32) - 1 - start
            or flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)):
        raise SysfsError(errno.EINVAL, path, f"VFIO_DEVICE_SET_IRQS header: argsz {argsz}, index {index} "
                                             f"(of {n}), count {count}, flags {flags:#x}")
    if start >= 1 or start + count > 1:
        raise SysfsError(errno.EINVAL, path, f"VFIO_DEVICE_SET_IRQS start {start} count {count}: one IRQ")
    size = _DATA_SIZE.get(flags & VFIO_IRQ_SET_DATA_TYPE_MASK)
    if size is None:
        raise SysfsError(errno.EINVAL, path, f"VFIO_DEVICE_SET_IRQS flags {flags:#x}: not one data type")
    if size and argsz - IRQ_SET_MINSZ < count * size:
        raise SysfsError(errno.EINVAL, path, f"VFIO_DEVICE_SET_IRQS argsz {argsz}: too little data")
    if not flags & VFIO_IRQ_SET_ACTION_TRIGGER or flags & VFIO_IRQ_SET_DATA_TYPE_MASK != VFIO_IRQ_SET_DATA_EVENTFD:
        raise SysfsError(errno.EINVAL, path, f"VFIO_DEVICE_SET_IRQS flags {flags:#x}: vfio_ap takes "
                                             f"ACTION_TRIGGER with DATA_EVENTFD only")
    attr = "req_trigger" if index == VFIO_AP_REQ_IRQ_INDEX else "cfg_chg_trigger"
    if isinstance(fd, EventFd):
        setattr(m, attr, fd)
    elif isinstance(fd, BadFd):
        raise SysfsError(fd.errno, path, "eventfd_ctx_fdget: " + (
            "no such open file" if fd.errno == errno.EBADF else "the file is not an eventfd"))
    elif fd == -1:
        setattr(m, attr, None)
    else:
        raise SysfsError(errno.EINVAL, path, f"VFIO_DEVICE_SET_IRQS fd {fd}: neither -1 nor a file")


def reset(vfio: VfioAp, m: MatrixMdev) -> simpy.Event:
    """``VFIO_DEVICE_RESET``: ``vfio_ap_mdev_reset_queues`` (the event's value is 0 or EIO)."""
    return ops.reset_queues(vfio, m, "guest_reset")


def unknown(vfio: VfioAp, m: MatrixMdev, cmd: int) -> None:
    """Any request vfio_ap_mdev_ioctl does not handle: EOPNOTSUPP."""
    raise SysfsError(errno.EOPNOTSUPP, m.path, f"ioctl {cmd:#x} ({IOCTL_NAMES.get(cmd, 'unknown')}) is not "
                                               f"handled by vfio_ap_mdev_ioctl")


def handled(vfio: VfioAp, cmd: int) -> bool:
    """Whether this kernel's vfio_ap_mdev_ioctl has a case for *cmd*."""
    base = {VFIO_DEVICE_GET_INFO, VFIO_DEVICE_RESET}
    if vfio.kernel.device_request_irq:
        base |= {VFIO_DEVICE_GET_IRQ_INFO, VFIO_DEVICE_SET_IRQS}
    return cmd in base
