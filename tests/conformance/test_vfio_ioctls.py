"""VFIO ioctls on a guest's vfio-ap device file (``vfio.*`` actions) and the device-request
IRQ, against drivers/s390/crypto/vfio_ap_ops.c (vfio_ap_mdev_open_device,
vfio_ap_mdev_ioctl and its helpers, vfio_ap_mdev_request), drivers/vfio/vfio_main.c
(vfio_set_irqs_validate_and_prepare), include/uapi/linux/vfio.h and QEMU's
hw/vfio/ap.c (vfio_ap_realize / vfio_ap_register_irq_notifier /
vfio_ap_req_notifier_handler)."""

from __future__ import annotations

import pytest

from apsim.scenario.loader import parse_scenario
from apsim.scenario.run import run_scenario

A = "62177883-f1bb-47f0-914d-32a22e3a8804"
B = "cef03c3c-903d-4ecc-9a83-40694cb8aee4"
C = "d9a2a5c4-0a54-4b60-8f8f-2f6f1d2c3b01"
SCENARIO = """
name: vfio-ioctls
duration: 80ms
kernel: "{kernel}"
qemu: "{qemu}"
machine: {{model: z15, adapters: [{{id: 5, type: CEX5C}}, {{id: 6, type: CEX5C}}, {{id: 7, type: CEX5C}}]}}
lpar: {{adapters: [5, 6, 7], usage_domains: [4]}}
host: {{apmask: "-5,-6,-7"}}
mdevs:
  - {{uuid: {a}, assign_adapter: [5], assign_domain: [4]}}
  - {{uuid: {b}, assign_adapter: [6], assign_domain: [4]}}
  - {{uuid: {c}, assign_adapter: [7], assign_domain: [4]}}
guests:
  - {{name: g1, mdev: {a}}}
  - {{name: g2, mdev: {b}}}
  - {{name: g3}}
timeline:
{timeline}
"""


def run(lines: list[str], *, kernel: str = "6.19", qemu: str = "10.1"):  # noqa: ANN201
    text = SCENARIO.format(kernel=kernel, qemu=qemu, a=A, b=B, c=C,
                           timeline="\n".join(f"  - {x}" for x in lines))
    return [e for e in run_scenario(parse_scenario(text)).timeline.entries if e.line is not None]


def assert_all_pass(entries) -> None:  # noqa: ANN001
    bad = [(e.line, e.do, e.expected, e.actual, e.detail) for e in entries if e.passed is False]
    assert not bad


# --- VFIO_DEVICE_GET_INFO ---------------------------------------------------------------------
@pytest.mark.parametrize("kernel, num_irqs", [("6.19", 2), ("6.12", 1), ("6.1", 0)])
def test_get_info_is_ap_with_reset_no_regions_and_the_kernels_irq_count(kernel, num_irqs):
    """vfio_ap_mdev_get_device_info: VFIO_DEVICE_FLAGS_AP | VFIO_DEVICE_FLAGS_RESET, 0
    regions, VFIO_AP_NUM_IRQS (the request IRQ since 6.5, the config-change IRQ since 6.15);
    argsz below offsetofend(num_irqs) = 16 is EINVAL."""
    assert_all_pass(run([
        f"{{at: 1ms, do: vfio.get_info, guest: g1, expect: {{flags: 0x21, num_regions: 0, num_irqs: {num_irqs}}}}}",
        "{at: 1ms, do: vfio.get_info, guest: g1, argsz: 15, expect_errno: EINVAL}",
        "{at: 1ms, do: vfio.ioctl, guest: g1, cmd: 0x3b6b}",
    ], kernel=kernel))


# --- VFIO_DEVICE_GET_IRQ_INFO -----------------------------------------------------------------
def test_get_irq_info_each_index_is_one_eventfd_irq_and_a_bad_index_is_einval():
    """vfio_ap_get_irq_info: index < VFIO_AP_NUM_IRQS has count 1 and VFIO_IRQ_INFO_EVENTFD;
    an index at or above it, or argsz below 16, is EINVAL."""
    assert_all_pass(run([
        "{at: 1ms, do: vfio.get_irq_info, guest: g1, index: 0, expect: {flags: 1, count: 1}}",
        "{at: 1ms, do: vfio.get_irq_info, guest: g1, index: 1, expect: {flags: 1, count: 1}}",
        "{at: 1ms, do: vfio.get_irq_info, guest: g1, index: 2, expect_errno: EINVAL}",
        "{at: 1ms, do: vfio.get_irq_info, guest: g1, index: 0, argsz: 12, expect_errno: EINVAL}",
    ]))


def test_before_6_15_index_1_is_einval_and_before_6_5_the_irq_ioctls_are_eopnotsupp():
    """6.5 added VFIO_AP_REQ_IRQ_INDEX with the GET_IRQ_INFO/SET_IRQS cases of
    vfio_ap_mdev_ioctl; 6.15 added VFIO_AP_CFG_CHG_IRQ_INDEX. Without a case the ioctl
    takes vfio_ap_mdev_ioctl's default, -EOPNOTSUPP."""
    assert_all_pass(run(["{at: 1ms, do: vfio.get_irq_info, guest: g1, index: 1, expect_errno: EINVAL}"],
                        kernel="6.12"))
    assert_all_pass(run(["{at: 1ms, do: vfio.get_irq_info, guest: g1, index: 0, expect_errno: EOPNOTSUPP}",
                         "{at: 1ms, do: vfio.set_irqs, guest: g1, expect_errno: EOPNOTSUPP}"], kernel="6.1"))


# --- VFIO_DEVICE_SET_IRQS ---------------------------------------------------------------------
@pytest.mark.parametrize("operands, errno", [
    ("", None),
    ("index: 1", None),
    ("fd: -1", None),
    ("flags: 0x21", "EINVAL"),          # DATA_NONE | ACTION_TRIGGER: vfio_ap takes only eventfds
    ("flags: 0x0c", "EINVAL"),          # DATA_EVENTFD | ACTION_MASK: not TRIGGER (vfio_ap_irq_set_init)
    ("flags: 0x64", "EINVAL"),          # an unknown flag bit (vfio_set_irqs_validate_and_prepare)
    ("flags: 0x26", "EINVAL"),          # two data types
    ("index: 2", "EINVAL"),             # index >= VFIO_AP_NUM_IRQS
    ("start: 1", "EINVAL"),             # one IRQ per index
    ("count: 2", "EINVAL"),
    ("argsz: 19", "EINVAL"),            # below offsetofend(struct vfio_irq_set, count)
    ("argsz: 22", "EINVAL"),            # too little room for one s32 fd
    ("fd: closed", "EBADF"),            # eventfd_ctx_fdget on no file
    ("fd: file", "EINVAL"),             # ... on a file that is no eventfd
    ("fd: -2", "EINVAL"),               # neither -1 nor a descriptor
])
def test_set_irqs_checks_header_action_data_type_and_the_eventfd(operands, errno):
    """vfio_ap_set_irqs → vfio_ap_irq_set_init (core checks, then ACTION_TRIGGER) →
    DATA_EVENTFD only → vfio_ap_set_request_irq / vfio_ap_set_cfg_change_irq (fd -1
    unregisters, an eventfd replaces the old one)."""
    want = f", expect_errno: {errno}" if errno else ""
    sep = ", " if operands else ""
    assert_all_pass(run([f"{{at: 1ms, do: vfio.set_irqs, guest: g1{sep}{operands}{want}}}"]))


# --- VFIO_DEVICE_RESET, unknown ioctls, no device ------------------------------------------------
def test_reset_resets_the_queues_and_other_requests_are_eopnotsupp():
    """VFIO_DEVICE_RESET → vfio_ap_mdev_reset_queues; VFIO_DEVICE_GET_REGION_INFO and any
    other request reach vfio_ap_mdev_ioctl's default: -EOPNOTSUPP (not ENOTTY)."""
    entries = run(["{at: 1ms, do: vfio.reset, guest: g1}",
                   "{at: 1ms, do: vfio.ioctl, guest: g1, cmd: 0x3b6c, expect_errno: EOPNOTSUPP}",
                   "{at: 1ms, do: vfio.ioctl, guest: g1, cmd: 0x1234, expect_errno: ENOTSUP}",
                   "{at: 1ms, do: vfio.ioctl, guest: g1, cmd: 0x3b6f}"])
    assert_all_pass(entries)


def test_a_guest_without_a_device_has_no_file_to_call():
    """No vfio-ap device open in the guest's QEMU: no file descriptor, EBADF."""
    assert_all_pass(run(["{at: 1ms, do: vfio.get_info, guest: g3, expect_errno: EBADF}",
                         "{at: 1ms, do: vfio.reset, guest: g3, expect_errno: EBADF}"]))


# --- open ---------------------------------------------------------------------------------------------
def test_open_needs_a_kvm_one_mdev_per_kvm_and_a_closed_device():
    """vfio_ap_mdev_open_device: no KVM → -EINVAL; vfio_ap_mdev_set_kvm: the KVM already
    has another mdev → -EPERM; an mdev open for another guest → EBUSY; a free mdev with a
    KVM of its own attaches and pushes its matrix into the CRYCB."""
    assert_all_pass(run([
        f"{{at: 1ms, do: vfio.open, mdev: {C}, expect_errno: EINVAL}}",
        f"{{at: 1ms, do: vfio.open, mdev: {C}, guest: g1, expect_errno: EPERM}}",
        f"{{at: 1ms, do: vfio.open, mdev: {B}, guest: g3, expect_errno: EBUSY}}",
        f"{{at: 2ms, do: vfio.open, mdev: {C}, guest: g3}}",
        "{at: 3ms, do: kvm.masks, guest: g3, expect: {apm: [7], aqm: [4], updates: 1}}",
        "{at: 3ms, do: vfio.get_info, guest: g3, expect: {num_irqs: 2}}",
    ]))


# --- the device-request IRQ -------------------------------------------------------------------
def test_removing_an_open_mdev_relays_the_request_and_qemu_unplugs_the_device():
    """vfio_unregister_group_dev calls vfio_ap_mdev_request: it clears the CRYCB
    (kvm_arch_crypto_clear_masks) and signals QEMU's request eventfd (notice "Relaying
    device request to user (#0)"); vfio_ap_req_notifier_handler unplugs the device
    (qdev_unplug: unregister the eventfd, close, DEVICE_DELETED); the close lets the removal
    finish and the guest's AP bus (QEMU ≥ 10.1 relays the change) loses the queues."""
    mdev = f"/sys/devices/vfio_ap/matrix/{A}"
    assert_all_pass(run([
        f"{{at: 40ms, do: sysfs.write, path: {mdev}/remove, value: '1'}}",
        f"{{at: 40ms, do: host.dmesg, expect: ['vfio_ap_mdev {A}: Relaying device request to user \\(#0\\)']}}",
        "{at: 40ms, do: qemu.log, guest: g1, expect: ['\"event\": \"DEVICE_DELETED\", \"data\": "
        "{\"device\": \"hostdev0\", \"path\": \"/machine/peripheral/hostdev0\"}']}",
        "{at: 40ms, do: kvm.masks, guest: g1, expect: {apm: [], last: clear_masks}}",
        f"{{at: 40ms, do: sysfs.read, path: {mdev}/matrix, expect_errno: ENOENT}}",
        "{at: 40ms, do: vfio.get_info, guest: g1, expect_errno: EBADF}",
        "{at: 45ms, do: guest.lszcrypt, guest: g1, expect: []}",
    ]))


@pytest.mark.parametrize("how, kernel, qemu", [("unregistered", "6.19", "10.1"), ("old qemu", "6.19", "8.0")])
def test_without_a_request_eventfd_the_removal_waits_for_the_release(how, kernel, qemu):
    """vfio_ap_mdev_request without req_trigger logs "No device request registered, blocked
    until released by user" once (count 0); the VFIO core keeps waiting (the sysfs writer
    blocks) until QEMU closes the device — here a later device_del. The model returns
    from the write at once and finishes the removal at the close."""
    mdev = f"/sys/devices/vfio_ap/matrix/{A}"
    pre = ["{at: 30ms, do: vfio.set_irqs, guest: g1, index: 0, fd: -1}"] if how == "unregistered" else []
    assert_all_pass(run(pre + [
        f"{{at: 40ms, do: sysfs.write, path: {mdev}/remove, value: '1'}}",
        f"{{at: 41ms, do: host.dmesg, expect: ['vfio_ap_mdev {A}: No device request registered, blocked until "
        "released by user'], absent: ['Relaying device request']}",
        f"{{at: 41ms, do: sysfs.read, path: {mdev}/matrix, expect: \"05.0004\\n\"}}",
        "{at: 41ms, do: qemu.log, guest: g1, absent: ['DEVICE_DELETED']}",
        "{at: 60ms, do: qemu.device_del, guest: g1, expect: ok}",
        f"{{at: 60ms, do: sysfs.read, path: {mdev}/matrix, expect_errno: ENOENT}}",
    ], kernel=kernel, qemu=qemu))


def test_qemu_reports_the_irqs_an_older_kernel_lacks_and_works_without_them():
    """vfio_ap_register_irq_notifier: num_irqs < index + 1 → "vfio: IRQ N not available
    (number of irqs M)" (error_report for the request IRQ, a warning for the
    config-change IRQ); realize goes on. Before 6.5 vfio_ap has no request callback:
    a removal logs nothing and waits for the close."""
    assert_all_pass(run([
        "{at: 1ms, do: qemu.log, guest: g1, expect: ['^qemu-system-s390x: warning: vfio: IRQ 1 not available "
        "\\(number of irqs 1\\)$'], absent: ['IRQ 0']}"], kernel="6.12"))
    mdev = f"/sys/devices/vfio_ap/matrix/{A}"
    assert_all_pass(run([
        "{at: 1ms, do: qemu.log, guest: g1, expect: ['^qemu-system-s390x: vfio: IRQ 0 not available "
        "\\(number of irqs 0\\)$', 'warning: vfio: IRQ 1 not available \\(number of irqs 0\\)']}",
        f"{{at: 40ms, do: sysfs.write, path: {mdev}/remove, value: '1'}}",
        "{at: 41ms, do: host.dmesg, absent: ['device request', 'Relaying']}",
        "{at: 41ms, do: kvm.masks, guest: g1, expect: {apm: [5], last: set_masks}}",
        "{at: 50ms, do: guest.stop, guest: g1}",
        f"{{at: 50ms, do: sysfs.read, path: {mdev}/matrix, expect_errno: ENOENT}}",
    ], kernel="6.1"))


def test_each_device_request_is_a_timeline_entry_and_repeats_every_10_s_while_the_device_stays_open():
    """vfio_unregister_group_dev calls the request callback, then waits 10 s (HZ * 10) for
    the release before calling it again with the next count; vfio_ap_mdev_request relays
    each to the eventfd (here: one nobody reads, so QEMU never releases the device)."""
    mdev = f"/sys/devices/vfio_ap/matrix/{A}"
    text = SCENARIO.replace("duration: 80ms", "duration: 26s").format(
        kernel="6.19", qemu="10.1", a=A, b=B, c=C, timeline="\n".join([
        "  - {at: 30ms, do: vfio.set_irqs, guest: g1, index: 0, fd: eventfd}",
        f"  - {{at: 40ms, do: sysfs.write, path: {mdev}/remove, value: '1'}}",
        "  - {at: 25s, do: guest.stop, guest: g1}",
        "  - {at: 25s, do: host.dmesg, expect: ['Relaying device request to user \\(#0\\)'], absent: ['#1\\)']}",
    ]))
    r = run_scenario(parse_scenario(text))
    requests = [(e.at_ns, e.args["count"], e.outcome) for e in r.timeline.entries if e.do == "vfio.device_request"]
    assert requests == [(40_000_000, 0, "relayed"), (10_040_000_000, 1, "relayed"), (20_040_000_000, 2, "relayed")]
    assert all(e.passed is not False for e in r.timeline.entries)


def test_a_relayed_request_that_qemu_answers_is_one_entry_saying_the_mdev_went():
    """QEMU's notifier unplugs within the signal: the removal completes at the first request."""
    mdev = f"/sys/devices/vfio_ap/matrix/{A}"
    text = SCENARIO.format(kernel="6.19", qemu="10.1", a=A, b=B, c=C,
                           timeline=f"  - {{at: 40ms, do: sysfs.write, path: {mdev}/remove, value: '1'}}")
    r = run_scenario(parse_scenario(text))
    (entry,) = [e for e in r.timeline.entries if e.do == "vfio.device_request"]
    assert (entry.outcome, entry.args) == ("relayed", {"mdev": A, "count": 0})
    assert entry.detail == "held by guest g1: released, the mdev is removed"
