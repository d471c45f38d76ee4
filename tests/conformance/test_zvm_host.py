"""A host Linux running as a z/VM guest (``host.hypervisor: zvm``): the AP bus polls at
z/VM's rate, without AP interruptions it polls every reply, without QCI it probes ids
0..63 / 0..15 with TAPQ, and KVM (so vfio_ap passthrough to guests) is not available."""

from __future__ import annotations

import json

import pytest

from apsim.errors import ScenarioError
from apsim.scenario.loader import parse_scenario
from apsim.scenario.run import run_scenario

UUID = "62177883-f1bb-47f0-914d-32a22e3a8804"
BUS = "/sys/bus/ap"

SCENARIO = """
name: zvm-host
duration: 20ms
machine: {{model: z16, adapters: [{{id: 5, type: CEX8C}}, {{id: 0x45, type: CEX8A}}]}}
lpar: {{adapters: [5, 0x45], usage_domains: [4, 20]}}
host: {host}
timeline:
{timeline}
"""


def run(host: str, timeline: list[str]):  # noqa: ANN201
    r = run_scenario(parse_scenario(SCENARIO.format(host=host, timeline="\n".join(f"  - {t}" for t in timeline))))
    checked = [e for e in r.timeline.entries if e.passed is not None]
    assert checked and all(e.passed for e in checked), [(e.do, e.args, e.expected, e.actual) for e in checked
                                                         if not e.passed]
    return r


def read(path: str, text: str, at: str = "1ms") -> str:
    return f"{{at: {at}, do: sysfs.read, path: {path}, expect: {json.dumps(text)}}}"


def test_without_qci_the_bus_probes_adapters_0_63_and_domains_0_15_with_tapq():
    """ap_bus.c ap_init_qci_info ("QCI not supported" when !ap_qci_available, facility 12)
    leaves ap_max_adapter_id 63 and ap_max_domain_id 15; ap_test_config_card_id and
    ap_test_config_usage_domain then count every id as configured, so ap_scan_adapter
    probes them with TAPQ: adapter 0x45 and domain 20 stay invisible, the QCI masks read
    "not supported"."""
    r = run("{hypervisor: zvm}", [
        read(f"{BUS}/ap_max_adapter_id", "63\n"), read(f"{BUS}/ap_max_domain_id", "15\n"),
        read(f"{BUS}/ap_adapter_mask", "not supported\n"),
        "{at: 1ms, do: host.lszcrypt, expect: ['05 CEX8C', '05.0004 CEX8C']}",
        "{at: 1ms, do: host.dmesg, dbf: true, expect: ['QCI not supported']}",
    ])
    assert sorted(r.sim.host.bus.queues) == [0x0504]


def test_without_ap_interrupts_the_bus_polls_at_the_zvm_rate():
    """ap_bus.c ap_module_init: interrupts only with facility 65 (ap_interrupts_available),
    and MACHINE_IS_VM sets poll_high_timeout to 1500000 ns; ap_interrupts reads 0."""
    r = run("{hypervisor: zvm}", [read(f"{BUS}/ap_interrupts", "0\n"), read(f"{BUS}/poll_timeout", "1500000\n")])
    assert r.sim.host.bus.irq_flag is False and r.sim.host.zvm


def test_zvm_offering_qci_and_interrupts_keeps_the_zvm_poll_rate():
    """With facility 12 the bus reads QCI (Na/Nd, masks) and with facility 65 it registers
    the adapter interrupt (ap_irq_flag); the poll period stays z/VM's (MACHINE_IS_VM)."""
    run("{hypervisor: zvm, zvm: {qci: true, ap_interrupts: true}}", [
        read(f"{BUS}/ap_interrupts", "1\n"), read(f"{BUS}/poll_timeout", "1500000\n"),
        read(f"{BUS}/ap_max_domain_id", "84\n"),
        "{at: 1ms, do: host.lszcrypt, expect: ['05 CEX8C', '05.0004 CEX8C', '05.0014 CEX8C', "
        "'45 CEX8A', '45.0004 CEX8A', '45.0014 CEX8A']}",
    ])


@pytest.mark.parametrize("host, poll_thread", [("{hypervisor: zvm}", "1\n"), ("{}", "0\n")])
def test_the_poll_thread_starts_only_without_interrupts(host, poll_thread):
    """ap_bus.c ap_poll_thread_start returns 0 without a thread when ap_irq_flag is set,
    so writing 1 to poll_thread shows 1 only on a polling (z/VM) bus."""
    run(host, ["{at: 1ms, do: sysfs.write, path: /sys/bus/ap/poll_thread, value: '1'}",
               read(f"{BUS}/poll_thread", poll_thread, at="2ms")])


def test_ap_poll_thread_and_useirq_kernel_parameters():
    """ap_bus.c module parameters poll_thread (ap_thread_flag → ap_poll_thread_start at
    init) and useirq (0: no adapter interrupt even with facility 65)."""
    run("{cmdline: 'ap.useirq=0 ap.poll_thread=1'}",
        [read(f"{BUS}/ap_interrupts", "0\n"), read(f"{BUS}/poll_thread", "1\n")])


def test_guests_under_a_zvm_host_are_a_located_error():
    """arch/s390/kvm/kvm-s390.c kvm_s390_init: without SIEF2 ("SIE is not available") KVM
    does not load, so no QEMU guest can use a vfio_ap mdev."""
    text = SCENARIO.format(host="{hypervisor: zvm, apmask: '-5'}", timeline="  []").replace(
        "timeline:\n  []", f"mdevs: [{{uuid: {UUID}, assign_adapter: [5], assign_domain: [4]}}]\n"
                           f"guests: [{{name: g1, mdev: {UUID}}}]\ntimeline: []")
    with pytest.raises((ScenarioError, ValueError)) as e:
        parse_scenario(text)
    assert "guests[0]" in str(e.value) and "SIE is not available" in str(e.value)


@pytest.mark.parametrize("host, where", [
    ("{hypervisor: zvm, poll: lpar}", "host.poll"),
    ("{zvm: {qci: true}}", "host.zvm"),
])
def test_contradicting_zvm_keys_are_located_errors(host, where):
    """MACHINE_IS_VM fixes the poll rate at init (ap_module_init); zvm: facilities need a z/VM host."""
    with pytest.raises((ScenarioError, ValueError)) as e:
        parse_scenario(SCENARIO.format(host=host, timeline="  []").replace("timeline:\n  []", "timeline: []"))
    assert where in str(e.value)
