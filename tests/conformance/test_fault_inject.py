"""Error and rollback paths of vfio_ap, the AP bus and zcrypt that ``fault.inject`` reaches.

Each case arms a fault in a small scenario (two CEX5C adapters, guest g1 on 05.0004
through vfio_ap) and checks what the kernel function named in its docstring does.

Times follow the guest's boot (apsim/guest/boot.py): QEMU's machine reset ends at
40 ms (VFIO_DEVICE_RESET waits out the host's own reset of 05.0004), the guest's Linux
is up after the 10 ms default boot, at :data:`LINUX_UP_NS` (its AP bus's initial
scan), and its queue has settled (``guest.ready``) at :data:`READY_NS`. Faults meant
for a running guest are armed after that.
"""

from __future__ import annotations

import pytest

from apsim.errors import ScenarioError
from apsim.engine.codes import RC
from apsim.report.json_report import build_report
from apsim.scenario.loader import parse_scenario
from apsim.scenario.run import run_scenario

UUID_A = "62177883-f1bb-47f0-914d-32a22e3a8804"

SCENARIO = """
name: faults
duration: {duration}
kernel: "{kernel}"
machine: {{model: z15, adapters: [{{id: 5, type: CEX5C}}, {{id: 6, type: CEX5C}}]}}
lpar: {{adapters: [5, 6], usage_domains: [4]}}
host: {{apmask: "-5"}}
mdevs:
  - {{uuid: {a}, assign_adapter: [5], assign_domain: [4]}}
guests:
  - {{name: g1, mdev: {a}{workload}}}
timeline:
{timeline}
"""
CLOSED = ", workload: {kind: closed, concurrency: 4, mix: {rsa2048: 1.0}}"
LINUX_UP_NS = 50_000_000
"""g1's AP bus init: machine reset (40 ms) + DEFAULT_BOOT_NS (10 ms)."""
READY_NS = 90_000_000
"""g1's guest.ready: its queue's RAPQ verified at the 40 ms low poll rate after the scan."""


def run(timeline: list[str], *, kernel: str = "6.19", workload: str = "", duration: str = "150ms"):
    text = SCENARIO.format(kernel=kernel, a=UUID_A, workload=workload, duration=duration,
                           timeline="\n".join(f"  - {t}" for t in timeline))
    return run_scenario(parse_scenario(text))


def entries(r, do: str):
    return [e for e in r.timeline.entries if e.do == do]


def vfio_queue(r, apqn: int = 0x0504):
    return r.sim.host.vfio.queues[apqn]


def dbf(r) -> list[str]:
    return r.sim.host.klog.lines(include_dbf=True)


# --- vfio_ap's AQIC enable ------------------------------------------------------------------
def test_a_nib_pin_failure_refuses_the_guests_aqic_with_rc_06_and_holds_nothing():
    """vfio_ap_ops.c vfio_ap_irq_enable: when vfio_pin_pages does not pin the NIB page
    the guest's status word carries only RC 0x06 (AP_RESPONSE_INVALID_ADDRESS), an
    s390dbf warning names the rc, the NIB and the APQN, and no AQIC reaches the queue.
    The next enable (count: 1 used up) pins, registers and issues the AQIC, which answers
    0x07 because the guest's AP bus enabled interruptions at boot: the case
    AP_RESPONSE_OTHERWISE_CHANGED unregisters the ISC and unpins the page again."""
    r = run(["{at: 100ms, do: fault.inject, kind: nib_pin, guest: g1, count: 1}",
             '{at: 101ms, do: guest.instruction, guest: g1, op: AQIC, apqn: "05.0004", enable: true, '
             "expect: {cc: 3, rc: 0x06, irq_enabled: false, queue_empty: false}}",
             '{at: 102ms, do: guest.instruction, guest: g1, op: AQIC, apqn: "05.0004", enable: true, '
             "expect: {cc: 3, rc: 0x07, irq_enabled: true}}"])
    assert r.sim.ready_ns["g1"] == READY_NS                  # the boot-time enable came first
    first, second = entries(r, "guest.instruction")
    assert first.passed, (first.expected, first.actual)
    assert second.passed, (second.expected, second.actual)
    assert any("vfio_ap_irq_enable: vfio_pin_pages failed: rc=-14,nib=0x" in line
               and "apqn=0x0504" in line for line in dbf(r))
    q = vfio_queue(r)
    assert (q.nib_pins, q.gisc_refs) == (1, 1)               # only the boot-time enable holds
    assert r.sim.machine.faults.faults[0].fired == 1


@pytest.mark.parametrize("kernel, rc, leaked", [("6.19", 0x06, 0), ("6.6", 0x08, 1)])
def test_a_gisc_registration_failure_answers_by_kernel_version_and_rolls_back_the_pin(kernel, rc, leaked):
    """vfio_ap_ops.c vfio_ap_irq_enable: kvm_s390_gisc_register < 0 → s390dbf "gisc
    registration failed: nisc=…"; since commits 7b2d039da622 / 3746d48c55ac (6.8) the NIB
    page is unpinned and the guest sees RC 0x06, before the page stayed pinned and the
    guest saw 0x08 (AP_RESPONSE_INVALID_GISA). The saved NIB/ISC of the guest's boot-time
    enable are untouched (no AQIC was issued)."""
    r = run(["{at: 100ms, do: fault.inject, kind: gisc, apqns: [\"05.0004\"]}",
             '{at: 101ms, do: guest.instruction, guest: g1, op: AQIC, apqn: "05.0004", enable: true, '
             f"isc: 3, expect: {{cc: 3, rc: {rc}}}}}"], kernel=kernel)
    e = entries(r, "guest.instruction")[0]
    assert e.passed, (e.expected, e.actual)
    assert any("gisc registration failed: nisc=-19, isc=3, apqn=0x0504" in line for line in dbf(r))
    q = vfio_queue(r)
    assert (q.nib_pins, q.gisc_refs) == (1 + leaked, 1)      # the boot-time enable holds one each
    assert q.saved_isc == 6 and q.saved_nib                  # ... and keeps its settings (AP_ISC 6)


def test_an_aqic_the_hardware_refuses_is_logged_and_the_irq_disabled():
    """vfio_ap_ops.c vfio_ap_irq_enable, default case: ap_aqic's RC (here 0x04 from the
    injected fault) is returned to the guest, pr_warn logs "apqn 0504: response: 04" and
    vfio_ap_irq_disable runs; the NIB page pinned for the attempt and the registered
    ISC stay held (the kernel frees only the saved ones)."""
    r = run(['{at: 100ms, do: fault.inject, apqns: ["05.0004"], instructions: [AQIC], rc: 0x04, '
             "count: 1}",
             '{at: 101ms, do: guest.instruction, guest: g1, op: AQIC, apqn: "05.0004", enable: true, '
             "expect: {cc: 3, rc: 0x04}}"])
    e = entries(r, "guest.instruction")[0]
    assert e.passed, (e.expected, e.actual)
    assert any("vfio_ap_irq_enable: apqn 0504: response: 04" in line for line in r.kernel_log)
    q = vfio_queue(r)
    assert (q.nib_pins, q.gisc_refs) == (1, 1)


# --- SCLP ------------------------------------------------------------------------------------
def test_a_failed_sclp_deconfigure_fails_the_config_write_with_eio_and_logs_the_response():
    """sclp_ap.c do_ap_configure: an SCCB response other than 0x0020/0x0120/0x0440/0x0450
    is logged "configure AP adapter %u failed: cmd=0x%08x response=0x%04x" (the same text
    for deconfigure) and returns -EIO; ap_card.c config_store returns it before changing
    ac->config, so the card stays configured."""
    r = run(["{at: 50ms, do: fault.inject, kind: sclp, adapters: [6], response: 0x05f0, "
             "command: deconfigure}",
             '{at: 51ms, do: sysfs.write, path: /sys/bus/ap/devices/card06/config, value: "0", '
             "expect_errno: EIO}",
             '{at: 52ms, do: sysfs.read, path: /sys/bus/ap/devices/card06/config, expect: "1\\n"}',
             "{at: 53ms, do: host.dmesg, expect: "
             "['configure AP adapter 6 failed: cmd=0x001e0601 response=0x05f0']}"])
    assert all(e.passed for e in r.timeline.entries if e.passed is not None), \
        [(e.do, e.outcome, e.detail) for e in r.timeline.entries if e.passed is False]
    assert 6 in r.sim.lpar.online
    f = r.sim.machine.faults.faults[0]
    assert (f.fired, f.firings[0]["what"]) == (1, "sclp deconfigure")


def test_an_sclp_fault_for_one_command_leaves_the_other_working():
    """sclp_ap.c sclp_ap_configure / sclp_ap_deconfigure issue different command words;
    a fault on configure does not touch a deconfigure."""
    r = run(["{at: 50ms, do: fault.inject, kind: sclp, response: 0x05f0, command: configure}",
             '{at: 51ms, do: sysfs.write, path: /sys/bus/ap/devices/card06/config, value: "0"}',
             '{at: 52ms, do: sysfs.write, path: /sys/bus/ap/devices/card06/config, value: "1", '
             "expect_errno: EIO}"])
    assert all(e.passed for e in r.timeline.entries if e.passed is not None)
    assert 6 not in r.sim.lpar.online


# --- zcrypt's request path -------------------------------------------------------------------
@pytest.mark.parametrize("rc", [RC.CHECKSTOPPED, RC.DECONFIGURED])
def test_zcrypt_retires_a_queue_whose_nqap_answers_checkstopped_or_deconfigured(rc):
    """ap_queue.c ap_sm_write: an NQAP answered 0x04 or 0x03 (not 0x00/0x02/0x05/0x10)
    puts the queue in AP_DEV_STATE_ERROR with last_err_rc; zcrypt sends nothing more to
    it until the next bus scan. The rejected request is counted, the books balance."""
    r = run([f'{{at: 100ms, do: fault.inject, apqns: ["05.0004"], instructions: [NQAP], rc: {int(rc)}, '
             "duration: 5ms}"], workload=CLOSED, duration="150ms")
    g = r.guests["g1"]
    assert g["retired"] == ["05.0004"]
    assert g["last_rejections"][-1]["rc"].startswith(f"0x{int(rc):02x}")
    led = r.ledger
    assert led.rejected[int(rc)] == 1
    assert led.submitted == led.completed + sum(led.rejected.values()) + sum(led.dropped.values()) \
        + led.in_flight
    assert r.sim.machine.faults.faults[0].fired == 1


def test_an_nqap_busy_window_retires_the_queue_without_losing_a_request():
    """ap_queue.c ap_sm_write: RC 0x05 on NQAP has no case of its own; the ``default:``
    branch puts the queue in AP_DEV_STATE_ERROR, so zcrypt stops at the first refusal
    and the queue waits for the next bus scan (tests/conformance/test_zcrypt_error_state.py
    follows it to the re-init). The refusal is counted as rejected 0x05, the books balance."""
    r = run(["{at: 100ms, do: fault.inject, kind: busy, adapters: [5], instructions: [NQAP], "
             "duration: 3ms}"], workload=CLOSED, duration="150ms")
    f = r.sim.machine.faults.faults[0]
    assert f.fired == 1 and {x["what"] for x in f.firings} == {"NQAP"}
    led = r.ledger
    assert led.rejected[0x05] == f.fired
    assert led.submitted == led.completed + sum(led.rejected.values()) + sum(led.dropped.values()) \
        + led.in_flight
    assert r.guests["g1"]["retired"] == ["05.0004"]
    assert not [t for t in r.recorder.arrays()["t_deq"].tolist() if t > 103_000_000]
    assert r.sim.machine.adapters[5].queues[4]._fault is None   # unhooked at the window's end


def test_a_dqap_busy_window_keeps_the_replies_queued():
    """ap_queue.c ap_sm_recv: a DQAP answered 0x05 dequeues nothing, so the replies stay
    on the queue (the books count them in flight, none is lost)."""
    r = run(["{at: 45ms, do: fault.inject, kind: busy, adapters: [5], instructions: [DQAP]}"],
            workload=CLOSED)
    f = r.sim.machine.faults.faults[0]
    assert f.fired >= 1 and {x["what"] for x in f.firings} == {"DQAP"}
    q = r.sim.machine.adapters[5].queues[4]
    led = r.ledger
    assert led.in_flight == q.count > 0
    assert led.submitted == led.completed + sum(led.rejected.values()) + sum(led.dropped.values()) \
        + led.in_flight


# --- the AP bus scan ---------------------------------------------------------------------------
def test_a_tapq_answering_reset_in_progress_during_the_guests_bus_scan_delays_its_queue():
    """ap_bus.c ap_scan_domains → ap_queue_info: a TAPQ answered 0x02 still yields the
    queue device (its GR2 facility word is stored), and ap_queue.c's state machine
    (ap_sm_reset_wait) polls until the reset ends; the guest's queue becomes usable only
    after the fault's window. The guest's boot scan runs at LINUX_UP_NS (after QEMU's
    machine reset, whose verifying TAPQs are the host's and do not meet a guest-filtered
    fault); a fault armed at 0 for 80 ms past the scan meets it."""
    r = run(['{at: 0ms, do: fault.inject, apqns: ["05.0004"], instructions: [TAPQ], '
             "rc: RESET_IN_PROGRESS, guest: g1, duration: 130ms}"], workload=CLOSED, duration="200ms")
    f = r.sim.machine.faults.faults[0]
    assert (LINUX_UP_NS, "boot") in r.sim.guests["g1"].events
    assert f.firings[0]["t_ns"] == LINUX_UP_NS                  # the guest's initial scan
    assert all(x["where"] == "05.0004" for x in f.firings)
    assert r.guests["g1"]["apqns"] == ["05.0004"]
    first_done = min(r.recorder.arrays()["t_deq"].tolist())
    assert first_done > 130_000_000
    assert r.sim.ready_ns["g1"] >= 130_000_000                # its AP bus was ready only after it


def test_a_fault_at_zero_meets_the_hosts_initial_bus_scan():
    """ap_bus.c ap_scan_bus at module init: a TAPQ answered 0x02 creates the queue device,
    whose reset attribute (ap_queue.c reset_show) reads "Reset in progress." until the
    state machine's TAPQ sees the reset end after the window."""
    r = run(['{at: 0ms, do: fault.inject, apqns: ["06.0004"], instructions: [TAPQ], '
             "rc: RESET_IN_PROGRESS, duration: 80ms}",
             '{at: 1ms, do: sysfs.read, path: /sys/bus/ap/devices/06.0004/reset, '
             'expect: "Reset in progress.\\n"}',
             '{at: 90ms, do: sysfs.read, path: /sys/bus/ap/devices/06.0004/reset, '
             'expect: "No Reset Timer set.\\n"}'])
    reads = entries(r, "sysfs.read")
    assert all(e.passed for e in reads), [(e.expected, e.actual) for e in reads]
    assert r.sim.machine.faults.faults[0].firings[0]["t_ns"] == 0
    assert entries(r, "fault.inject")[0].at_ns == 0


def test_a_guest_filtered_tapq_fault_leaves_the_hosts_own_tapq_alone():
    """vfio_ap_ops.c vfio_ap_mdev_reset_queue / the host's TAPQ run in the LPAR's own
    configuration, not the guest's: a fault limited to g1 does not answer them."""
    r = run(['{at: 50ms, do: fault.inject, apqns: ["05.0004"], instructions: [TAPQ], rc: 0x02, '
             "guest: g1}",
             '{at: 51ms, do: guest.instruction, guest: g1, op: TAPQ, apqn: "05.0004", '
             "expect: {rc: 0x02}}"])
    assert entries(r, "guest.instruction")[0].passed
    host_tapq = r.sim.host.cpu.tapq(0x0504)
    assert host_tapq.rc == 0


# --- configuration-change events --------------------------------------------------------------
def test_a_delayed_chsc_event_makes_the_guest_see_a_hot_plugged_device_later():
    """QEMU hw/vfio/ap.c vfio_ap_cfg_chg_notifier_handler queues a CHSC event; the guest's
    css_process_crw → ap_bus_cfg_chg rescans when it arrives. Delayed by 10 ms, the
    guest lists no queue 5 ms after device_add and lists it after the delay."""
    r = run(["{at: 90ms, do: qemu.device_del, guest: g1}",
             "{at: 95ms, do: fault.inject, kind: chsc_delay, guest: g1, delay: 10ms}",
             f"{{at: 100ms, do: qemu.device_add, guest: g1, mdev: {UUID_A}, expect: ok}}",
             "{at: 105ms, do: guest.lszcrypt, guest: g1, expect: []}",
             '{at: 115ms, do: guest.lszcrypt, guest: g1, expect: ["05 CEX5C", "05.0004 CEX5C"]}'])
    early, late = entries(r, "guest.lszcrypt")
    assert early.passed, (early.expected, early.actual)
    assert late.passed, (late.expected, late.actual)
    f = r.sim.machine.faults.faults[0]
    assert [x["where"] for x in f.firings] == ["guest:g1"]


# --- reports and errors ----------------------------------------------------------------------
def test_the_report_lists_each_fault_with_its_firings():
    """What was injected and each time it fired is in the report's faults block."""
    r = run(['{at: 100ms, do: fault.inject, apqns: ["05.0004"], instructions: [TAPQ], rc: 0x99, '
             "count: 2}",
             '{at: 101ms, do: guest.instruction, guest: g1, op: TAPQ, apqn: "05.0004", expect: {rc: 0x99}}',
             '{at: 102ms, do: guest.instruction, guest: g1, op: TAPQ, apqn: "05.0004", expect: {rc: 0x99}}',
             '{at: 103ms, do: guest.instruction, guest: g1, op: TAPQ, apqn: "05.0004", expect: {rc: 0}}'])
    assert all(e.passed for e in entries(r, "guest.instruction"))
    block = build_report(r)["faults"]
    assert [(b["fired"], b["count"], b["kind"]) for b in block] == [(2, 2, "response")]
    assert [x["at"] for x in block[0]["firings"]] == ["101ms", "102ms"]
    assert "answer 0x99" in entries(r, "fault.inject")[0].detail


def test_a_run_without_faults_has_no_faults_block():
    """Reports of runs without fault.inject keep their shape."""
    r = run(["{at: 50ms, do: guest.lszcrypt, guest: g1}"])
    assert "faults" not in build_report(r)
    assert r.sim.machine.faults is None


@pytest.mark.parametrize("action, message", [
    ('{at: 1ms, do: fault.inject, apqns: ["05.0004"], instructions: [NQAB], rc: 4}', "instructions[0]"),
    ('{at: 1ms, do: fault.inject, apqns: ["05.0004"], instructions: [NQAP], rc: BOGUS}', "not a response code"),
    ('{at: 1ms, do: fault.inject, apqns: ["09.0004"], instructions: [NQAP], rc: 4}', "not installed"),
    ("{at: 1ms, do: fault.inject, kind: gisc, errno: ENOPE}", "unknown errno name"),
    ("{at: 1ms, do: fault.inject, kind: busy, adapters: [5], rc: 3}", "applies only to kind response"),
])
def test_unknown_names_in_a_fault_are_located_errors(action, message):
    """A misspelt instruction, response code or errno, or an APQN of a missing adapter,
    stops the load with the file and line (exit 2 in the CLI), never a silent no-op."""
    with pytest.raises(ScenarioError) as ei:
        run([action])
    text = str(ei.value)
    assert text.startswith("<scenario>:13: timeline[0]") and message in text, text
