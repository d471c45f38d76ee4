"""The filesystem view of a model sysfs: kinds, listings, relative links, modes."""

from __future__ import annotations

from apsim.linux.sysfs import Sysfs
from apsim.mount.tree import DIR, FILE, LINK, MODE_RO, MODE_RW, MODE_WO, TreeView, attr_mode, model_path


def _fs() -> Sysfs:
    fs = Sysfs()
    fs.add("/sys/devices/ap/card05/online", read=lambda: "1\n", write=lambda t: None)
    fs.add("/sys/devices/ap/card05/type", read=lambda: "CEX7C\n")
    fs.add("/sys/bus/ap/drivers/vfio_ap/bind", write=lambda t: None)
    fs.link("/sys/bus/ap/devices/card05", "/sys/devices/ap/card05")
    fs.mkdir("/sys/bus/mdev/devices")
    return fs


def test_mount_paths_stand_for_sys():
    assert model_path("/") == "/sys"
    assert model_path("/bus/ap/apmask") == "/sys/bus/ap/apmask"
    assert model_path("bus//ap/") == "/sys/bus/ap"


def test_kinds_do_not_follow_a_final_link():
    v = TreeView(_fs())
    assert v.kind("/bus/ap/devices/card05") == LINK
    assert v.kind("/devices/ap/card05") == DIR
    assert v.kind("/devices/ap/card05/type") == FILE
    assert v.kind("/bus/mdev/devices") == DIR
    assert v.kind("/nothing") is None


def test_links_are_relative_to_their_directory_like_the_kernels():
    v = TreeView(_fs())
    assert v.readlink("/bus/ap/devices/card05") == "../../../devices/ap/card05"
    assert v.readlink("/devices/ap/card05") is None


def test_modes_follow_the_show_and_store_functions():
    v = TreeView(_fs())
    assert attr_mode(v.attribute("/devices/ap/card05/online")) == MODE_RW
    assert attr_mode(v.attribute("/devices/ap/card05/type")) == MODE_RO
    assert attr_mode(v.attribute("/bus/ap/drivers/vfio_ap/bind")) == MODE_WO


def test_listing_includes_links_and_empty_directories():
    v = TreeView(_fs())
    assert v.listdir("/") == ["bus", "devices"]
    assert v.listdir("/bus") == ["ap", "mdev"]
    assert v.listdir("/bus/mdev/devices") == []
    assert v.listdir("/devices/ap/card05/type") is None


def test_a_change_of_the_model_is_seen_at_the_next_lookup():
    fs = _fs()
    v = TreeView(fs)
    assert v.kind("/devices/ap/card06") is None
    fs.add("/sys/devices/ap/card06/type", read=lambda: "CEX7A\n")
    assert v.kind("/devices/ap/card06") == DIR
    fs.remove_tree("/sys/devices/ap/card06")
    assert v.kind("/devices/ap/card06") is None


def test_walk_lists_every_node_parents_first():
    nodes = TreeView(_fs()).walk()
    paths = [p for p, _ in nodes]
    assert paths.index("/devices") < paths.index("/devices/ap") < paths.index("/devices/ap/card05/type")
    assert ("/bus/ap/devices/card05", LINK) in nodes
