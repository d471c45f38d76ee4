"""The host's own zcrypt request path (``host.workload``): processes on the host Linux
send requests through its zcrypt to the queues its AP bus gave the zcrypt drivers,
replies come by the bus's interruptions or its polling, and zcrypt's card selection
leaves cards whose maximum message size is too small alone."""

from __future__ import annotations

import pytest

from apsim.errors import ScenarioError
from apsim.ids import apqn
from apsim.scenario.loader import parse_scenario
from apsim.scenario.run import run_scenario

UUID = "62177883-f1bb-47f0-914d-32a22e3a8804"

SCENARIO = """
name: host-zcrypt
duration: 100ms
machine: {{model: z16, adapters: [{{id: 5, type: CEX8C}}, {{id: 6, type: CEX8C}}, {{id: 7, type: CEX8C, ml: 8}}]}}
lpar: {{adapters: [5, 6, 7], usage_domains: [4]}}
host:
  apmask: "-6"{extra}
  workload: {workload}
mdevs: [{{uuid: {uuid}, assign_adapter: [6], assign_domain: [4]}}]
timeline:
{timeline}
"""


def run(workload: str = "{kind: closed, concurrency: 4}", extra: str = "", timeline: tuple[str, ...] = ()):  # noqa: ANN201
    text = SCENARIO.format(workload=workload, extra=extra, uuid=UUID,
                           timeline="\n".join(f"  - {t}" for t in timeline) or "  []")
    return run_scenario(parse_scenario(text.replace("timeline:\n  []", "timeline: []")))


def test_host_processes_use_only_the_queues_bound_to_the_zcrypt_drivers():
    """zcrypt_api.c picks among zcrypt queues, i.e. queues bound to cex4queue
    (zcrypt_cex4_queue_probe): with apmask -6 adapter 6's queue belongs to vfio_ap and
    gets nothing; ap_queue_message counts each request in the queue's request_count,
    which lszcrypt's REQUESTS column shows."""
    r = run(timeline=("{at: 90ms, do: host.lszcrypt, expect: ['05 CEX8C', '05.0004 CEX8C', '06 CEX8C', "
                      "'07 CEX8C', '07.0004 CEX8C']}",))
    wl = r.sim.host_workload
    assert wl.completed > 0 and sorted(wl.targets) == [apqn(5, 4), apqn(7, 4)]
    assert r.sim.lpar.queues[apqn(6, 4)].nqap_count == 0
    assert int(r.sim.host.read("/sys/devices/ap/card05/05.0004/request_count")) > 0
    assert all(e.passed for e in r.timeline.entries if e.passed is not None)


def test_a_message_larger_than_a_cards_maximum_skips_that_card():
    """zcrypt_api.c: "check if request size exceeds card max msg size" (ap_msg.len >
    zc->card->maxmsgsize → continue): a 20 KiB message goes only to the card with ml 8
    (32 KiB, ap_card.c maxmsgsize = ml * 4096), never to the 12 KiB default card, so the
    firmware never answers it 0x15."""
    r = run("{kind: closed, concurrency: 4, length: 20480}")
    wl = r.sim.host_workload
    assert wl.targets == [apqn(7, 4)] and wl.completed > 0 and wl.einval == 0
    assert r.sim.lpar.queues[apqn(5, 4)].nqap_count == 0


def test_a_message_no_card_can_take_is_never_sent():
    """zcrypt_api.c finds no eligible queue (pref_zq NULL → -ENODEV after the rescan
    retry): nothing reaches the hardware, the requests wait without a queue."""
    r = run("{kind: closed, concurrency: 4, length: 40960}")
    wl = r.sim.host_workload
    assert wl.targets == [] and wl.completed == 0 and wl.rejected == 0 and len(wl.stalled) == 4
    assert sum(q.nqap_count for q in r.sim.lpar.queues.values()) == 0


def test_under_zvm_without_interrupts_the_host_zcrypt_polls_at_the_zvm_rate():
    """ap_bus.c ap_module_init: no facility 65 → no adapter interrupt (ap_irq_flag 0),
    MACHINE_IS_VM → poll_high_timeout 1500000 ns; zcrypt's replies are then picked up
    by the bus's poll timer (ap_sm_read → AP_SM_WAIT_HIGH_TIMEOUT)."""
    r = run(extra="\n  hypervisor: zvm")
    wl, port = r.sim.host_workload, r.sim.host_workload.port
    assert wl.spec.reply == "poll" and port.poll_ns() == 1_500_000 and wl.completed > 0
    lpar = run()
    assert lpar.sim.host_workload.spec.reply == "interrupt"


def test_a_guests_host_block_has_no_workload():
    """A guest's own requests are its workload (its zcrypt behind SIE), not host.workload."""
    text = """
name: bad
duration: 10ms
machine: {model: z16, adapters: [{id: 5, type: CEX8C}]}
lpar: {adapters: [5], usage_domains: [4]}
guests: [{name: g1, host: {workload: {kind: closed}}}]
"""
    with pytest.raises((ScenarioError, ValueError)) as e:
        parse_scenario(text)
    assert "guests[0].host.workload" in str(e.value)


TIMER = """
name: host-timer
duration: {duration}
timing: {{profile: deterministic, service_overrides: {{rsa2048: {service}}}}}
machine: {{model: z16, adapters: [{{id: 5, type: CEX8C, engines: 1}}]}}
lpar: {{adapters: [5], usage_domains: [4]}}
host:
  workload: {{kind: closed, concurrency: {concurrency}}}
timeline: []
"""


def timer_run(service: str, *, concurrency: int = 1, duration: str = "2000s"):  # noqa: ANN201
    r = run_scenario(parse_scenario(TIMER.format(service=service, concurrency=concurrency, duration=duration)))
    return r, r.sim.host_workload


def test_a_request_without_reply_for_900_s_resets_the_queue_and_is_sent_again():
    """zcrypt_cex4.c CEX4_CLEANUP_TIME (900 s) is the queue's request_timeout;
    ap_bus.c ap_request_timeout → ap_sm_event(AP_SM_EVENT_TIMEOUT) → ap_queue.c
    ap_sm_reset (RAPQ) in WORKING; the adapter drops the request, and after the reset
    ap_sm_recv's DQAP answers 0x10 with the queue empty while queue_count > 0, so the
    pending request goes back to the request queue and ap_sm_write sends it again.
    A 1000 s request therefore never completes: reset at 900 s after each send."""
    r, wl = timer_run("1000s")
    t = wl.request_timer
    first_send = 40_000_000  # after the bus's initial reset (low poll, 40 ms)
    assert [at for at, _ in t.expired] == [first_send + 900_000_000_000, 2 * (first_send + 900_000_000_000)]
    assert t.resent == 2 and wl.completed == 0 and wl.dropped == 0 and wl.seq == 1
    assert r.sim.machine.ledger.dropped.get("reset", 0) == 2


def test_a_reply_within_the_timeout_completes_and_stops_the_timer():
    """ap_sm_recv re-arms the timer only while requests remain (queue_count > 0)."""
    r, wl = timer_run("800s", duration="1000s")
    assert wl.completed == 1 and wl.request_timer.expired == []


def test_every_reply_re_arms_the_timer_of_a_busy_queue():
    """ap_sm_recv: mod_timer(jiffies + request_timeout) after each reply while requests
    are outstanding, so two 600 s requests on one engine (replies at 600 s and 1200 s)
    never let 900 s pass without a reply."""
    r, wl = timer_run("600s", concurrency=2, duration="2000s")
    assert wl.completed >= 3 and wl.request_timer.expired == []
