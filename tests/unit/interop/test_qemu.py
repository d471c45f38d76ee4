"""QEMU's vfio-ap device and CPU model arguments."""

from __future__ import annotations

from pathlib import Path

from apsim.interop.qemu import qemu_args, render_args

GOLDEN = Path(__file__).parent / "golden" / "qemu"


def test_guest_args_name_the_mdev_sysfs_path_and_the_ap_features():
    args = qemu_args(mdev="783e6dbb-ea0e-411f-94e2-717eaad438bf",
                     cpu={"ap": True, "apqci": True, "apft": True, "apqi": False, "msax3": True})
    assert render_args(args) == (GOLDEN / "guest1.args").read_text()


def test_guest_without_an_mdev_gets_no_vfio_ap_device_and_msa3_off_is_passed():
    args = qemu_args(mdev=None, cpu={"ap": False, "msax3": False})
    assert args == ["-machine", "s390-ccw-virtio,accel=kvm", "-cpu", "host,ap=off,msa3-base=off"]
