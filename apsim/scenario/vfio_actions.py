"""Timeline handlers for the VFIO ioctls on a guest's vfio-ap device (``vfio.*``) and for
QEMU's output (``qemu.log``).

The file is the one QEMU holds for the guest's device; the kernel side —
``vfio_ap_mdev_open_device`` and ``vfio_ap_mdev_ioctl`` — is
:meth:`apsim.linux.vfio_ap.VfioAp.open_device` / ``device_ioctl``. Outcomes are the
kernel's errnos, compared by number.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from apsim.errors import SysfsError
from apsim.linux.vfio_ap import ioctl
from apsim.engine.recorder import TimelineEntry
from apsim.scenario.expect import expect_lines, expect_outcome

if TYPE_CHECKING:
    from apsim.scenario.build import Simulation

__all__ = ["do_qemu_log", "do_vfio"]

_CMD = {"vfio.get_info": ioctl.VFIO_DEVICE_GET_INFO, "vfio.get_irq_info": ioctl.VFIO_DEVICE_GET_IRQ_INFO,
        "vfio.set_irqs": ioctl.VFIO_DEVICE_SET_IRQS, "vfio.reset": ioctl.VFIO_DEVICE_RESET}
_FD = {"eventfd": None, "closed": ioctl.BadFd(errno.EBADF), "file": ioctl.BadFd(errno.EINVAL)}


def _args(a) -> dict[str, Any]:  # noqa: ANN001
    """The request structure's fields the action gives (the kernel's defaults otherwise)."""
    args: dict[str, Any] = {}
    if getattr(a, "argsz", None) is not None:
        args["argsz"] = a.argsz
    if a.do == "vfio.get_irq_info":
        args["index"] = a.index
    elif a.do == "vfio.set_irqs":
        fd = _FD.get(a.fd, a.fd) if isinstance(a.fd, str) else a.fd
        args.update(index=a.index, flags=a.flags, start=a.start, count=a.count,
                    fd=ioctl.EventFd() if fd is None else fd)
    return args


def _open(sim: Simulation, a, entry: TimelineEntry) -> str:  # noqa: ANN001
    g = sim.guests.get(a.guest) if a.guest is not None else None
    host = g.parent if g is not None else sim.host
    kvm = g.kvm if g is not None and g.running else None
    host.open_device(a.mdev, kvm)
    entry.detail = f"opened for {'guest ' + a.guest if kvm is not None else 'no KVM'}"
    return "ok"


def do_vfio(sim: Simulation, a, entry: TimelineEntry) -> None:  # noqa: ANN001
    """Run one ``vfio.*`` action and check its errno (or success and returned fields)."""
    fields: dict[str, Any] = {}
    try:
        if a.do == "vfio.open":
            got = _open(sim, a, entry)
        else:
            g = sim.guests[a.guest]
            uuid = g.kvm.mdev if g.running and g.kvm is not None else None
            if uuid is None:
                raise SysfsError(errno.EBADF, f"guest {a.guest}", "no vfio-ap device file is open")
            cmd = a.cmd if a.do == "vfio.ioctl" else _CMD[a.do]
            result = g.parent.device_ioctl(uuid, cmd, **(_args(a) if a.do != "vfio.ioctl" else {}))
            if isinstance(result, dict):
                fields = result
                entry.detail = ", ".join(f"{k}={v:#x}" if k == "flags" else f"{k}={v}" for k, v in result.items())
            got = "ok"
    except SysfsError as e:
        got = e.errno_name
        entry.outcome = got
        entry.detail = e.rule
    want_errno = getattr(a, "expect_errno", None)
    if want_errno is not None:
        expect_outcome(entry, want_errno, got)
        return
    want = getattr(a, "expect", None)
    if want:
        expect_outcome(entry, {"outcome": "ok", **want},
                       {"outcome": got, **{k: fields.get(k) for k in want}})
    else:
        expect_outcome(entry, "ok", got)


def do_qemu_log(sim: Simulation, a, entry: TimelineEntry) -> None:  # noqa: ANN001
    """``qemu.log``: regular expressions against QEMU's lines for the guest, in order."""
    lines = sim.guests[a.guest].qemu_log.lines()
    entry.detail = f"{len(lines)} lines"
    expect_lines(entry, lines, a.expect, a.absent)
