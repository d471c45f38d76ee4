"""A guest boots as on a real KVM host: QEMU opens the vfio-ap device, its machine reset
resets the queues and waits for the verification, then the guest kernel boots and its AP
bus initializes (apsim.guest.boot)."""

from __future__ import annotations

from apsim.guest.boot import DEFAULT_BOOT_NS
from apsim.scenario.build import build
from apsim.scenario.loader import parse_scenario
from apsim.scenario.run import run_scenario, schedule_timeline

MS = 1_000_000
UUID = "62177883-f1bb-47f0-914d-32a22e3a8804"


def scenario(*, boot: str | None = None, timeline: str = "[]",
             stop: str | None = None, duration: str = "150ms") -> str:
    """Adapter 5 (CEX5C) × usage domains 4 and 7, both in guest g1's mdev."""
    guest = f"{{name: g1, mdev: {UUID}"
    guest += f", boot: {boot}" if boot else ""
    guest += f", stop: {stop}" if stop else ""
    guest += ", workload: {kind: closed, concurrency: 2, mix: {rsa2048: 1.0}}}"
    return f"""
name: boot
duration: {duration}
machine: {{model: z15, adapters: [{{id: 5, type: CEX5C}}]}}
lpar: {{adapters: [5], usage_domains: [4, 7]}}
host: {{apmask: "-5"}}
mdevs: [{{uuid: {UUID}, assign_adapter: [5], assign_domain: [4, 7]}}]
guests: [{guest}]
timeline: {timeline}
"""


def sim_at(text: str, until_ns: int):  # noqa: ANN201
    sim = build(parse_scenario(text))
    schedule_timeline(sim)
    sim.env.run(until=until_ns)
    return sim


def test_qemus_machine_reset_zaps_every_queue_and_is_verified_before_the_kernel_boots():
    """hw/vfio/ap.c vfio_ap_reset issues VFIO_DEVICE_RESET during QEMU's system reset, before
    any vCPU runs; vfio_ap_ops.c vfio_ap_mdev_reset_queues → vfio_ap_mdev_reset_qlist ZAPQs
    every queue and waits for apq_reset_check (TAPQ every 20 ms). The host's own reset of
    the queues (ap_queue_remove's ZAPQ when apmask gave them to vfio_ap) is still running
    at time 0, so the ZAPQ answers 0x02 and apq_reset_check zaps once more: two rounds."""
    sim = sim_at(scenario(), 1)
    g = sim.guests["g1"]
    assert [e for _, e in g.events] == ["start", "machine_reset"]
    assert g.linux is None and not g.booted
    vfio = sim.host.vfio
    assert vfio.stats["zapq"] >= 2  # one ZAPQ per queue of the matrix (05.0004, 05.0007)
    sim.env.run(until=40 * MS + DEFAULT_BOOT_NS)
    assert g.linux is None, "the kernel boots only after the verification and its boot time"
    sim.env.run(until=40 * MS + DEFAULT_BOOT_NS + 1)
    assert g.booted and g.events[-1] == (40 * MS + DEFAULT_BOOT_NS, "boot")
    assert g.boot.reset_result == 0
    assert all(q.reset_rc == 0 and q.worker is None for q in vfio.queues.values() if q.mdev is not None)


def test_the_initial_ap_bus_scan_selects_the_default_domain_and_lszcrypt_prints_no_warning():
    """ap_bus.c ap_scan_bus → ap_select_domain: the first usage domain of the QCI whose queue
    answers TAPQ with RC 0 becomes ap_domain_index. The queues were reset and verified
    before the guest booted, so the initial scan finds domain 4 at once, not at the
    periodic scan 30 s later, and s390-tools' lszcrypt prints no "Default domain ... is not
    available" warning (the line tp-libvirt's and Kata's parsers trip over)."""
    sim = sim_at(scenario(), 50 * MS + 1)
    g = sim.guests["g1"]
    assert g.linux.bus.scan_count == 1
    assert g.linux.read("/sys/bus/ap/ap_domain") == "4\n"
    assert "Warning" not in g.lszcrypt()
    sim.env.run(until=100 * MS)
    assert sim.ready_ns["g1"] == 90 * MS  # the guest's own RAPQ, then TAPQ at the 40 ms low poll rate
    out = g.lszcrypt()
    assert "Warning" not in out and "05.0004" in out and "05.0007" in out
    assert g.linux.bus.scan_count == 1, "no periodic scan was needed"


def test_a_guest_boots_after_its_boot_time_and_its_load_starts_then():
    """apsim.guest.boot: the guest kernel's AP bus init comes boot: after the reset ended;
    its zcrypt then resets each queue (ap_queue_init_state: RAPQ, TAPQ at the 40 ms low poll
    rate of ap_wait) and the first request follows."""
    r = run_scenario(parse_scenario(scenario(boot="25ms", duration="200ms")))
    g = r.sim.guests["g1"]
    boot_at = next(t for t, e in g.events if e == "boot")
    assert boot_at == 40 * MS + 25 * MS
    assert r.guests["g1"]["ready_ns"] == boot_at + 40 * MS
    cols = r.recorder.arrays()
    assert len(cols["t_submit"]) > 0 and int(cols["t_submit"].min()) >= boot_at


def test_a_guest_stopped_while_it_boots_never_brings_its_linux_up():
    """QEMU quits during its machine reset: the device is closed (vfio_ap_mdev_close_device
    resets the queues again) and no guest kernel runs."""
    sim = sim_at(scenario(stop="20ms"), 120 * MS)
    g = sim.guests["g1"]
    assert not g.running and g.linux is None and g.workload is None
    assert [e for _, e in g.events] == ["start", "machine_reset", "stop"]


def test_an_action_on_a_booting_guests_sysfs_names_the_boot():
    """The guest's /sys exists once its kernel runs: before that a guest sysfs action is
    refused with a message saying the guest is still booting."""
    text = scenario(timeline='[{at: 10ms, do: sysfs.read, guest: g1, path: /sys/bus/ap/ap_domain}]')
    r = run_scenario(parse_scenario(text))
    e = next(e for e in r.timeline.entries if e.do == "sysfs.read")
    assert e.outcome == "ENOENT" and "has not booted yet" in e.detail


def test_a_nested_guest_named_before_its_parent_booted_is_an_outcome_not_a_crash():
    """A guest-2 exists once its guest-1's Linux runs (its QEMU is started from there)."""
    text = f"""
name: nested-early
duration: 60ms
machine: {{model: z15, adapters: [{{id: 5, type: CEX5C}}]}}
lpar: {{adapters: [5], usage_domains: [4]}}
host: {{apmask: "-5"}}
mdevs: [{{uuid: {UUID}, assign_adapter: [5], assign_domain: [4]}}]
guests:
  - name: g1
    mdev: {UUID}
    host: {{apmask: "-5"}}
    mdevs: [{{uuid: 9f4c1e2a-7b3d-4c5e-8f60-1a2b3c4d5e6f, assign_adapter: [5], assign_domain: [4]}}]
    guests: [{{name: g2, mdev: 9f4c1e2a-7b3d-4c5e-8f60-1a2b3c4d5e6f}}]
timeline:
  - {{at: 5ms, do: guest.lszcrypt, guest: g2, expect: []}}
"""
    r = run_scenario(parse_scenario(text))
    e = next(e for e in r.timeline.entries if e.do == "guest.lszcrypt")
    assert e.outcome == "GuestNotStarted" and e.passed is False
    assert "has not booted" in e.detail
