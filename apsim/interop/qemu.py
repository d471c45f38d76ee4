"""The QEMU arguments that give an s390x KVM guest its vfio-ap device and AP CPU features.

``-cpu host,ap=on,apqci=on,apft=on,apqi=on`` enables the AP instructions and their
facilities in the CPU model (``msa3-base=off`` is added only when the scenario turns
MSA extension 3 off), and ``-device vfio-ap,sysfsdev=/sys/devices/vfio_ap/matrix/<uuid>``
passes the mdev; QEMU accepts one vfio-ap device per guest.
"""

from __future__ import annotations

from apsim.interop.libvirt import CPU_FEATURES

__all__ = ["qemu_args", "render_args"]


def qemu_args(*, mdev: str | None, cpu: dict[str, bool]) -> list[str]:
    """The argument vector (after the binary) for a guest's AP configuration."""
    feats = [f"{CPU_FEATURES[k]}={'on' if on else 'off'}" for k, on in cpu.items()
             if k != "msax3" or not on]
    args = ["-machine", "s390-ccw-virtio,accel=kvm", "-cpu", ",".join(["host", *feats])]
    if mdev is not None:
        args += ["-device", f"vfio-ap,sysfsdev=/sys/devices/vfio_ap/matrix/{mdev}"]
    return args


def render_args(args: list[str]) -> str:
    """The arguments as one shell line (none of them needs quoting)."""
    return " ".join(args) + "\n"
