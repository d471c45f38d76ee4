"""Seed 001 (current Documentation/arch/s390/vfio-ap.rst): every step of its
three-guest example and of its mask examples, replayed against the virtual sysfs.

Machine as the example's lszcrypt tables show: adapter 5 a CEX5C, adapter 6 a
CEX5A, usage and control domains 4, 0x47, 0xab, 0xff, all online in the LPAR.

Where the document and the newest kernel disagree the kernel's behaviour is asserted
and the test's docstring names the difference (docs/host-kernel.md lists them all).
"""

from __future__ import annotations

import errno

import pytest

from apsim.errors import SysfsError
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.masks import Mask
from tests.unit.linux_support import (
    BUS,
    CREATE,
    MATRIX,
    MS,
    UUID1,
    UUID2,
    UUID3,
    FakeKVM,
    FakeVMM,
    assign,
    create_mdev,
    doc_host,
    driver_of,
    run,
    vfio_queues,
)

EIGHT = ["05.0004", "05.0047", "05.00ab", "05.00ff", "06.0004", "06.0047", "06.00ab", "06.00ff"]
DOC_APMASK = "0xf9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
DOC_AQMASK = "0xf7fffffffffffffffeffffffffffffffffffffffffeffffffffffffffffffffe"


def secured_host(how: str = "apmask"):  # noqa: ANN201
    env, m, lp, host = doc_host()
    if how == "apmask":
        host.echo("-5,-6", f"{BUS}/apmask")
    elif how == "aqmask":
        host.echo("-4,-0x47,-0xab,-0xff", f"{BUS}/aqmask")
    else:
        host.echo(DOC_APMASK, f"{BUS}/apmask")
        host.echo(DOC_AQMASK, f"{BUS}/aqmask")
    return env, m, lp, host


def three_guests(how: str = "apmask"):  # noqa: ANN201
    env, m, lp, host = secured_host(how)
    for u in (UUID1, UUID2, UUID3):
        create_mdev(host, u)
    assign(host, UUID1, adapters=[5, 6], domains=[4, 0xAB])
    assign(host, UUID2, adapters=[5], domains=[0x47, 0xFF])
    assign(host, UUID3, adapters=[6], domains=[0x47, 0xFF])
    return env, m, lp, host


# --- step 2: securing the queues -------------------------------------------------------------
def test_boot_masks_are_all_ones_and_every_queue_is_bound_to_cex4queue():
    env, m, lp, host = doc_host()
    assert host.read(f"{BUS}/apmask") == "0x" + "f" * 64 + "\n"
    assert host.read(f"{BUS}/aqmask") == "0x" + "f" * 64 + "\n"
    assert all(driver_of(host, q) == "cex4queue" for q in EIGHT)
    assert vfio_queues(host) == []


@pytest.mark.parametrize("how", ["apmask", "aqmask", "absolute"])
def test_each_documented_mask_form_binds_exactly_the_eight_queues_to_vfio_ap(how):
    env, m, lp, host = secured_host(how)
    assert vfio_queues(host) == EIGHT
    assert all(driver_of(host, q) == "vfio_ap" for q in EIGHT)
    assert host.read(f"{BUS}/bindings") == "8/8 (complete)\n"


def test_relative_apmask_form_reads_back_as_the_documented_absolute_apmask():
    env, m, lp, host = secured_host("apmask")
    assert host.read(f"{BUS}/apmask") == DOC_APMASK + "\n"


def test_relative_aqmask_form_reads_back_as_the_documented_absolute_aqmask():
    env, m, lp, host = secured_host("aqmask")
    assert host.read(f"{BUS}/aqmask") == DOC_AQMASK + "\n"
    assert Mask.from_hex(DOC_AQMASK) == ~Mask.from_ids([4, 0x47, 0xAB, 0xFF])


def test_hwtype_of_the_cards_is_ten_or_higher_so_vfio_ap_can_bind_their_queues():
    env, m, lp, host = secured_host()
    assert host.read(f"{BUS}/devices/card05/hwtype") == "11\n"
    assert host.read(f"{BUS}/devices/card06/hwtype") == "11\n"


def test_example_mask_0x7d_and_0x80_reserves_adapters_1_to_5_and_7_with_domain_0_for_the_host():
    """apmask 0x7d… / aqmask 0x80…: host pool (1,0),(2,0),(3,0),(4,0),(5,0),(7,0)."""
    spec = CardSpec(CardType.CEX5, Mode.CCA)
    env, m, lp, host = doc_host({a: spec for a in range(8)}, domains=(0, 1))
    host.echo("0x7d" + "0" * 62, f"{BUS}/apmask")
    host.echo("0x80" + "0" * 62, f"{BUS}/aqmask")
    owned = sorted(n for n in host.sysfs.listdir(f"{BUS}/drivers/cex4queue") if "." in n)
    assert owned == ["01.0000", "02.0000", "03.0000", "04.0000", "05.0000", "07.0000"]
    assert len(vfio_queues(host)) == 16 - 6


def test_example_mask_0x41_pads_on_the_right_and_names_devices_1_and_7():
    env, m, lp, host = doc_host()
    host.echo("0x41", f"{BUS}/apmask")
    assert host.read(f"{BUS}/apmask") == "0x41" + "0" * 62 + "\n"
    assert Mask.from_hex(host.read(f"{BUS}/apmask")).ids() == [1, 7]


def test_example_relative_list_switches_bits_0_and_71_on_and_6_and_240_off_leaving_the_rest():
    env, m, lp, host = doc_host()
    host.echo("0x0f", f"{BUS}/apmask")  # bits 4..7 on
    host.echo("+0,-6,+0x47,-0xf0", f"{BUS}/apmask")
    assert Mask.from_hex(host.read(f"{BUS}/apmask")).ids() == [0, 4, 5, 7, 0x47]


def test_boot_parameters_apmask_0xffff_aqmask_0x40_split_the_pools_as_documented():
    """ap.apmask=0xffff ap.aqmask=0x40: default pool adapters 0-15 × domain 1."""
    spec = CardSpec(CardType.CEX5, Mode.CCA)
    env, m, lp, host = doc_host({5: spec, 0x14: spec}, domains=(0, 1, 2),
                                cmdline="ap.apmask=0xffff ap.aqmask=0x40")
    assert host.read(f"{BUS}/apmask") == "0xffff" + "0" * 60 + "\n"
    assert host.read(f"{BUS}/aqmask") == "0x4" + "0" * 63 + "\n"
    assert sorted(n for n in host.sysfs.listdir(f"{BUS}/drivers/cex4queue") if "." in n) == ["05.0001"]
    assert vfio_queues(host) == ["05.0000", "05.0002", "14.0000", "14.0001", "14.0002"]


def test_mask_change_taking_assigned_queues_fails_with_ebusy_and_logs_each_apqn():
    """The document quotes "Userspace may not re-assign queue … already assigned to
    <uuid>"; the newest kernel logs "Can not reserve queue AA.QQQQ for host driver:
    in use by mdev" on the mdev, one line per APQN."""
    env, m, lp, host = three_guests()
    with pytest.raises(SysfsError) as e:
        host.echo("+6", f"{BUS}/apmask")
    assert e.value.errno == errno.EBUSY
    assert host.read(f"{BUS}/apmask") == DOC_APMASK + "\n"
    assert host.klog.messages()[-2:] == [
        f"vfio_ap_mdev {UUID3}: Can not reserve queue 06.0047 for host driver: in use by mdev",
        f"vfio_ap_mdev {UUID3}: Can not reserve queue 06.00ff for host driver: in use by mdev"]


# --- step 3: the mediated devices --------------------------------------------------------------
def test_creating_three_mdevs_makes_their_directories_with_the_documented_attributes():
    env, m, lp, host = secured_host()
    avail = f"{MATRIX}/mdev_supported_types/vfio_ap-passthrough/available_instances"
    assert host.read(avail) == "65536\n"
    for u in (UUID1, UUID2, UUID3):
        create_mdev(host, u)
    assert host.read(avail) == "65533\n"
    names = host.sysfs.listdir(f"{MATRIX}/{UUID1}")
    for attr in ("assign_adapter", "assign_control_domain", "assign_domain", "matrix",
                 "unassign_adapter", "unassign_control_domain", "unassign_domain",
                 "guest_matrix", "control_domains", "ap_config", "remove"):
        assert attr in names
    devices = host.sysfs.listdir(f"{MATRIX}/mdev_supported_types/vfio_ap-passthrough/devices")
    assert devices == sorted([UUID1, UUID2, UUID3])


def test_mdev_type_directory_shows_name_api_and_the_matrix_features():
    env, m, lp, host = doc_host()
    t = f"{MATRIX}/mdev_supported_types/vfio_ap-passthrough"
    assert host.read(f"{t}/name") == "VFIO AP Passthrough Device\n"
    assert host.read(f"{t}/device_api") == "vfio-ap\n"
    assert host.read(f"{MATRIX}/features") == "guest_matrix hotplug ap_config\n"


# --- step 4: the matrixes ---------------------------------------------------------------------
def test_matrix_of_each_guest_lists_its_documented_apqns():
    env, m, lp, host = three_guests()
    assert host.read(f"{MATRIX}/{UUID1}/matrix") == "05.0004\n05.00ab\n06.0004\n06.00ab\n"
    assert host.read(f"{MATRIX}/{UUID2}/matrix") == "05.0047\n05.00ff\n"
    assert host.read(f"{MATRIX}/{UUID3}/matrix") == "06.0047\n06.00ff\n"


def test_guest_matrix_equals_matrix_when_every_queue_is_bound_and_in_the_configuration():
    env, m, lp, host = three_guests()
    for u in (UUID1, UUID2, UUID3):
        assert host.read(f"{MATRIX}/{u}/guest_matrix") == host.read(f"{MATRIX}/{u}/matrix")


def test_matrix_shows_adapters_only_or_domains_only_while_half_assigned():
    env, m, lp, host = secured_host()
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5, 6])
    assert host.read(f"{MATRIX}/{UUID1}/matrix") == "05.\n06.\n"
    create_mdev(host, UUID2)
    assign(host, UUID2, domains=[0x47])
    assert host.read(f"{MATRIX}/{UUID2}/matrix") == ".0047\n"


def test_assigning_an_adapter_above_ap_max_adapter_id_fails_with_enodev():
    env, m, lp, host = doc_host(max_adapter_id=63, max_domain_id=255)
    host.echo("-5,-6", f"{BUS}/apmask")
    assert host.read(f"{BUS}/ap_max_adapter_id") == "63\n"
    create_mdev(host, UUID1)
    with pytest.raises(SysfsError) as e:
        host.echo("64", f"{MATRIX}/{UUID1}/assign_adapter")
    assert e.value.errno == errno.ENODEV


def test_assigning_a_domain_above_ap_max_domain_id_fails_with_enodev():
    env, m, lp, host = doc_host(max_domain_id=255)
    create_mdev(host, UUID1)
    with pytest.raises(SysfsError) as e:
        host.echo("256", f"{MATRIX}/{UUID1}/assign_domain")
    assert e.value.errno == errno.ENODEV


def test_assigning_a_control_domain_above_the_maximum_fails_with_enodev():
    env, m, lp, host = doc_host(max_domain_id=255)
    create_mdev(host, UUID1)
    with pytest.raises(SysfsError) as e:
        host.echo("0x100", f"{MATRIX}/{UUID1}/assign_control_domain")
    assert e.value.errno == errno.ENODEV


def test_assigning_a_queue_reserved_for_the_host_fails_with_eaddrnotavail():
    env, m, lp, host = secured_host("aqmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5], domains=[4])
    with pytest.raises(SysfsError) as e:
        host.echo("0x10", f"{MATRIX}/{UUID1}/assign_domain")
    assert e.value.errno == errno.EADDRNOTAVAIL
    assert host.read(f"{MATRIX}/{UUID1}/matrix") == "05.0004\n"


def test_assigning_a_queue_of_another_mdev_fails_with_eaddrinuse_not_the_documented_ebusy():
    """The document says EBUSY; the kernel returns EADDRINUSE and warns per shared APQN."""
    env, m, lp, host = three_guests()
    with pytest.raises(SysfsError) as e:
        host.echo("6", f"{MATRIX}/{UUID2}/assign_adapter")
    assert e.value.errno == errno.EADDRINUSE
    assert host.klog.messages()[-2:] == [
        f"vfio_ap_mdev {UUID2}: Userspace may not assign queue 06.0047 to mdev: already assigned to {UUID3}",
        f"vfio_ap_mdev {UUID2}: Userspace may not assign queue 06.00ff to mdev: already assigned to {UUID3}"]
    assert host.read(f"{MATRIX}/{UUID2}/matrix") == "05.0047\n05.00ff\n"


def test_control_domains_lists_the_assigned_control_domains():
    env, m, lp, host = three_guests()
    assign(host, UUID1, control_domains=[4, 0xAB])
    assert host.read(f"{MATRIX}/{UUID1}/control_domains") == "0004\n00ab\n"
    host.echo("4", f"{MATRIX}/{UUID1}/unassign_control_domain")
    assert host.read(f"{MATRIX}/{UUID1}/control_domains") == "00ab\n"


# --- steps 5-7: the guests ---------------------------------------------------------------------
def test_starting_the_three_guests_gives_each_kvm_its_apcb():
    env, m, lp, host = three_guests()
    kvms = {u: FakeKVM(m, lp) for u in (UUID1, UUID2, UUID3)}
    for u, k in kvms.items():
        FakeVMM(host).open(u, k)
    assert (kvms[UUID1].apm, kvms[UUID1].aqm) == ([5, 6], [4, 0xAB])
    assert (kvms[UUID2].apm, kvms[UUID2].aqm) == ([5], [0x47, 0xFF])
    assert (kvms[UUID3].apm, kvms[UUID3].aqm) == ([6], [0x47, 0xFF])
    assert host.read(f"{BUS}/devices/05.0004/status") == "in use\n"


def test_each_guest_lszcrypt_lists_the_documented_cards_and_queues():
    """The document's tables use the old CARD.DOMAIN header; compared column by column."""
    from apsim.linux import Host

    env, m, lp, host = three_guests()
    want = {
        UUID1: [("05", "CEX5C", "CCA-Coproc"), ("05.0004", "CEX5C", "CCA-Coproc"),
                ("05.00ab", "CEX5C", "CCA-Coproc"), ("06", "CEX5A", "Accelerator"),
                ("06.0004", "CEX5A", "Accelerator"), ("06.00ab", "CEX5A", "Accelerator")],
        UUID2: [("05", "CEX5C", "CCA-Coproc"), ("05.0047", "CEX5C", "CCA-Coproc"),
                ("05.00ff", "CEX5C", "CCA-Coproc")],
        UUID3: [("06", "CEX5A", "Accelerator"), ("06.0047", "CEX5A", "Accelerator"),
                ("06.00ff", "CEX5A", "Accelerator")],
    }
    kvms = {u: FakeKVM(m, lp) for u in want}
    for u, k in kvms.items():
        FakeVMM(host).open(u, k)
    run(env, 10 * MS)
    for u, rows in want.items():
        guest = Host(env, m, kvms[u].guest_cpu(), name=u[:8])
        lines = guest.lszcrypt().splitlines()[2:]
        got = [tuple(line.split()[:3]) for line in lines if not line.startswith("Warning")]
        assert got == rows


def test_remove_of_an_mdev_whose_guest_runs_asks_the_vmm_and_completes_after_close():
    """The document says the remove "will fail"; the kernel blocks the writer and sends
    a device request to user space, removing the mdev once the device is closed."""
    env, m, lp, host = three_guests()
    k = FakeKVM(m, lp)
    vmm = FakeVMM(host)
    vmm.open(UUID1, k)
    host.echo("1", f"{MATRIX}/{UUID1}/remove")
    assert vmm.requests == [UUID1]
    assert not host.sysfs.exists(f"{MATRIX}/{UUID1}")
    assert k.updates[-1] == "clear"
    assert f"vfio_ap_mdev {UUID1}: Relaying device request to user (#0)" in host.klog.messages()


def test_removed_mdev_can_be_recreated_and_reconfigured_from_step_3():
    env, m, lp, host = three_guests()
    host.echo("1", f"{MATRIX}/{UUID1}/remove")
    assert not host.sysfs.exists(f"{MATRIX}/{UUID1}")
    create_mdev(host, UUID1)
    assert host.read(f"{MATRIX}/{UUID1}/matrix") == ""
    assign(host, UUID1, adapters=[5, 6], domains=[4, 0xAB])
    assert host.read(f"{MATRIX}/{UUID1}/matrix") == "05.0004\n05.00ab\n06.0004\n06.00ab\n"


def test_creating_an_mdev_with_an_existing_uuid_fails_with_eexist():
    env, m, lp, host = three_guests()
    with pytest.raises(SysfsError) as e:
        host.echo(UUID1, CREATE)
    assert e.value.errno == errno.EEXIST
