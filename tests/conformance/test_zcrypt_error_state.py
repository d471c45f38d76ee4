"""zcrypt's AP_DEV_STATE_ERROR path: a response code the driver has no case for.

drivers/s390/crypto/ap_queue.c: ``ap_sm_write`` handles NQAP's 0x00, 0x10 (Q_FULL),
0x02 (RESET_IN_PROGRESS) and the codes that end one message with -EINVAL; any other
code (0x05 BUSY among them) takes its ``default:`` branch, which sets the queue device's
``dev_state`` to ``AP_DEV_STATE_ERROR`` and ``last_err_rc`` and writes an s390dbf warning.
``ap_sm_read`` does the same for a DQAP code other than 0x00/0x10. zcrypt sends nothing
to a queue in that state; ap_bus.c ``ap_scan_domains`` finds it at the next bus scan,
flushes it and re-initializes it with a reset (``ap_queue_init_state``), after which
the queue carries requests again.

The scenario: guest g1 on 05.0004 through vfio_ap with a closed-loop load, the guests'
AP bus rescanning every 5 s (``host.config_time``), a fault at 100 ms (the guest is
ready at ~90 ms), the next scan at ~5.05 s.
"""

from __future__ import annotations

from apsim.linux.devices import DevState
from apsim.scenario.loader import parse_scenario
from apsim.scenario.run import run_scenario

UUID_A = "62177883-f1bb-47f0-914d-32a22e3a8804"
SCAN_NS = 5_050_000_000  # the guest's second bus scan: booted at 50 ms, config_time 5 s

SCENARIO = """
name: zcrypt-error
duration: {duration}
machine: {{model: z15, adapters: [{{id: 5, type: CEX5C}}, {{id: 6, type: CEX5C}}]}}
lpar: {{adapters: [5, 6], usage_domains: [4]}}
host: {{apmask: "-5", config_time: 5s}}
mdevs:
  - {{uuid: {a}, assign_adapter: [5], assign_domain: [4]}}
guests:
  - {{name: g1, mdev: {a}, workload: {{kind: closed, concurrency: 4, think: 1ms, mix: {{rsa2048: 1.0}}}}}}
timeline:
{timeline}
"""


def run(timeline: list[str], duration: str = "5300ms"):
    text = SCENARIO.format(a=UUID_A, duration=duration, timeline="\n".join(f"  - {t}" for t in timeline))
    return run_scenario(parse_scenario(text))


def busy(instruction: str) -> str:
    return ("{at: 100ms, do: fault.inject, kind: busy, adapters: [5], "
            f"instructions: [{instruction}], duration: 3ms}}")


def error_lines(r, fn: str) -> list[str]:
    klog = r.sim.guests["g1"].linux.klog
    return klog.grep(f"{fn} RC 0x05 on 0x05.0004 -> AP_DEV_STATE_ERROR", include_dbf=True)


def books_balance(r) -> bool:
    b = r.guests["g1"]["books"]
    led = r.ledger
    return (b["created"] == b["completed"] + b["rejected"] + b["dropped"] + b["in_flight"] + b["backlog"]
            and led.submitted == led.completed + sum(led.rejected.values())
            + sum(led.dropped.values()) + led.in_flight)


def completions(r) -> list[int]:
    return r.recorder.arrays()["t_deq"].tolist()


def test_nqap_busy_puts_the_guests_queue_in_the_error_state_until_the_scan():
    """ap_queue.c ap_sm_write ``default:``: NQAP RC 0x05 sets AP_DEV_STATE_ERROR with
    last_err_rc 0x05 and the dbf warning "ap_sm_write RC 0x05 on 0x05.0004 ->
    AP_DEV_STATE_ERROR"; the guest's zcrypt sends nothing to the queue until the next
    scan, although the busy window ended after 3 ms."""
    r = run([busy("NQAP")], duration="4s")
    q = r.sim.guests["g1"].linux.bus.queues[0x0504]
    assert q.dev_state == DevState.ERROR and q.last_err_rc == 0x05
    assert len(error_lines(r, "ap_sm_write")) == 1
    assert r.guests["g1"]["retired"] == ["05.0004"]
    assert r.ledger.rejected[0x05] == 1   # the one NQAP, no retry on the broken queue
    assert not [t for t in completions(r) if t > 104_000_000]
    assert books_balance(r)


def test_the_scan_reinitializes_the_queue_and_the_guests_load_resumes():
    """ap_bus.c ap_scan_domains: a configured queue in AP_DEV_STATE_ERROR is flushed and
    re-initialized with a reset ("queue dev reinit enforced"); once the reset is through
    the guest's zcrypt uses the queue again and the load resumes."""
    r = run([busy("NQAP")])
    g = r.sim.guests["g1"]
    q = g.linux.bus.queues[0x0504]
    assert q.dev_state == DevState.OPERATING and q.last_err_rc == 0
    reinit = [e for e in g.linux.klog.entries if "ap_scan_domains(5,4) queue dev reinit enforced" in e.text]
    assert len(reinit) == 1 and reinit[0].time_ns >= SCAN_NS - 1_000_000
    assert r.guests["g1"]["retired"] == []
    after = [t for t in completions(r) if t > reinit[0].time_ns]
    assert len(after) > 100, "the load did not resume after the re-init"
    assert not [t for t in completions(r) if 104_000_000 < t < reinit[0].time_ns]
    assert books_balance(r)


def test_dqap_busy_puts_the_queue_in_the_error_state_and_the_reinit_drops_its_requests():
    """ap_queue.c ap_sm_read ``default:``: DQAP RC 0x05 sets AP_DEV_STATE_ERROR (dbf
    "ap_sm_read RC 0x05 on 0x05.0004 -> AP_DEV_STATE_ERROR"); the replies stay on the
    queue, and ap_scan_domains' re-init resets it, which drops them: each is counted
    under the reset's cause, and the load resumes after the reset."""
    r = run([busy("DQAP")])
    assert error_lines(r, "ap_sm_read")
    b = r.guests["g1"]["books"]
    assert b["dropped"] > 0 and r.ledger.dropped["reset"] == b["dropped"]
    assert {e["cause"] for e in r.guests["g1"]["last_events"]} == {"reset"}
    assert all(e["at"] == "5050ms" for e in r.guests["g1"]["last_events"])
    assert [t for t in completions(r) if t > SCAN_NS]
    assert r.guests["g1"]["retired"] == []
    assert books_balance(r)


def test_a_guest_dmesg_expectation_sees_the_error_and_the_reinit():
    """ap_queue.c ap_sm_write and ap_bus.c ap_scan_domains, as a scenario checks them:
    ``guest.dmesg`` with ``dbf: true`` finds the s390dbf warning of the error state, then
    the scan's "queue dev reinit enforced" (the kernel has no sysfs attribute for the
    device state outside CONFIG_AP_DEBUG; the queue's ``online`` stays 1)."""
    r = run([busy("NQAP"),
             "{at: 5200ms, do: guest.dmesg, guest: g1, dbf: true, expect: "
             "['ap_sm_write RC 0x05 on 0x05\\.0004 -> AP_DEV_STATE_ERROR', "
             "'ap_scan_domains\\(5,4\\) queue dev reinit enforced']}"])
    checks = [e for e in r.timeline.entries if e.do == "guest.dmesg"]
    assert len(checks) == 1 and checks[0].passed is True, checks[0]
    assert r.expectations_passed


HOST_SCENARIO = """
name: host-zcrypt-error
duration: 5300ms
machine: {model: z16, adapters: [{id: 5, type: CEX8C}, {id: 7, type: CEX8C}]}
lpar: {adapters: [5, 7], usage_domains: [4]}
host:
  config_time: 5s
  workload: {kind: closed, concurrency: 4, think: 1ms}
timeline:
  - {at: 100ms, do: fault.inject, kind: busy, adapters: [5], instructions: [NQAP], duration: 3ms}
"""


def test_the_hosts_own_zcrypt_puts_its_queue_in_the_error_state_and_takes_it_back():
    """ap_queue.c ap_sm_write on the host Linux's own zcrypt (``host.workload``): NQAP RC
    0x05 puts the host's queue device 05.0004 into AP_DEV_STATE_ERROR (dbf warning),
    the load goes on on 07.0004 alone, and ap_scan_domains' re-init at the host bus's
    next scan brings 05.0004 back."""
    r = run_scenario(parse_scenario(HOST_SCENARIO))
    host = r.sim.host
    assert host.klog.grep("ap_sm_write RC 0x05 on 0x05.0004 -> AP_DEV_STATE_ERROR", include_dbf=True)
    reinit = [e for e in host.klog.entries if "ap_scan_domains(5,4) queue dev reinit enforced" in e.text]
    assert len(reinit) == 1
    q5 = r.sim.lpar.queues[0x0504]
    sent_before = q5.nqap_count
    wl = r.sim.host_workload
    assert sorted(wl.targets) == [0x0504, 0x0704]
    assert host.bus.queues[0x0504].dev_state == DevState.OPERATING
    rows = r.recorder.arrays()
    on5 = [t for t, q in zip(rows["t_deq"].tolist(), rows["apqn"].tolist()) if q == 0x0504]
    assert not [t for t in on5 if 104_000_000 < t < reinit[0].time_ns]
    assert [t for t in on5 if t > reinit[0].time_ns] and sent_before > 0
    led = r.ledger
    assert led.submitted == led.completed + sum(led.rejected.values()) + sum(led.dropped.values()) \
        + led.in_flight
