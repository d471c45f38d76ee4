"""The vfio_ap driver (apsim.linux.vfio_ap.matrix_dev): the UUID rule of ``create``, mdev
lookup, and a device that closes and opens again. The errnos of ``create`` and of the VFIO
entry points are tested in tests/conformance/test_vfio_ap_errnos.py, the type directory in
tests/conformance/test_vfio_ap_seed_001.py, the removal of an open mdev in
tests/conformance/test_vfio_ioctls.py."""

from __future__ import annotations

import errno

import pytest

from apsim.errors import SysfsError
from apsim.linux.vfio_ap.matrix_dev import TYPE_DIR, parse_uuid
from tests.unit.linux_support import BUS, UUID1, UUID2, FakeKVM, create_mdev, doc_host


def test_a_uuid_is_36_characters_8_4_4_4_12_with_one_trailing_character_ignored():
    assert parse_uuid(UUID1) == UUID1
    assert parse_uuid(UUID1.upper() + "\n") == UUID1
    assert parse_uuid(UUID1 + "x") == UUID1  # guid_parse reads only the first 36
    for bad in (UUID1[:-1], UUID1 + "xy", UUID1.replace("-", "_"), "g" + UUID1[1:],
                UUID1[:8] + UUID1[9:] + "0"):
        assert parse_uuid(bad) is None


def test_create_links_the_new_mdev_into_its_type_and_takes_one_instance():
    env, m, lp, host = doc_host()
    before = host.vfio.available_instances
    create_mdev(host, UUID1)
    assert host.vfio.available_instances == before - 1
    assert host.sysfs.listdir(f"{TYPE_DIR}/devices") == [UUID1]
    assert UUID1 in host.sysfs.listdir("/sys/bus/mdev/devices")


def test_an_mdev_is_found_in_any_case_and_a_missing_one_is_enoent():
    env, m, lp, host = doc_host()
    create_mdev(host, UUID1)
    assert host.vfio.mdev(UUID1.upper()).uuid == UUID1
    with pytest.raises(SysfsError) as e:
        host.vfio.mdev(UUID2)
    assert e.value.errno == errno.ENOENT


def test_closing_clears_the_guests_masks_and_the_mdev_can_be_opened_again():
    env, m, lp, host = doc_host()
    host.echo("-5,-6", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    k = FakeKVM(m, lp)
    host.vfio.open_device(UUID1, k)
    host.vfio.close_device(UUID1)
    assert k.updates[-1] == "clear" and not host.vfio.mdev(UUID1).is_open
    host.vfio.open_device(UUID1, FakeKVM(m, lp))
    assert host.vfio.mdev(UUID1).is_open
