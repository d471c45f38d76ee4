"""QEMU's vfio-ap device on a running guest: device_add, device_del, one device, migration."""

from __future__ import annotations

import pytest

from apsim.scenario.loader import parse_scenario
from apsim.scenario.run import run_scenario

UUID_A = "62177883-f1bb-47f0-914d-32a22e3a8804"
UUID_B = "cef03c3c-903d-4ecc-9a83-40694cb8aee4"

# The guests' Linux is up at 50 ms (QEMU's reset of the queues, 40 ms, and 10 ms of boot)
# and their queues are ready at 90 ms: the device actions come after that.
SCENARIO = """
name: qemu-device
duration: 110ms
qemu: "{qemu}"
machine: {{model: z15, adapters: [{{id: 5, type: CEX5C}}, {{id: 6, type: CEX5C}}]}}
lpar: {{adapters: [5, 6], usage_domains: [4]}}
host: {{apmask: "-5,-6"}}
mdevs:
  - {{uuid: {a}, assign_adapter: [5], assign_domain: [4]}}
  - {{uuid: {b}, assign_adapter: [6], assign_domain: [4]}}
guests:
  - {{name: g1{g1_mdev}{workload}}}
  - {{name: g2, mdev: {b}}}
timeline:
{timeline}
"""


def run(timeline: list[str], *, qemu: str = "10.1", g1_mdev: str | None = None, workload: str = ""):
    text = SCENARIO.format(qemu=qemu, a=UUID_A, b=UUID_B, timeline="\n".join(f"  - {t}" for t in timeline),
                           g1_mdev=f", mdev: {g1_mdev}" if g1_mdev else "",
                           workload=f", workload: {workload}" if workload else "")
    return run_scenario(parse_scenario(text))


def entries(r, do: str):
    return [e for e in r.timeline.entries if e.do == do]


@pytest.mark.parametrize("qemu, rows", [("10.1", '["05 CEX5C", "05.0004 CEX5C"]'), ("9.2", "[]")])
def test_device_add_opens_the_mdev_and_the_guest_sees_its_queues_as_its_qemu_relays(qemu, rows):
    """QEMU hw/vfio/ap.c vfio_ap_realize opens the mdev (vfio_ap_mdev_open_device →
    vfio_ap_mdev_set_kvm pushes the APCB); QEMU >= 10.1 relays the change
    (vfio_ap_cfg_chg_notifier_handler → CHSC SEI → ap_bus_cfg_chg) so the guest sees
    its queues at once, an older QEMU leaves them to the AP bus's periodic scan."""
    r = run([f"{{at: 100ms, do: qemu.device_add, guest: g1, mdev: {UUID_A}, expect: ok}}",
             f"{{at: 105ms, do: guest.lszcrypt, guest: g1, expect: {rows}}}"], qemu=qemu)
    add, ls = entries(r, "qemu.device_add")[0], entries(r, "guest.lszcrypt")[0]
    assert add.passed and add.outcome == "ok", (add.outcome, add.detail)
    assert ls.passed, (ls.expected, ls.actual)


def test_a_second_vfio_ap_device_is_refused_with_qemus_bus_full_message():
    """QEMU hw/s390x/ap-bridge.c ap_bus_class_init sets max_dev = 1, so
    qdev_device_add (system/qdev-monitor.c) finds no AP bus with room and says so."""
    r = run([f"{{at: 100ms, do: qemu.device_add, guest: g1, mdev: {UUID_A}, expect: refused}}"],
            g1_mdev=UUID_A)
    add = entries(r, "qemu.device_add")[0]
    assert add.passed and add.actual == "refused"
    assert add.detail == "No 'ap-bus' bus found for device 'vfio-ap'"


def test_device_add_of_an_mdev_another_guest_uses_is_refused_with_ebusy():
    """vfio_ap_mdev_open_device: an mdev already open for a KVM cannot be opened again
    (the VFIO core refuses a second open of the device: EBUSY)."""
    r = run([f"{{at: 100ms, do: qemu.device_add, guest: g1, mdev: {UUID_B}, expect: refused}}"])
    add = entries(r, "qemu.device_add")[0]
    assert add.passed and add.outcome == "EBUSY", (add.outcome, add.detail)


def test_device_del_clears_the_apcb_resets_the_queues_as_hot_unplug_and_the_bus_loses_them():
    """QEMU qmp_device_del → vfio_ap_unrealize closes the device; vfio_ap_mdev_close_device
    → vfio_ap_mdev_unset_kvm clears the CRYCB masks and resets the queues (reset_queues);
    with QEMU >= 10.1 the guest's AP bus rescans at once and removes the devices."""
    r = run(["{at: 100ms, do: qemu.device_del, guest: g1, expect: ok}",
             "{at: 105ms, do: guest.lszcrypt, guest: g1, expect: []}"],
            g1_mdev=UUID_A, workload="{kind: closed, concurrency: 8, mix: {rsa2048: 1.0}}")
    dl, ls = entries(r, "qemu.device_del")[0], entries(r, "guest.lszcrypt")[0]
    assert dl.passed and dl.outcome == "ok", (dl.outcome, dl.detail)
    assert ls.passed, (ls.expected, ls.actual)
    assert r.ledger.dropped["hot_unplug"] > 0 and r.ledger.dropped["guest_stop"] == 0, r.ledger.dropped


def test_device_del_clears_the_guests_crycb_masks():
    """vfio_ap_mdev_unset_kvm → kvm_arch_crypto_clear_masks: the guest's APCB is empty."""
    from apsim.scenario.build import build
    from apsim.scenario.run import run_action, schedule_timeline

    text = SCENARIO.format(qemu="10.1", a=UUID_A, b=UUID_B, timeline="  []", g1_mdev=f", mdev: {UUID_A}",
                           workload="").replace("timeline:\n  []", "timeline: []")
    sim = build(parse_scenario(text))
    schedule_timeline(sim)
    sim.env.run(until=100_000_000)
    kvm = sim.guests["g1"].kvm
    assert kvm.config.table[0x0504]
    act = parse_scenario(text.replace("timeline: []", "timeline: [{at: 100ms, do: qemu.device_del, guest: g1}]"))
    entry = run_action(sim, act.timeline[0])
    assert entry.outcome == "ok" and kvm.mdev is None and not kvm.config.table[0x0504]


def test_device_del_without_a_vfio_ap_device_is_refused_with_qmps_not_found_message():
    """QEMU qmp_device_del → find_device_state: no device with that id."""
    r = run(["{at: 100ms, do: qemu.device_del, guest: g1, expect: refused}",
             "{at: 101ms, do: qemu.device_del, guest: g2, id: ap9, expect: refused}"])
    first, second = entries(r, "qemu.device_del")
    assert first.passed and first.detail == "Device 'hostdev0' not found"
    assert second.passed and second.detail == "Device 'ap9' not found"


def test_migrate_is_refused_while_a_vfio_ap_device_is_plugged_and_ok_after_device_del():
    """QEMU hw/vfio/ap.c: vfio_ap_vmstate is unmigratable, so migration/savevm.c
    qemu_savevm_state_blocked refuses with the device's savevm id ("/1" from
    ap_bus_get_dev_path, then "vfio-ap"); without the device the guest migrates."""
    r = run(["{at: 100ms, do: qemu.migrate, guest: g1, expect: refused}",
             "{at: 101ms, do: qemu.device_del, guest: g1, expect: ok}",
             "{at: 102ms, do: qemu.migrate, guest: g1, expect: ok}"], g1_mdev=UUID_A)
    blocked, ok = entries(r, "qemu.migrate")
    assert blocked.passed and blocked.detail == "State blocked by non-migratable device '/1/vfio-ap'"
    assert ok.passed and ok.actual == "ok"


def test_device_add_after_device_del_gives_the_guest_its_queues_back():
    """The AP bus's one slot is free again after vfio_ap_unrealize; a new vfio_ap_realize
    opens the mdev and the guest (QEMU 10.1) sees the queues again."""
    r = run(["{at: 100ms, do: qemu.device_del, guest: g1, expect: ok}",
             f"{{at: 102ms, do: qemu.device_add, guest: g1, mdev: {UUID_A}, id: ap1, expect: ok}}",
             "{at: 105ms, do: guest.lszcrypt, guest: g1, expect: [\"05 CEX5C\", \"05.0004 CEX5C\"]}",
             "{at: 106ms, do: qemu.device_del, guest: g1, id: ap1, expect: ok}"], g1_mdev=UUID_A)
    assert all(e.passed for e in r.timeline.entries if e.expected is not None), \
        [(e.do, e.outcome, e.detail) for e in r.timeline.entries]
