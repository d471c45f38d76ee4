"""Kernel version profiles (apsim.kernel): the newest mainline by default, older releases
and named fixes on request. Each case is derived from the kernel source named in its
docstring."""

from __future__ import annotations

import errno

import pytest

from apsim.errors import ProgramException, SysfsError
from apsim.engine.codes import FC
from apsim.engine.instructions import Executor, gr0_for
from apsim.kernel import KernelProfile
from apsim.scenario.loader import parse_scenario
from apsim.scenario.run import run_scenario
from tests.unit.linux_support import (
    BUS,
    MS,
    UUID1,
    UUID2,
    FakeKVM,
    FakeVMM,
    assign,
    create_mdev,
    doc_host,
    run,
)

OLD = KernelProfile((6, 12))
Q = "/sys/devices/ap/card05/05.0004"


# --- kernel log texts -----------------------------------------------------------------------------
@pytest.mark.parametrize("kernel, line", [
    (OLD, f"vfio_ap_mdev {UUID1}: Userspace may not re-assign queue 05.0004 already assigned to {UUID1}"),
    (KernelProfile(), f"vfio_ap_mdev {UUID2}: Userspace may not assign queue 05.0004 to mdev: "
                      f"already assigned to {UUID1}")])
def test_the_sharing_conflict_log_line_follows_the_kernel_version(kernel, line):
    """vfio_ap_ops.c vfio_ap_mdev_log_sharing_err: before commit d33d729afcc8 (6.15) the
    "re-assign" text on the holding mdev naming itself; since, on the assignee naming the holder."""
    env, m, lp, host = doc_host(kernel=kernel)
    host.echo("-5", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    create_mdev(host, UUID2)
    assign(host, UUID1, adapters=[5], domains=[4])
    with pytest.raises(SysfsError):
        assign(host, UUID2, adapters=[5], domains=[4])
    assert host.klog.lines()[-1].endswith(line)


def test_before_6_15_no_config_change_eventfd_reaches_the_vmm():
    """vfio_ap_ops.c: the config-change eventfd (VFIO IRQ index 1) arrived in 6.15."""
    seen = {}
    for kernel in (KernelProfile(), OLD):
        env, m, lp, host = doc_host(kernel=kernel)
        host.echo("-5", f"{BUS}/apmask")
        create_mdev(host, UUID1)
        vmm = FakeVMM(host)
        vmm.open(UUID1, FakeKVM(m, lp))
        assign(host, UUID1, adapters=[5], domains=[4])
        run(env, 1 * MS)
        seen[kernel.version] = len(vmm.cfg_changes)
    assert seen[(6, 19)] > 0 and seen[(6, 12)] == 0


# --- small departures -------------------------------------------------------------------------------
def test_a_failed_sclp_deconfigure_logs_the_configure_text():
    """drivers/s390/char/sclp_ap.c do_ap_configure: one pr_warn text for both commands."""
    env, m, lp, host = doc_host()
    m.sclp_command = lambda lpar, cmd: 0x05F0  # an SCCB response outside the success codes
    with pytest.raises(SysfsError) as e:
        host.echo("0", "/sys/devices/ap/card05/config")
    assert e.value.errno == errno.EIO
    assert host.klog.lines()[-1].endswith(
        "sclp_cmd: configure AP adapter 5 failed: cmd=0x001e0501 response=0x05f0")


def test_a_zero_length_write_reaches_no_store():
    """fs/sysfs/file.c sysfs_kf_write returns 0 for an empty buffer without calling store."""
    env, m, lp, host = doc_host()
    assert host.write(f"{BUS}/apmask", "") == 0
    assert host.write(f"{Q}/reset", "") == 0
    assert host.read(f"{BUS}/apmask").startswith("0xffff")


def test_a_checkstopped_cards_online_reads_0_and_going_online_is_enodev():
    """drivers/s390/crypto/zcrypt_card.c online_show/online_store: config && !chkstop."""
    env, m, lp, host = doc_host()
    card = host.bus.cards[5]
    card.chkstop = True
    assert host.read("/sys/devices/ap/card05/online") == "0\n"
    with pytest.raises(SysfsError) as e:
        host.echo("1", "/sys/devices/ap/card05/online")
    assert e.value.errno == errno.ENODEV


def test_taking_a_card_offline_emits_online_0_for_each_queue_that_changed():
    """zcrypt_card.c online_store → zcrypt_queue_force_online: one uevent per changed queue."""
    env, m, lp, host = doc_host()
    host.echo("0", "/sys/devices/ap/card05/05.0047/online")
    before = len(host.bus.uevents)
    host.echo("0", "/sys/devices/ap/card05/online")
    new = [(path, env_) for _, path, env_ in host.bus.uevents[before:]]
    assert new[0] == ("/sys/devices/ap/card05", "ONLINE=0")
    queues = sorted(path.rsplit("/", 1)[1] for path, env_ in new[1:] if env_ == "ONLINE=0")
    assert queues == ["05.0004", "05.00ab", "05.00ff"]  # 05.0047 was already offline


def test_pqap_qbap_with_a_block_address_off_a_doubleword_is_a_specification_exception():
    """kvm-unit-tests s390x/ap.c test_pgms_pqap, "fc=6": GR2 + 1..7 → specification."""
    env, m, lp, host = doc_host()
    cpu = Executor(m, lp.config)
    for offset in range(1, 8):
        with pytest.raises(ProgramException) as e:
            cpu.pqap(gr0_for(FC.QBAP, 0x0504), 0, 0x10000 + offset)
        assert e.value.kind == "specification" and "QBAP block address" in e.value.reason


SMALL = """
name: defaults
duration: 110ms
machine: {model: z15, adapters: [{id: 5, type: CEX5C}]}
lpar: {adapters: [5], usage_domains: [4]}
host: {apmask: "-5"}
mdevs: [{uuid: 62177883-f1bb-47f0-914d-32a22e3a8804, assign_adapter: [5], assign_domain: [4]}]
guests: [{name: g1, mdev: 62177883-f1bb-47f0-914d-32a22e3a8804}]
timeline:
  - {at: 99ms, do: guest.instruction, guest: g1, op: AQIC, apqn: "05.0004", enable: false,
     expect: {cc: 0, rc: 0}}
  - {at: 100ms, do: guest.instruction, guest: g1, op: AQIC, apqn: "05.0004", enable: true,
     expect: {cc: 0, rc: 0}}
  - {at: 100ms, do: sysfs.write, guest: g1, path: /sys/devices/ap/card05/config, value: "0\\n",
     expect_errno: ENOTSUP}
"""


def test_aqic_without_nib_uses_a_valid_address_and_errno_names_compare_by_number():
    """docs/scenarios.md: AQIC's nib defaults to a valid guest address (vfio_ap_validate_nib
    accepts it); a guest's card config write fails with EOPNOTSUPP (ap_card.c config_store
    → sclp_ap_configure), which an expectation may spell ENOTSUP (the same number)."""
    res = run_scenario(parse_scenario(SMALL))
    entries = res.timeline.entries[-3:]
    assert [e.do for e in entries] == ["guest.instruction", "guest.instruction", "sysfs.write"]
    assert [e.passed for e in entries] == [True, True, True], [(e.outcome, e.detail) for e in entries]


CMDLINE = """
name: cmdline
duration: 1ms
machine: {{model: z15, adapters: [{{id: 5, type: CEX5C}}, {{id: 6, type: CEX5A}}]}}
lpar: {{adapters: [5, 6], usage_domains: [4]}}
host: {{cmdline: "{cmdline}"}}
timeline:
  - {{at: 0ms, do: sysfs.read, path: /sys/bus/ap/apmask, expect: "{apmask}\\n"}}
"""


@pytest.mark.parametrize("cmdline, apmask", [
    # ap_perms_init: the boot parameter starts from an empty mask, a sysfs write from the current one
    ("ap.apmask=+5", "0x04" + "0" * 62),
    ("ap.apmask=0x80", "0x80" + "0" * 62),
    ("quiet", "0x" + "f" * 64)])
def test_host_cmdline_masks_parse_from_an_empty_mask_as_at_boot(cmdline, apmask):
    """drivers/s390/crypto/ap_bus.c ap_perms_init: with ap.apmask= the mask is cleared and the
    string applied (so "+5" leaves only adapter 5); without it the mask stays all ones."""
    r = run_scenario(parse_scenario(CMDLINE.format(cmdline=cmdline, apmask=apmask)))
    last = r.timeline.entries[-1]
    assert last.do == "sysfs.read" and last.passed, (last.expected, last.actual)


LOGS = """
name: logs
duration: 3ms
kernel: "{kernel}"
machine: {{model: z15, adapters: [{{id: 5, type: CEX5C}}]}}
lpar: {{adapters: [5], usage_domains: [4]}}
host: {{apmask: "-5"}}
mdevs:
  - {{uuid: 62177883-f1bb-47f0-914d-32a22e3a8804, assign_adapter: [5], assign_domain: [4]}}
  - {{uuid: cef03c3c-903d-4ecc-9a83-40694cb8aee4}}
timeline:
  - {{at: 1ms, do: sysfs.write, value: "5\\n", expect_errno: EADDRINUSE,
     path: /sys/devices/vfio_ap/matrix/cef03c3c-903d-4ecc-9a83-40694cb8aee4/assign_adapter}}
  - {{at: 1ms, do: sysfs.write, value: "4\\n", expect_errno: EADDRINUSE,
     path: /sys/devices/vfio_ap/matrix/cef03c3c-903d-4ecc-9a83-40694cb8aee4/assign_domain}}
  - {{at: 1ms, do: sysfs.write, path: /sys/devices/ap/card05/config, value: "0\\n"}}
  - {{at: 2ms, do: host.dmesg, expect: ["{line}"], absent: ["{other}"]}}
  - {{at: 2ms, do: uevents, expect: ["^/sys/devices/ap APMASK=0xfb", "^/sys/devices/ap/card05 CONFIG=0$"]}}
  - {{at: 2ms, do: uevents, expect: ["CONFIG=0$", "APMASK="]}}
"""


@pytest.mark.parametrize("kernel, line, other", [
    ("6.19", "may not assign queue 05.0004 to mdev: already assigned to 62177883", "re-assign"),
    ("6.12", "62177883-f1bb-47f0-914d-32a22e3a8804: Userspace may not re-assign queue 05.0004",
     "to mdev: already")])
def test_dmesg_and_uevent_expectations_follow_the_kernel_version(kernel, line, other):
    """vfio_ap_ops.c vfio_ap_mdev_log_sharing_err (text per version, see above) in a
    scenario's host.dmesg; ap_bus.c apmask_store's uevent and ap_card.c config_store's
    CONFIG=0 uevent in its uevents expectation."""
    text = LOGS.format(kernel=kernel, line=line, other=other)
    r = run_scenario(parse_scenario(text))
    logs = [e for e in r.timeline.entries if e.do in ("host.dmesg", "uevents")]
    # The last expectation fails: no APMASK uevent follows the CONFIG=0 one.
    assert [e.passed for e in logs] == [True, True, False], [(e.expected, e.actual) for e in logs]
