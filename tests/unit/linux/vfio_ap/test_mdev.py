"""A vfio_ap mdev's sysfs attributes (apsim.linux.vfio_ap.mdev.MatrixMdev): the checks of
vfio_ap_ops.c in the kernel's order, each with its errno, and the read formats."""

from __future__ import annotations

import errno

import pytest

from apsim.errors import SysfsError
from tests.unit.linux_support import BUS, MATRIX, UUID1, UUID2, assign, create_mdev, doc_host

M1 = f"{MATRIX}/{UUID1}"


def _host():  # noqa: ANN202
    """The documents' host with adapters 5 and 6 released from zcrypt and one mdev."""
    env, m, lp, host = doc_host()
    host.echo("-5,-6", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    return host


def _errno(host, value: str, path: str) -> int:  # noqa: ANN001
    with pytest.raises(SysfsError) as e:
        host.echo(value, path)
    return e.value.errno


def test_an_mdev_has_the_kernels_attribute_files():
    host = _host()
    names = set(host.sysfs.listdir(M1))
    assert {"assign_adapter", "unassign_adapter", "assign_domain", "unassign_domain",
            "assign_control_domain", "unassign_control_domain", "ap_config", "control_domains",
            "matrix", "guest_matrix", "remove", "mdev_type"} <= names


def test_assignments_show_in_matrix_and_control_domains():
    host = _host()
    assign(host, UUID1, adapters=[5, 6], domains=[4, 0xAB], control_domains=[4])
    assert host.read(f"{M1}/matrix") == "05.0004\n05.00ab\n06.0004\n06.00ab\n"
    assert host.read(f"{M1}/control_domains") == "0004\n"


@pytest.mark.parametrize("attr", ["assign_adapter", "assign_domain", "assign_control_domain",
                                  "unassign_adapter", "unassign_domain", "unassign_control_domain"])
def test_an_id_that_does_not_parse_is_einval_and_one_above_the_maximum_enodev(attr):
    host = _host()
    assert _errno(host, "five", f"{M1}/{attr}") == errno.EINVAL
    assert _errno(host, "256", f"{M1}/{attr}") == errno.ENODEV


def test_assigning_twice_or_unassigning_what_is_not_assigned_succeeds_without_change():
    host = _host()
    assign(host, UUID1, adapters=[5], domains=[4])
    host.echo("5", f"{M1}/assign_adapter")
    host.echo("6", f"{M1}/unassign_adapter")
    host.echo("0x47", f"{M1}/unassign_domain")
    assert host.read(f"{M1}/matrix") == "05.0004\n"


def test_an_apqn_the_host_keeps_for_its_default_drivers_is_eaddrnotavail_and_not_assigned():
    host = _host()
    host.echo("+5", f"{BUS}/apmask")  # adapter 5 back to the host's zcrypt
    assign(host, UUID1, domains=[4])
    assert _errno(host, "5", f"{M1}/assign_adapter") == errno.EADDRNOTAVAIL
    assert host.read(f"{M1}/matrix") == ".0004\n"


def test_an_apqn_of_another_mdev_is_eaddrinuse_with_one_warning_per_shared_apqn():
    host = _host()
    create_mdev(host, UUID2)
    assign(host, UUID1, adapters=[5], domains=[4, 0x47])
    assign(host, UUID2, domains=[4, 0x47])
    before = len(host.klog.messages())
    assert _errno(host, "5", f"{MATRIX}/{UUID2}/assign_adapter") == errno.EADDRINUSE
    assert len(host.klog.messages()) == before + 2
    assert host.read(f"{MATRIX}/{UUID2}/matrix") == ".0004\n.0047\n"


def test_control_domains_need_no_ownership_and_may_be_shared():
    host = _host()
    create_mdev(host, UUID2)
    assign(host, UUID1, control_domains=[0xFF])
    assign(host, UUID2, control_domains=[0xFF])
    assert host.read(f"{M1}/control_domains") == host.read(f"{MATRIX}/{UUID2}/control_domains") == "00ff\n"
    host.echo("0xff", f"{M1}/unassign_control_domain")
    assert host.read(f"{M1}/control_domains") == ""


def _mask(*ids: int) -> str:
    v = 0
    for i in ids:
        v |= 1 << (255 - i)
    return f"0x{v:064x}"


def test_ap_config_sets_all_three_masks_at_once_and_reads_them_back():
    host = _host()
    text = f"{_mask(5, 6)},{_mask(4)},{_mask(4, 0xFF)}"
    host.echo(text, f"{M1}/ap_config")
    assert host.read(f"{M1}/ap_config") == text + "\n"
    assert host.read(f"{M1}/matrix") == "05.0004\n06.0004\n"


@pytest.mark.parametrize("text", [_mask(5), "0x80,zz,0x0", ""])
def test_ap_config_with_a_missing_field_or_a_bad_mask_is_einval_and_changes_nothing(text):
    host = _host()
    assign(host, UUID1, adapters=[6], domains=[4])
    assert _errno(host, text, f"{M1}/ap_config") == errno.EINVAL
    assert host.read(f"{M1}/matrix") == "06.0004\n"


def test_ap_config_taking_an_apqn_of_another_mdev_is_refused_all_or_nothing():
    host = _host()
    create_mdev(host, UUID2)
    assign(host, UUID2, adapters=[5], domains=[4])
    assert _errno(host, f"{_mask(5, 6)},{_mask(4)},{_mask()}", f"{M1}/ap_config") == errno.EADDRINUSE
    assert host.read(f"{M1}/matrix") == ""


def test_ap_config_with_an_empty_last_field_is_an_empty_mask_as_hex2bitmap_reads_it():
    host = _host()
    host.echo(f"{_mask(5)},{_mask(4)}", f"{M1}/ap_config")  # the newline ends the second field
    assert host.read(f"{M1}/matrix") == "05.0004\n" and host.read(f"{M1}/control_domains") == ""


def test_ap_config_with_an_id_above_the_maximum_is_enodev():
    env, m, lp, host = doc_host(max_domain_id=84, domains=(4, 0x47))
    host.echo("-5,-6", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    host.echo(f"{_mask(5)},{_mask(4, 84)},{_mask()}", f"{M1}/ap_config")
    assert _errno(host, f"{_mask(5)},{_mask(85)},{_mask()}", f"{M1}/ap_config") == errno.ENODEV
    assert host.read(f"{M1}/matrix").splitlines() == ["05.0004", "05.0054"]


def test_remove_takes_zero_as_nothing_and_refuses_what_does_not_parse():
    host = _host()
    host.echo("0", f"{M1}/remove")
    assert UUID1 in host.sysfs.listdir(MATRIX)
    assert _errno(host, "yes", f"{M1}/remove") == errno.EINVAL
    host.echo("1", f"{M1}/remove")
    assert UUID1 not in host.sysfs.listdir(MATRIX)


def test_the_guest_matrix_shows_the_shadow_apcb_filtered_to_what_the_host_has():
    host = _host()
    assign(host, UUID1, adapters=[5], domains=[4, 0x10])  # the LPAR has no usage domain 0x10
    assert host.read(f"{M1}/matrix") == "05.0004\n05.0010\n"
    assert host.read(f"{M1}/guest_matrix") == "05.0004\n"
