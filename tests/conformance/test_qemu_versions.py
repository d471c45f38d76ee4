"""QEMU versions (apsim.guest.qemu): whether the guest hears of a new APCB at once."""

from __future__ import annotations

import pytest

from apsim.guest.qemu import parse_qemu_version
from apsim.scenario.loader import parse_scenario
from apsim.scenario.run import run_scenario

SCENARIO = """
name: qemu-cfg-change
duration: 120ms
qemu: "{qemu}"
machine: {{model: z15, adapters: [{{id: 5, type: CEX5C}}]}}
lpar: {{adapters: [5], usage_domains: [4, 5]}}
host: {{apmask: "-5"}}
mdevs: [{{uuid: 62177883-f1bb-47f0-914d-32a22e3a8804, assign_adapter: [5], assign_domain: [4]}}]
guests: [{{name: g1, mdev: 62177883-f1bb-47f0-914d-32a22e3a8804}}]
timeline:
  - {{at: 100ms, do: sysfs.write, value: "5\\n",
     path: /sys/devices/vfio_ap/matrix/62177883-f1bb-47f0-914d-32a22e3a8804/assign_domain}}
  - {{at: 105ms, do: guest.lszcrypt, guest: g1, expect: {rows}}}
"""


@pytest.mark.parametrize("qemu, rows", [
    ("10.1", '["05 CEX5C", "05.0004 CEX5C", "05.0005 CEX5C"]'),
    ("9.2", '["05 CEX5C", "05.0004 CEX5C"]')])
def test_only_qemu_10_1_relays_the_config_change_so_the_guest_rescans_at_once(qemu, rows):
    """QEMU hw/vfio/ap.c vfio_ap_cfg_chg_notifier_handler (10.1) queues an AP config-change
    event for CHSC SEI; the guest's ap_bus_cfg_chg forces a rescan. vfio_ap signals the
    eventfd from vfio_ap_mdev_update_guest_apcb when assign_domain hot plugs domain 5.
    An older QEMU registers no such handler: the guest keeps its view until its scan."""
    r = run_scenario(parse_scenario(SCENARIO.format(qemu=qemu, rows=rows)))
    last = r.timeline.entries[-1]
    assert last.do == "guest.lszcrypt" and last.passed, (last.expected, last.detail)


@pytest.mark.parametrize("text", ["10", "2.11", "11.0", "x.y"])
def test_a_qemu_version_without_vfio_ap_or_unknown_is_refused(text):
    with pytest.raises(ValueError):
        parse_qemu_version(text)
