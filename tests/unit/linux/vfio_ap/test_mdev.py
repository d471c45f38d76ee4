"""A vfio_ap mdev's sysfs attributes (apsim.linux.vfio_ap.mdev.MatrixMdev): what the matrix
files read after assignments. The errno of every refused write, in the kernel's check
order, is tested in tests/conformance/test_vfio_ap_errnos.py."""

from __future__ import annotations

from tests.unit.linux_support import BUS, MATRIX, UUID1, assign, create_mdev, doc_host

M1 = f"{MATRIX}/{UUID1}"


def _host():  # noqa: ANN202
    """The documents' host with adapters 5 and 6 released from zcrypt and one mdev."""
    env, m, lp, host = doc_host()
    host.echo("-5,-6", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    return host


def _mask(*ids: int) -> str:
    v = 0
    for i in ids:
        v |= 1 << (255 - i)
    return f"0x{v:064x}"


def test_assignments_show_in_matrix_and_control_domains():
    host = _host()
    assign(host, UUID1, adapters=[6, 5], domains=[0xAB, 4], control_domains=[4])
    assert host.read(f"{M1}/matrix") == "05.0004\n05.00ab\n06.0004\n06.00ab\n"
    assert host.read(f"{M1}/control_domains") == "0004\n"
    assert host.read(f"{M1}/ap_config") == f"{_mask(5, 6)},{_mask(4, 0xAB)},{_mask(4)}\n"


def test_ap_config_sets_all_three_masks_at_once_and_reads_them_back():
    host = _host()
    text = f"{_mask(5, 6)},{_mask(4)},{_mask(4, 0xFF)}"
    host.echo(text, f"{M1}/ap_config")
    assert host.read(f"{M1}/ap_config") == text + "\n"
    assert host.read(f"{M1}/matrix") == "05.0004\n06.0004\n"
    assert host.read(f"{M1}/control_domains") == "0004\n00ff\n"


def test_unassigning_removes_the_id_from_the_matrix():
    host = _host()
    assign(host, UUID1, adapters=[5, 6], domains=[4], control_domains=[4])
    host.echo("6", f"{M1}/unassign_adapter")
    host.echo("4", f"{M1}/unassign_control_domain")
    assert host.read(f"{M1}/matrix") == "05.0004\n" and host.read(f"{M1}/control_domains") == ""


def test_the_guest_matrix_shows_the_shadow_apcb_filtered_to_what_the_host_has():
    host = _host()
    assign(host, UUID1, adapters=[5], domains=[4, 0x10])  # the LPAR has no usage domain 0x10
    assert host.read(f"{M1}/matrix") == "05.0004\n05.0010\n"
    assert host.read(f"{M1}/guest_matrix") == "05.0004\n"
