"""The device-model links and directories the real tools walk (mdev core, matrix bus, AP bus)."""

from __future__ import annotations

import errno

import pytest

from apsim.errors import SysfsError
from apsim.linux.sysfs import Sysfs
from tests.unit.linux_support import MATRIX, create_mdev, doc_host

UUID = "62177883-f1bb-47f0-914d-32a22e3a8804"
TYPE_DIR = f"{MATRIX}/mdev_supported_types/vfio_ap-passthrough"


def test_mdev_bus_and_class_directories_exist_before_any_mdev():
    env, m, lp, host = doc_host()
    fs = host.sysfs
    assert fs.listdir("/sys/bus/mdev/devices") == []
    assert fs.listdir(f"{TYPE_DIR}/devices") == []
    assert fs.listdir("/sys/class/mdev_bus") == ["matrix"]
    assert fs.readlink("/sys/class/mdev_bus/matrix") == MATRIX


def test_matrix_device_sits_on_the_matrix_bus_bound_to_vfio_ap():
    env, m, lp, host = doc_host()
    fs = host.sysfs
    assert fs.readlink(f"{MATRIX}/driver") == "/sys/bus/matrix/drivers/vfio_ap"
    assert fs.readlink(f"{MATRIX}/subsystem") == "/sys/bus/matrix"
    assert fs.readlink("/sys/bus/matrix/devices/matrix") == MATRIX
    assert fs.listdir("/sys/bus/matrix/drivers/vfio_ap") == ["matrix"]


def test_created_mdev_is_on_the_mdev_bus_and_bound_to_vfio_ap_mdev():
    env, m, lp, host = doc_host()
    path = create_mdev(host, UUID)
    fs = host.sysfs
    assert fs.readlink(f"/sys/bus/mdev/devices/{UUID}") == path
    assert fs.readlink(f"/sys/bus/mdev/drivers/vfio_ap_mdev/{UUID}") == path
    assert fs.readlink(f"{path}/driver") == "/sys/bus/mdev/drivers/vfio_ap_mdev"
    assert fs.readlink(f"{path}/subsystem") == "/sys/bus/mdev"
    assert fs.readlink(f"{path}/mdev_type") == TYPE_DIR
    # Through the bus link the mdev's attributes are reachable, as mdevctl uses them.
    assert fs.read(f"/sys/bus/mdev/devices/{UUID}/matrix") == ""


def test_removed_mdev_leaves_no_link_behind():
    env, m, lp, host = doc_host()
    path = create_mdev(host, UUID)
    host.write(f"{path}/remove", "1")
    fs = host.sysfs
    assert fs.listdir("/sys/bus/mdev/devices") == []
    assert fs.listdir("/sys/bus/mdev/drivers/vfio_ap_mdev") == []
    assert fs.listdir(f"{TYPE_DIR}/devices") == []
    with pytest.raises(SysfsError) as e:
        fs.read(f"/sys/bus/mdev/devices/{UUID}/matrix")
    assert e.value.errno == errno.ENOENT


def test_ap_devices_link_their_subsystem_and_the_bus_keeps_its_device_list():
    env, m, lp, host = doc_host()
    fs = host.sysfs
    assert fs.readlink("/sys/devices/ap/card05/subsystem") == "/sys/bus/ap"
    assert fs.is_dir("/sys/bus/ap/devices")
    assert fs.is_dir("/sys/devices/ap")


def test_explicit_directory_is_listed_until_its_tree_is_removed():
    fs = Sysfs()
    v0 = fs.version
    fs.mkdir("/sys/a/b")
    assert fs.listdir("/sys/a") == ["b"] and fs.listdir("/sys/a/b") == []
    assert fs.version > v0
    fs.remove_tree("/sys/a")
    assert not fs.exists("/sys/a/b")


def test_every_change_of_shape_bumps_the_version():
    fs = Sysfs()
    seen = [fs.version]
    for change in (lambda: fs.add("/sys/x", read=lambda: "1\n"), lambda: fs.link("/sys/l", "/sys/x"),
                   lambda: fs.unlink("/sys/l"), lambda: fs.mkdir("/sys/d"), lambda: fs.remove_tree("/sys/x")):
        change()
        assert fs.version > seen[-1]
        seen.append(fs.version)
