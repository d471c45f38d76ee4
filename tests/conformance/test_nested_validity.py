"""Nested validity intercepts in a scenario: a guest-1 hypervisor that writes a bad CRYCB
designation for its guest-2 (the ``crycb:`` key) makes the vSIE end in a validity
intercept with vsie.c's code; the guest-2 never runs, guest-1's KVM warns once, and
the timeline shows the code where an expectation can check it."""

from __future__ import annotations

import pytest

from apsim.errors import ScenarioError
from apsim.scenario.loader import parse_scenario
from apsim.scenario.run import run_scenario

UUID_1 = "62177883-f1bb-47f0-914d-32a22e3a8804"
UUID_2 = "9f4c1e2a-7b3d-4c5e-8f60-1a2b3c4d5e6f"

# guest1's Linux is up at 50 ms (VFIO_DEVICE_RESET 40 ms + boot 10 ms, apsim/guest/boot.py):
# its nested guest2 (start: 1ms) starts then; a guest2 that runs boots the same way
# (Linux at 100 ms, guest.ready at 140 ms), inside the 150 ms.
SCENARIO = """
name: nested-validity
duration: 150ms
machine: {{model: z16, adapters: [{{id: 5, type: CEX8C}}]}}
lpar: {{adapters: [5], usage_domains: [4]}}
host: {{apmask: "-5"}}
mdevs: [{{uuid: {u1}, assign_adapter: [5], assign_domain: [4]}}]
guests:
  - name: guest1
    mdev: {u1}
    host: {{apmask: "-5"}}
    mdevs: [{{uuid: {u2}, assign_adapter: [5], assign_domain: [4]}}]
    guests:
      - {{name: guest2, mdev: {u2}, start: 1ms{crycb}}}
timeline:
{timeline}
"""


def run(crycb: str = "", timeline: tuple[str, ...] = ()):  # noqa: ANN201
    text = SCENARIO.format(u1=UUID_1, u2=UUID_2, crycb=f", crycb: {crycb}" if crycb else "",
                           timeline="\n".join(f"  - {t}" for t in timeline) or "  []")
    if not timeline:
        text = text.replace("timeline:\n  []", "timeline: []")
    return run_scenario(parse_scenario(text))


def start_of(r, guest: str):  # noqa: ANN001, ANN201
    return next(e for e in r.timeline.entries if e.do == "guest.start" and e.args.get("guest") == guest)


@pytest.mark.parametrize("crycb, code", [
    ("{address: 0, expect_validity: 0x0039}", 0x0039),
    ("{address: 0x1ff0, format: 1, expect_validity: 0x003c}", 0x003C),
    ("{address: 0x1f80, format: 2, expect_validity: 0x003c}", 0x003C),
    ("{address: 0x100000, format: undefined, expect_validity: 0x0022}", 0x0022),
])
def test_a_bad_crycb_designation_ends_the_guest2_start_in_vsies_validity_code(crycb, code):
    """arch/s390/kvm/vsie.c shadow_crycb: CRYCB origin 0 → set_validity_icpt 0x0039; a
    format-1 CRYCB whose 128 bytes cross a page → 0x003C; setup_apcb: a format-2 CRYCB
    crossing a page with its 256 bytes → 0x003C (-EACCES), the undefined format bits
    0b10 → 0x0022 (-EINVAL). The expectation on the start passes with that code."""
    r = run(crycb)
    entry = start_of(r, "guest2")
    assert entry.outcome == f"validity 0x{code:04x}"
    assert entry.passed is True, (entry.expected, entry.actual)


def test_the_guest2_does_not_run_and_guest1s_kvm_warns_once():
    """arch/s390/kvm/intercept.c handle_validity: WARN_ONCE("kvm: unhandled validity
    intercept 0x%x") in guest-1's KVM and -EINVAL from KVM_RUN; QEMU's kvm_cpu_exec then
    stops the VM (RUN_STATE_INTERNAL_ERROR): guest-2's Linux never boots, its device
    stays open until the guest is stopped."""
    r = run("{address: 0, expect_validity: 0x39}", timeline=(
        "{at: 55ms, do: guest.dmesg, guest: guest1, expect: ['kvm: unhandled validity intercept 0x39$']}",
        "{at: 56ms, do: guest.start, guest: guest2}",
        "{at: 57ms, do: guest.dmesg, guest: guest1, expect: ['unhandled validity'], absent: ['0x39[\\\\s\\\\S]*0x39']}",
    ))
    g2 = r.sim.guests["guest2"]
    assert g2.linux is None and g2.internal_error is not None and g2.internal_error.code == 0x39
    assert g2.kvm is not None and g2.kvm.mdev == UUID_2  # QEMU keeps the device open
    dmesg = [e for e in r.timeline.entries if e.do == "guest.dmesg"]
    assert all(e.passed for e in dmesg), [(e.expected, e.actual) for e in dmesg]
    assert len(r.sim.hosts["guest1"].klog.grep("unhandled validity intercept")) == 1
    assert r.sim.ready_ns.get("guest2") is None


def test_an_expected_validity_that_does_not_happen_fails_the_expectation():
    """vsie.c shadow_crycb with guest-1 KVM's own (page-aligned, format-2) designation
    shadows without an intercept, so an expected 0x0039 is a failed expectation."""
    entry = start_of(run("{expect_validity: 0x0039}"), "guest2")
    assert entry.outcome == "ok" and entry.passed is False


def test_a_valid_designation_at_another_aligned_address_runs_the_guest2():
    """vsie.c shadow_crycb reads the guest-2 CRYCB wherever guest-1 put it (a page-aligned
    format-2 block neither crosses a page nor is at 0): no intercept, guest-2 runs."""
    r = run("{address: 0x200000, format: 2}")
    entry = start_of(r, "guest2")
    assert entry.outcome == "ok" and entry.passed is not False
    assert r.sim.guests["guest2"].linux is not None


def test_crycb_on_a_first_level_guest_is_a_located_error():
    """Only a guest-1 hypervisor writes a nested guest's designation (vsie.c); a
    first-level guest's CRYCB is built by the host's KVM (kvm_s390_crypto_init)."""
    text = SCENARIO.format(u1=UUID_1, u2=UUID_2, crycb="", timeline="  []").replace("timeline:\n  []", "timeline: []")
    text = text.replace("  - name: guest1\n", "  - name: guest1\n    crycb: {address: 0}\n")
    with pytest.raises((ScenarioError, ValueError)) as e:
        parse_scenario(text)
    assert "guests[0].crycb" in str(e.value) and "first-level guest" in str(e.value)


def test_a_crycb_address_beyond_31_bits_is_refused():
    """vsie.c takes the origin as crycbd & 0x7ffffff8: a designation holds 31 bits."""
    with pytest.raises((ScenarioError, ValueError)) as e:
        run("{address: 0x80000000}")
    assert "31-bit" in str(e.value)
