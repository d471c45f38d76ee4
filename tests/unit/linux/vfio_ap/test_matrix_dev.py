"""The vfio_ap driver (apsim.linux.vfio_ap.matrix_dev): the matrix device and mdev type
files, ``create``'s UUID rule and errnos, the VFIO open/close rules, and the removal of an
open mdev, which asks the VMM to release it every 10 s."""

from __future__ import annotations

import errno

import pytest

from apsim.errors import SysfsError
from apsim.linux.vfio_ap.matrix_dev import REQUEST_INTERVAL_NS, TYPE_DIR, parse_uuid
from tests.unit.linux_support import (BUS, CREATE, MATRIX, UUID1, UUID2, FakeKVM, FakeVMM, create_mdev,
                                      doc_host, run)


def _host():  # noqa: ANN202
    env, m, lp, host = doc_host()
    host.echo("-5,-6", f"{BUS}/apmask")
    return env, m, lp, host


def _errno(fn, *a) -> int:  # noqa: ANN001, ANN002
    with pytest.raises(SysfsError) as e:
        fn(*a)
    return e.value.errno


def test_a_uuid_is_36_characters_8_4_4_4_12_with_one_trailing_character_ignored():
    assert parse_uuid(UUID1) == UUID1
    assert parse_uuid(UUID1.upper() + "\n") == UUID1
    assert parse_uuid(UUID1 + "x") == UUID1
    for bad in (UUID1[:-1], UUID1 + "xy", UUID1.replace("-", "_"), "g" + UUID1[1:],
                UUID1[:8] + UUID1[9:] + "0"):
        assert parse_uuid(bad) is None


def test_the_matrix_device_and_its_mdev_type_read_as_the_kernel_writes_them():
    env, m, lp, host = _host()
    assert host.read(f"{MATRIX}/features") == "guest_matrix hotplug ap_config\n"
    assert host.read(f"{TYPE_DIR}/name") == "VFIO AP Passthrough Device\n"
    assert host.read(f"{TYPE_DIR}/device_api") == "vfio-ap\n"
    assert host.read(f"{TYPE_DIR}/available_instances") == f"{256 * 256}\n"


def test_create_makes_an_mdev_and_takes_one_instance():
    env, m, lp, host = _host()
    create_mdev(host, UUID1)
    assert host.read(f"{TYPE_DIR}/available_instances") == f"{256 * 256 - 1}\n"
    assert UUID1 in host.sysfs.listdir(f"{TYPE_DIR}/devices")
    assert host.read(f"{MATRIX}/{UUID1}/matrix") == ""


def test_create_refuses_a_bad_uuid_einval_an_existing_one_eexist_and_none_left_eusers():
    env, m, lp, host = _host()
    assert _errno(host.echo, "not-a-uuid", CREATE) == errno.EINVAL
    create_mdev(host, UUID1)
    assert _errno(host.echo, UUID1.upper(), CREATE) == errno.EEXIST
    host.vfio.max_instances = 1
    assert _errno(host.echo, UUID2, CREATE) == errno.EUSERS


def test_an_mdev_is_found_in_any_case_and_a_missing_one_is_enoent():
    env, m, lp, host = _host()
    create_mdev(host, UUID1)
    assert host.vfio.mdev(UUID1.upper()).uuid == UUID1
    assert _errno(host.vfio.mdev, UUID2) == errno.ENOENT


def test_open_needs_a_kvm_and_a_closed_mdev_and_one_mdev_per_kvm():
    env, m, lp, host = _host()
    create_mdev(host, UUID1)
    create_mdev(host, UUID2)
    k = FakeKVM(m, lp)
    assert _errno(host.vfio.open_device, UUID1, None) == errno.EINVAL
    host.vfio.open_device(UUID1, k)
    assert _errno(host.vfio.open_device, UUID1, FakeKVM(m, lp)) == errno.EBUSY
    assert _errno(host.vfio.open_device, UUID2, k) == errno.EPERM


def test_close_or_reset_of_a_device_that_is_not_open_is_ebadf():
    env, m, lp, host = _host()
    create_mdev(host, UUID1)
    assert _errno(host.vfio.close_device, UUID1) == errno.EBADF
    assert _errno(host.vfio.reset_device, UUID1) == errno.EBADF


def test_closing_clears_the_guests_masks_and_the_mdev_can_be_opened_again():
    env, m, lp, host = _host()
    create_mdev(host, UUID1)
    k = FakeKVM(m, lp)
    host.vfio.open_device(UUID1, k)
    host.vfio.close_device(UUID1)
    assert k.updates[-1] == "clear"
    host.vfio.open_device(UUID1, FakeKVM(m, lp))


def test_removing_a_closed_mdev_removes_it_at_once():
    env, m, lp, host = _host()
    create_mdev(host, UUID1)
    host.echo("1", f"{MATRIX}/{UUID1}/remove")
    assert UUID1 not in host.sysfs.listdir(MATRIX) and host.vfio.mdev_list == []


def test_removing_an_open_mdev_asks_the_vmm_every_10_s_until_it_closes():
    env, m, lp, host = _host()
    create_mdev(host, UUID1)
    vmm = FakeVMM(host, close_on_request=False)
    vmm.open(UUID1, FakeKVM(m, lp))
    host.echo("1", f"{MATRIX}/{UUID1}/remove")
    assert vmm.requests == [UUID1] and UUID1 in host.sysfs.listdir(MATRIX)
    assert _errno(host.vfio.open_device, UUID1, FakeKVM(m, lp)) == errno.EBUSY
    run(env, 2 * REQUEST_INTERVAL_NS + 1)
    assert vmm.requests == [UUID1] * 3
    host.vfio.close_device(UUID1)
    assert UUID1 not in host.sysfs.listdir(MATRIX)
    run(env, 2 * REQUEST_INTERVAL_NS)
    assert len(vmm.requests) == 3
