"""Every errno a vfio_ap attribute or VFIO entry point returns, reached once each
(reference §11.2; the kernel's check order decides which errno wins)."""

from __future__ import annotations

import errno

import pytest

from apsim.errors import SysfsError
from tests.unit.linux_support import (
    BUS,
    CREATE,
    MATRIX,
    UUID1,
    UUID2,
    UUID3,
    FakeKVM,
    assign,
    create_mdev,
    doc_host,
)


def errno_of(fn, *args):  # noqa: ANN001, ANN002, ANN201
    with pytest.raises(SysfsError) as e:
        fn(*args)
    return e.value.errno


@pytest.fixture
def host2():  # noqa: ANN201
    """Adapters 5/6 secured for vfio_ap, mdev 1 holding 05.0004, mdev 2 empty."""
    env, m, lp, host = doc_host()
    host.echo("-5,-6", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    create_mdev(host, UUID2)
    assign(host, UUID1, adapters=[5], domains=[4])
    return env, m, lp, host


ID_ATTRS = ["assign_adapter", "unassign_adapter", "assign_domain", "unassign_domain",
            "assign_control_domain", "unassign_control_domain"]


# --- number parsing and maxima: all six (un)assign files -------------------------------------------
@pytest.mark.parametrize("attr", ID_ATTRS)
@pytest.mark.parametrize("text", ["\n", "abc\n", "-1\n", " 5\n", "5 \n", "0x\n", "08\n", "5\n\n", "1e3\n"])
def test_id_attribute_rejects_text_that_is_not_an_unsigned_long_with_einval(host2, attr, text):
    host = host2[3]
    assert errno_of(host.write, f"{MATRIX}/{UUID2}/{attr}", text) == errno.EINVAL


@pytest.mark.parametrize("attr", ID_ATTRS)
def test_id_attribute_rejects_numbers_beyond_an_unsigned_long_with_erange(host2, attr):
    host = host2[3]
    assert errno_of(host.write, f"{MATRIX}/{UUID2}/{attr}", "18446744073709551616\n") == errno.ERANGE
    assert errno_of(host.write, f"{MATRIX}/{UUID2}/{attr}", "0x10000000000000000x\n") == errno.ERANGE


@pytest.mark.parametrize("attr", ID_ATTRS)
def test_id_attribute_rejects_ids_above_the_maximum_with_enodev(host2, attr):
    host = host2[3]
    assert errno_of(host.write, f"{MATRIX}/{UUID2}/{attr}", "256\n") == errno.ENODEV
    assert errno_of(host.write, f"{MATRIX}/{UUID2}/{attr}", "18446744073709551615\n") == errno.ENODEV


@pytest.mark.parametrize("text", ["+5\n", "0x5", "05\n", "5"])
def test_id_attribute_accepts_plus_sign_hex_octal_and_missing_newline(host2, text):
    host = host2[3]
    host.write(f"{MATRIX}/{UUID2}/assign_adapter", text)
    assert host.read(f"{MATRIX}/{UUID2}/matrix") == "05.\n"


def test_reassigning_an_assigned_adapter_is_a_silent_success_without_revalidation(host2):
    env, m, lp, host = host2
    host.echo("5", f"{MATRIX}/{UUID1}/assign_adapter")
    assert host.read(f"{MATRIX}/{UUID1}/matrix") == "05.0004\n"


@pytest.mark.parametrize("attr", ["unassign_adapter", "unassign_domain", "unassign_control_domain"])
def test_unassigning_an_id_that_is_not_assigned_succeeds(host2, attr):
    host = host2[3]
    host.echo("9", f"{MATRIX}/{UUID1}/{attr}")
    assert host.read(f"{MATRIX}/{UUID1}/matrix") == "05.0004\n"


# --- ownership and sharing -------------------------------------------------------------------------
def test_assign_adapter_eaddrnotavail_when_a_new_apqn_is_host_owned():
    env, m, lp, host = doc_host()
    host.echo("-5", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5], domains=[4])
    assert errno_of(host.echo, "6", f"{MATRIX}/{UUID1}/assign_adapter") == errno.EADDRNOTAVAIL
    assert host.read(f"{MATRIX}/{UUID1}/matrix") == "05.0004\n"


def test_assign_domain_eaddrnotavail_when_a_new_apqn_is_host_owned():
    env, m, lp, host = doc_host()
    host.echo("-4", f"{BUS}/aqmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5], domains=[4])
    assert errno_of(host.echo, "0x47", f"{MATRIX}/{UUID1}/assign_domain") == errno.EADDRNOTAVAIL


def test_assign_adapter_eaddrinuse_when_another_mdev_has_an_apqn(host2):
    host = host2[3]
    assign(host, UUID2, domains=[4])
    assert errno_of(host.echo, "5", f"{MATRIX}/{UUID2}/assign_adapter") == errno.EADDRINUSE
    assert host.read(f"{MATRIX}/{UUID2}/matrix") == ".0004\n"


def test_assign_domain_eaddrinuse_when_another_mdev_has_an_apqn(host2):
    host = host2[3]
    assign(host, UUID2, adapters=[5])
    assert errno_of(host.echo, "4", f"{MATRIX}/{UUID2}/assign_domain") == errno.EADDRINUSE


def test_host_ownership_is_checked_before_sharing(host2):
    """An APQN both host-owned and shared gives EADDRNOTAVAIL (the first check)."""
    env, m, lp, host = host2
    create_mdev(host, UUID3)
    host.echo("7", f"{MATRIX}/{UUID3}/assign_adapter")  # 7 is host-owned with any domain
    assign(host, UUID3, adapters=[5])
    assert errno_of(host.echo, "4", f"{MATRIX}/{UUID3}/assign_domain") == errno.EADDRNOTAVAIL


def test_control_domains_need_no_ownership_and_may_be_shared(host2):
    host = host2[3]
    assign(host, UUID1, control_domains=[4])
    assign(host, UUID2, control_domains=[4])
    assert host.read(f"{MATRIX}/{UUID2}/control_domains") == "0004\n"


# --- ap_config --------------------------------------------------------------------------------------
Z = "0x" + "0" * 64


@pytest.mark.parametrize("text", ["0x04", "0x04,0x08", "0x04,0x08,0x1g", "0x04;0x08;0x08",
                                  "0x" + "f" * 65 + ",0x08,0x08", "0X04,0x08,0x08", " 0x04,0x08,0x08"])
def test_ap_config_rejects_missing_fields_and_bad_masks_with_einval_and_changes_nothing(host2, text):
    host = host2[3]
    before = host.read(f"{MATRIX}/{UUID1}/ap_config")
    assert errno_of(host.write, f"{MATRIX}/{UUID1}/ap_config", text) == errno.EINVAL
    assert host.read(f"{MATRIX}/{UUID1}/ap_config") == before


def test_ap_config_eaddrnotavail_when_the_new_matrix_has_a_host_owned_apqn(host2):
    host = host2[3]
    assert errno_of(host.write, f"{MATRIX}/{UUID2}/ap_config", "0x01,0x08,0x00\n") == errno.EADDRNOTAVAIL


def test_ap_config_eaddrinuse_when_the_new_matrix_shares_an_apqn(host2):
    host = host2[3]
    assert errno_of(host.write, f"{MATRIX}/{UUID2}/ap_config", "0x04,0x08,0x00\n") == errno.EADDRINUSE
    assert host.read(f"{MATRIX}/{UUID2}/ap_config") == f"{Z},{Z},{Z}\n"


def test_ap_config_enodev_when_a_bit_exceeds_the_maximum():
    env, m, lp, host = doc_host(max_adapter_id=63, max_domain_id=15, domains=(4,))
    create_mdev(host, UUID1)
    over = "0x" + "0" * 16 + "8"  # adapter 64
    assert errno_of(host.write, f"{MATRIX}/{UUID1}/ap_config", f"{over},0x00,0x00\n") == errno.ENODEV
    assert errno_of(host.write, f"{MATRIX}/{UUID1}/ap_config", "0x00,0x0000,0x00008\n") == errno.ENODEV


def test_ap_config_two_fields_and_a_newline_give_an_empty_control_domain_mask(host2):
    host = host2[3]
    host.write(f"{MATRIX}/{UUID2}/ap_config", "0x06,0x01\n")
    assert host.read(f"{MATRIX}/{UUID2}/matrix") == "05.0007\n06.0007\n"


# --- create / remove ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "\n", "62177883-f1bb-47f0-914d-32a22e3a880", "62177883f1bb47f0914d32a22e3a8804",
    "62177883-f1bb-47f0-914d-32a22e3a8804\n\n", "g2177883-f1bb-47f0-914d-32a22e3a8804",
    "62177883_f1bb-47f0-914d-32a22e3a8804"])
def test_create_rejects_text_that_is_not_a_uuid_with_einval(text):
    env, m, lp, host = doc_host()
    assert errno_of(host.write, CREATE, text) == errno.EINVAL


def test_create_accepts_an_upper_case_uuid_and_names_the_device_in_lower_case():
    env, m, lp, host = doc_host()
    host.write(CREATE, UUID1.upper() + "\n")
    assert host.sysfs.exists(f"{MATRIX}/{UUID1}/matrix")
    assert errno_of(host.write, CREATE, UUID1) == errno.EEXIST


def test_create_eusers_when_no_instance_is_left():
    env, m, lp, host = doc_host()
    host.vfio.max_instances = 1
    create_mdev(host, UUID1)
    t = f"{MATRIX}/mdev_supported_types/vfio_ap-passthrough/available_instances"
    assert host.read(t) == "0\n"
    assert errno_of(host.echo, UUID2, CREATE) == errno.EUSERS


@pytest.mark.parametrize("text", ["yes\n", "-1\n", "18446744073709551616\n"])
def test_remove_rejects_non_numbers_with_einval(host2, text):
    host = host2[3]
    assert errno_of(host.write, f"{MATRIX}/{UUID1}/remove", text) == errno.EINVAL
    assert host.sysfs.exists(f"{MATRIX}/{UUID1}/matrix")


def test_remove_with_zero_does_nothing(host2):
    host = host2[3]
    host.echo("0", f"{MATRIX}/{UUID1}/remove")
    assert host.sysfs.exists(f"{MATRIX}/{UUID1}/matrix")


# --- file modes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("attr", ["matrix", "guest_matrix", "control_domains"])
def test_read_only_mdev_attributes_refuse_writes_with_eacces(host2, attr):
    assert errno_of(host2[3].write, f"{MATRIX}/{UUID1}/{attr}", "1\n") == errno.EACCES


@pytest.mark.parametrize("attr", ID_ATTRS + ["remove"])
def test_write_only_mdev_attributes_refuse_reads_with_eacces(host2, attr):
    assert errno_of(host2[3].read, f"{MATRIX}/{UUID1}/{attr}") == errno.EACCES


def test_removed_mdev_attributes_are_gone_with_enoent(host2):
    host = host2[3]
    host.echo("1", f"{MATRIX}/{UUID1}/remove")
    assert errno_of(host.read, f"{MATRIX}/{UUID1}/matrix") == errno.ENOENT


# --- VFIO entry points ----------------------------------------------------------------------------
def test_open_without_a_kvm_fails_with_einval(host2):
    assert errno_of(host2[3].open_device, UUID1, None) == errno.EINVAL


def test_open_of_a_second_mdev_for_the_same_kvm_fails_with_eperm(host2):
    env, m, lp, host = host2
    k = FakeKVM(m, lp)
    host.open_device(UUID1, k)
    assert errno_of(host.open_device, UUID2, k) == errno.EPERM
    assert k.mdev == UUID1


def test_open_of_an_open_mdev_fails_with_ebusy(host2):
    env, m, lp, host = host2
    host.open_device(UUID1, FakeKVM(m, lp))
    assert errno_of(host.open_device, UUID1, FakeKVM(m, lp)) == errno.EBUSY


def test_open_of_an_unknown_mdev_fails_with_enoent(host2):
    env, m, lp, host = host2
    assert errno_of(host.open_device, UUID3, FakeKVM(m, lp)) == errno.ENOENT


def test_close_or_reset_of_a_closed_mdev_fails_with_ebadf(host2):
    host = host2[3]
    assert errno_of(host.close_device, UUID1) == errno.EBADF
    assert errno_of(host.reset_device, UUID1) == errno.EBADF
