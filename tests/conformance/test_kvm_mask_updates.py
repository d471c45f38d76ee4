"""``kvm.masks``: the masks vfio_ap last pushed into a guest's CRYCB through KVM
(arch/s390/kvm/kvm-s390.c kvm_arch_crypto_set_masks / kvm_arch_crypto_clear_masks),
and how many pushes there were — the hot plug path seen at the KVM boundary."""

from __future__ import annotations

from apsim.scenario.loader import parse_scenario
from apsim.scenario.run import run_scenario

UUID = "62177883-f1bb-47f0-914d-32a22e3a8804"
MDEV = f"/sys/devices/vfio_ap/matrix/{UUID}"
# g1 is ready at 90 ms (apsim/guest/boot.py: VFIO_DEVICE_RESET 40 ms, boot 10 ms, the AP
# bus's first queue settled 40 ms later); hot plug is tested on the running guest after it.
SCENARIO = f"""
name: kvm-masks
duration: 100ms
machine: {{model: z15, adapters: [{{id: 5, type: CEX5C}}, {{id: 6, type: CEX5C}}]}}
lpar: {{adapters: [5, 6], usage_domains: [4, 5, 0x47], control_domains: [4]}}
host: {{apmask: "-5,-6"}}
mdevs:
  - {{uuid: {UUID}, assign_adapter: [5], assign_domain: [4]}}
guests:
  - {{name: g1, mdev: {UUID}, cpu: {{msax3: {{msax3}}}}}}
timeline:
{{timeline}}
"""


def run(lines: list[str], msax3: str = "true"):  # noqa: ANN201
    text = SCENARIO.replace("{msax3}", msax3).replace("{timeline}", "\n".join(f"  - {x}" for x in lines))
    r = run_scenario(parse_scenario(text))
    return [e for e in r.timeline.entries if e.do == "kvm.masks"]


def test_open_then_every_hot_plug_and_unplug_is_one_set_masks_call():
    """vfio_ap_mdev_set_kvm pushes the filtered matrix once; an assign_adapter /
    assign_control_domain / unassign_domain that changes the guest's APCB pushes it
    again through vfio_ap_mdev_update_guest_apcb; an assignment of a domain the LPAR
    lacks changes nothing (filtered out: no push)."""
    got = run([
        "{at: 91ms, do: kvm.masks, guest: g1, expect: {apm: [5], aqm: [4], adm: [], updates: 1, last: set_masks}}",
        f"{{at: 92ms, do: sysfs.write, path: {MDEV}/assign_adapter, value: '6'}}",
        "{at: 93ms, do: kvm.masks, guest: g1, expect: {apm: [5, 6], aqm: [4], updates: 2}}",
        f"{{at: 94ms, do: sysfs.write, path: {MDEV}/assign_control_domain, value: '4'}}",
        "{at: 95ms, do: kvm.masks, guest: g1, expect: {adm: [4], updates: 3}}",
        f"{{at: 96ms, do: sysfs.write, path: {MDEV}/assign_domain, value: '7'}}",
        "{at: 97ms, do: kvm.masks, guest: g1, expect: {aqm: [4], updates: 3}}",
        f"{{at: 98ms, do: sysfs.write, path: {MDEV}/unassign_adapter, value: '6'}}",
        "{at: 99ms, do: kvm.masks, guest: g1, expect: {apm: [5], updates: 4, last: set_masks}}",
    ])
    assert [e.passed for e in got] == [True] * 5, [(e.expected, e.actual) for e in got]


def test_device_del_clears_the_crycb_and_a_stopped_guest_has_none():
    """QEMU's unplug closes the device: vfio_ap_mdev_unset_kvm → kvm_arch_crypto_clear_masks;
    after guest.stop the VM is gone and the expectation fails saying so."""
    got = run(["{at: 1ms, do: qemu.device_del, guest: g1}",
               "{at: 2ms, do: kvm.masks, guest: g1, expect: {apm: [], aqm: [], adm: [], updates: 2, last: clear_masks}}",
               "{at: 3ms, do: guest.stop, guest: g1}",
               "{at: 4ms, do: kvm.masks, guest: g1, expect: {updates: 2}}"])
    assert got[0].passed, (got[0].expected, got[0].actual)
    assert got[1].passed is False and got[1].actual == {"error": "guest not running"}


def test_a_format_0_crycb_holds_only_what_its_masks_can_hold():
    """kvm_s390_set_crycb_format: without MSAX3 the CRYCB is format 0 (APCB0: 64-bit APM,
    16-bit AQM and ADM); kvm_arch_crypto_set_masks copies into that image, so a domain
    above 15 is not in the guest's CRYCB."""
    got = run([f"{{at: 1ms, do: sysfs.write, path: {MDEV}/assign_domain, value: '0x47'}}",
               "{at: 2ms, do: kvm.masks, guest: g1, expect: {aqm: [4], updates: 2}}",
               f"{{at: 3ms, do: sysfs.write, path: {MDEV}/assign_domain, value: '5'}}",
               "{at: 4ms, do: kvm.masks, guest: g1, expect: {aqm: [4, 5], updates: 3}}"], msax3="false")
    assert [e.passed for e in got] == [True, True], [(e.expected, e.actual) for e in got]
