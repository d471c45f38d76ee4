"""Adapters older than CEX4 in the machine: QCI and TAPQ see them, the AP bus makes no
card or queue device for them (so lszcrypt does not list them and vfio_ap has no queue
to pass through), and the scenario refuses combinations that never existed."""

from __future__ import annotations

import pytest

from apsim.errors import ScenarioError
from apsim.hw.cards import CardSpec, CardType, Mode, decode_hwinfo
from apsim.ids import apqn
from apsim.scenario.loader import parse_scenario
from apsim.scenario.run import run_scenario

UUID = "62177883-f1bb-47f0-914d-32a22e3a8804"

SCENARIO = f"""
name: pre-cex4
duration: 100ms
machine:
  model: z15
  adapters: [{{id: 2, type: CEX2A}}, {{id: 3, type: CEX3C}}, {{id: 5, type: CEX5C}}]
lpar: {{adapters: [2, 3, 5], usage_domains: [4]}}
host: {{apmask: "-3,-5"}}
mdevs: [{{uuid: {UUID}, assign_adapter: [3, 5], assign_domain: [4]}}]
guests: [{{name: g1, mdev: {UUID}}}]
timeline:
  - {{at: 1ms, do: sysfs.read, path: /sys/bus/ap/ap_adapter_mask,
     expect: "0x3400000000000000000000000000000000000000000000000000000000000000\\n"}}
  - {{at: 1ms, do: sysfs.read, path: /sys/devices/ap/card03/hwtype, expect_errno: ENOENT}}
  - {{at: 1ms, do: sysfs.read, path: /sys/devices/ap/card02/hwtype, expect_errno: ENOENT}}
  - {{at: 1ms, do: host.lszcrypt, expect: ["05 CEX5C"]}}
  - {{at: 1ms, do: host.dmesg, dbf: true,
     expect: ["ap_get_compatible_type queue=02.0004 unsupported type 6",
              "ap_scan_adapter\\\\(2\\\\) type 6, can't get compatibility type",
              "ap_get_compatible_type queue=03.0004 unsupported type 9",
              "ap_scan_adapter\\\\(3\\\\) type 9, can't get compatibility type"]}}
  - {{at: 1ms, do: sysfs.read, path: /sys/devices/vfio_ap/matrix/{UUID}/matrix, expect: "03.0004\\n05.0004\\n"}}
  - {{at: 1ms, do: sysfs.read, path: /sys/devices/vfio_ap/matrix/{UUID}/guest_matrix, expect: "05.0004\\n"}}
  - {{at: 95ms, do: guest.instruction, guest: g1, op: TAPQ, apqn: "03.0004", expect: {{cc: 3, rc: 0x01}}}}
  - {{at: 95ms, do: guest.lszcrypt, guest: g1, expect: ["05 CEX5C", "05.0004 CEX5C"]}}
"""


@pytest.fixture(scope="module")
def result():  # noqa: ANN201
    return run_scenario(parse_scenario(SCENARIO))


def test_the_ap_bus_makes_no_device_for_types_below_cex4_and_says_so_in_its_debug_log(result):
    """drivers/s390/crypto/ap_bus.c ap_get_compatible_type: "< CEX4 is not supported",
    AP_DBF_WARN "%s queue=%02x.%04x unsupported type %d" and 0; ap_scan_adapter then
    logs "%s(%d) type %d, can't get compatibility type" and creates no card device (so
    no queue devices either, and lszcrypt, which lists /sys/devices/ap, shows none).
    QCI still reports the adapters (ap_adapter_mask)."""
    failed = [(e.do, e.args, e.expected, e.actual) for e in result.timeline.entries
              if e.passed is False and e.at_ns < 10_000_000]
    assert not failed
    bus = result.sim.host.bus
    assert sorted(bus.cards) == [5] and all(q >> 8 == 5 for q in bus.queues)


def test_vfio_ap_cannot_pass_a_pre_cex4_queue_to_a_guest(result):
    """drivers/s390/crypto/vfio_ap_ops.c vfio_ap_mdev_filter_matrix keeps an APQN in the
    guest's APCB only when its queue device is bound to vfio_ap; with no queue device for
    adapter 3 (ap_scan_adapter) the assignment stays in matrix but never reaches the
    guest: its TAPQ of 03.0004 answers RC 0x01 (APQN not in its configuration) and its
    lszcrypt shows adapter 5 only."""
    ready = result.sim.ready_ns["g1"]  # 90 ms: VFIO_DEVICE_RESET 40 ms, boot 10 ms, first queue settled
    late = [e for e in result.timeline.entries if e.at_ns >= ready and e.passed is not None]
    assert late and all(e.passed for e in late), [(e.do, e.expected, e.actual) for e in late]


def test_tapq_on_the_lpar_reports_the_old_ap_type_and_mode(result):
    """TAPQ (T=1) GR2 on the LPAR: AP type 9 (AP_DEVICE_TYPE_CEX3C) with the CCA mode
    bit for the CEX3C, 6 (CEX2A) with the accelerator bit; these are the hwinfo.at values
    ap_scan_adapter hands to ap_get_compatible_type."""
    cpu = result.sim.host.cpu
    c3 = decode_hwinfo(cpu.tapq(apqn(3, 4), t=True).gr2)
    c2 = decode_hwinfo(cpu.tapq(apqn(2, 4), t=True).gr2)
    assert (c3["at"], c3["cca"], c3["accel"]) == (9, True, False)
    assert (c2["at"], c2["cca"], c2["accel"]) == (6, False, True)


@pytest.mark.parametrize("card_type, mode, at", [
    (CardType.CEX2, Mode.ACCELERATOR, 6), (CardType.CEX2, Mode.CCA, 7),
    (CardType.CEX3, Mode.ACCELERATOR, 8), (CardType.CEX3, Mode.CCA, 9)])
def test_pre_cex4_ap_types_follow_the_mode(card_type, mode, at):
    """drivers/s390/crypto/ap_bus.h: AP_DEVICE_TYPE_CEX2A 6, CEX2C 7, CEX3A 8, CEX3C 9."""
    assert CardSpec(card_type, mode).ap_type == at


@pytest.mark.parametrize("adapter, rule", [
    ("{id: 3, type: CEX3P}", "EP11 came with CEX4P"),
    ("{id: 3, type: CEX2, mode: ep11}", "EP11 came with CEX4P"),
    ("{id: 3, type: CEX3C, serialnr: 93AABEHR}", "no card device"),
])
def test_combinations_that_never_existed_are_located_errors(adapter, rule):
    """CEX2/CEX3 ran as accelerator or CCA coprocessor only (AP types 6-9 in ap_bus.h, no
    EP11 type before CEX4P); with no card device (ap_scan_adapter) there is no serialnr."""
    text = SCENARIO.replace("{id: 3, type: CEX3C}", adapter)
    with pytest.raises((ScenarioError, ValueError)) as e:
        parse_scenario(text)
    assert rule in str(e.value) and "machine.adapters[1]" in str(e.value)


def test_an_lpar_workload_leaves_pre_cex4_queues_alone():
    """zcrypt sends requests only to queue devices (zcrypt_api.c picks among
    zcrypt_queue objects), which ap_scan_adapter never creates for types below CEX4:
    another LPAR's load uses its CEX5C only."""
    text = SCENARIO.replace("guests: [{name: g1, mdev: " + UUID + "}]", "guests: []").split("timeline:")[0]
    text = text.replace("lpar: {adapters: [2, 3, 5], usage_domains: [4]}",
                        "lpar: {adapters: [2, 3, 5], usage_domains: [4]}\n"
                        "other_lpars: [{name: lp2, adapters: [3, 5], usage_domains: [6],\n"
                        "  workload: {kind: closed, concurrency: 4}}]")
    r = run_scenario(parse_scenario(text + "timeline: []\n"))
    wl = r.sim.other_workloads[0]
    assert wl.completed > 0 and wl.targets == [apqn(5, 6)]
