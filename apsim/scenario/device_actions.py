"""Timeline actions at the device boundary: KVM's CRYCB masks (``kvm.masks``), the VFIO
ioctls on a guest's vfio-ap device file (``vfio.*``) and QEMU's output (``qemu.log``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from apsim.scenario.action_base import ActionBase, LogExpect, parse_register
from apsim.scenario.base import StrictModel
from apsim.scenario.types import ErrnoName, Id, Uuid

__all__ = ["KvmMasks", "KvmMasksExpect", "QemuLogExpect", "VfioGetInfo", "VfioGetIrqInfo", "VfioIoctl",
           "VfioOpen", "VfioReset", "VfioSetIrqs"]

IdList = list[Id]


# --- KVM ---------------------------------------------------------------------------------------
class KvmMasksExpect(StrictModel):
    """What a guest's CRYCB must hold: the masks KVM last wrote and how often it wrote them."""

    apm: IdList | None = None
    aqm: IdList | None = None
    adm: IdList | None = None
    updates: Annotated[int, Field(ge=0)] | None = None
    """kvm_arch_crypto_set_masks plus kvm_arch_crypto_clear_masks calls since the VM was created."""
    last: Literal["set_masks", "clear_masks"] | None = None
    """Which of the two KVM functions wrote the CRYCB last."""

    @model_validator(mode="after")
    def _something(self) -> KvmMasksExpect:
        if not self.model_dump(exclude_none=True):
            raise ValueError("expect needs at least one of apm, aqm, adm, updates, last")
        return self


class KvmMasks(ActionBase):
    """The masks in a running guest's CRYCB (read through its format) and KVM's update count."""

    do: Literal["kvm.masks"]
    guest: str
    expect: KvmMasksExpect


# --- VFIO ioctls on a guest's vfio-ap device ---------------------------------------------------
_U32 = Annotated[int, BeforeValidator(parse_register), Field(ge=0, le=(1 << 32) - 1)]


class _VfioCall(ActionBase):
    """An ioctl on the device file QEMU holds for ``guest``'s vfio-ap device.

    ``expect_errno`` names the errno it must fail with; without it the call must
    succeed (and match ``expect`` where the action has one). A guest without an open
    device has no file: EBADF.
    """

    guest: str
    expect_errno: ErrnoName | None = None

    @model_validator(mode="after")
    def _one_expectation(self) -> _VfioCall:
        if self.expect_errno is not None and getattr(self, "expect", None) is not None:
            raise ValueError("give expect (the returned fields) or expect_errno (a failing call), not both")
        return self


class VfioOpen(ActionBase):
    """Open an mdev's VFIO device file (``vfio_ap_mdev_open_device``) with ``guest``'s KVM, or
    with none: EINVAL without a KVM, EPERM when the KVM has another mdev, EBUSY when open."""

    do: Literal["vfio.open"]
    mdev: Uuid
    guest: str | None = None
    """Whose KVM the file is associated with (its QEMU then holds the file); none: no KVM."""
    expect_errno: ErrnoName | None = None


class VfioGetInfo(_VfioCall):
    """``VFIO_DEVICE_GET_INFO``: ``flags`` (AP 0x20 | RESET 0x01), ``num_regions``, ``num_irqs``."""

    do: Literal["vfio.get_info"]
    argsz: _U32 | None = None
    expect: dict[Literal["flags", "num_regions", "num_irqs"], _U32] | None = None


class VfioGetIrqInfo(_VfioCall):
    """``VFIO_DEVICE_GET_IRQ_INFO`` for ``index`` (0 the device request, 1 the configuration change)."""

    do: Literal["vfio.get_irq_info"]
    index: _U32
    argsz: _U32 | None = None
    expect: dict[Literal["flags", "count"], _U32] | None = None


class VfioSetIrqs(_VfioCall):
    """``VFIO_DEVICE_SET_IRQS``: register an eventfd for IRQ ``index`` (``fd: eventfd``, a new
    one nobody reads), unregister QEMU's (``fd: -1``), or pass a ``closed`` fd / a ``file``
    that is no eventfd; ``flags`` default DATA_EVENTFD | ACTION_TRIGGER (0x24)."""

    do: Literal["vfio.set_irqs"]
    index: _U32 = 0
    flags: _U32 = 0x24
    start: _U32 = 0
    count: _U32 = 1
    argsz: _U32 | None = None
    fd: Literal["eventfd", "closed", "file"] | int = "eventfd"


class VfioReset(_VfioCall):
    """``VFIO_DEVICE_RESET``: every queue of the mdev is reset (drops counted as ``guest_reset``)."""

    do: Literal["vfio.reset"]


class VfioIoctl(_VfioCall):
    """Any ioctl request number on the device file (e.g. ``0x3b6c``, VFIO_DEVICE_GET_REGION_INFO):
    the known ones behave as their own actions, the rest get vfio_ap's EOPNOTSUPP."""

    do: Literal["vfio.ioctl"]
    cmd: _U32


class QemuLogExpect(LogExpect):
    """QEMU's output for a guest, one line each: its ``error_report`` / ``warn_report`` lines
    (``qemu-system-s390x: …``) and the QMP events it sends (``{"event": "DEVICE_DELETED", …}``)."""

    do: Literal["qemu.log"]
    guest: str
