"""zcrypt keeps a request whose NQAP answered 0x02 and sends the same one again
(apsim.engine.resend, after drivers/s390/crypto/ap_queue.c ap_sm_write / ap_sm_reset_wait)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from apsim.engine.request import Ledger
from apsim.scenario.loader import parse_scenario
from apsim.scenario.run import run_scenario

MS = 1_000_000


def scenario(reset: str, *, reply: str = "interrupt", more: str = "") -> str:
    """g1 (ready at 90 ms) resets its only queue at 100 ms; a reset lasts *reset* here."""
    return f"""
name: resend
duration: 200ms
timing: {{reset_ns: {reset}}}
machine: {{model: z15, adapters: [{{id: 5, type: CEX5C}}]}}
lpar: {{adapters: [5], usage_domains: [4]}}
host: {{apmask: "-5"}}
mdevs: [{{uuid: 62177883-f1bb-47f0-914d-32a22e3a8804, assign_adapter: [5], assign_domain: [4]}}]
guests:
  - {{name: g1, mdev: 62177883-f1bb-47f0-914d-32a22e3a8804,
     workload: {{kind: closed, concurrency: 2, mix: {{rsa2048: 1.0}}, reply: {reply}}}}}
timeline:
  - {{at: 100ms, do: guest.instruction, guest: g1, op: RAPQ, apqn: "05.0004"}}
{more}"""


def rows_submitted_between(r, lo: int, hi: int):  # noqa: ANN001, ANN201
    c = r.recorder.arrays()
    m = (c["t_submit"] >= lo) & (c["t_submit"] < hi)
    return c["t_submit"][m], c["t_start"][m]


def test_a_request_answered_reset_in_progress_is_sent_again_after_the_low_poll_wait():
    """ap_sm_write: NQAP RC 0x02 → AP_SM_STATE_RESET_WAIT, AP_SM_WAIT_LOW_TIMEOUT (40 ms); the
    message stays first on the request list. ap_sm_reset_wait: TAPQ RC 0 → interruptions on
    again (ap_queue_enable_irq), back to writing: the same message is sent. The RAPQ at
    100 ms drops the two requests in flight; their replacements (after the 250 µs poll)
    meet the 5 ms reset, wait, and are sent again at 140.25 ms — the same requests: their
    submit time is kept and each completes once."""
    r = run_scenario(parse_scenario(scenario("5ms")))
    wl = r.sim.guests["g1"].workload
    assert r.ledger.dropped == Counter({"reset": 2})
    assert wl.reset_wait.resent == 2 and wl.rejected == 0
    submit, start = rows_submitted_between(r, 100 * MS, 101 * MS)
    assert submit.tolist() == [100_250_000, 100_250_000]
    assert start.tolist() == [140_250_000, 140_250_000]
    # Nothing else of g1 ran during the wait (the driver held the queue in RESET_WAIT).
    c = r.recorder.arrays()
    assert not ((c["t_start"] > 100 * MS) & (c["t_start"] < 140_250_000)).any()


def test_the_first_nqaps_0x02_is_no_outcome_and_the_books_balance():
    """One request, one outcome: the hardware ledger gives the 0x02 back (Ledger.withdraw)
    while the driver keeps the request (in its backlog until the resend)."""
    r = run_scenario(parse_scenario(scenario("5ms")))
    led = r.ledger
    assert 0x02 not in led.rejected and sum(led.rejected.values()) == 0
    assert led.submitted == led.completed + sum(led.rejected.values()) + sum(led.dropped.values()) + led.in_flight
    wl = r.sim.guests["g1"].workload
    assert wl.seq == wl.completed + wl.rejected + wl.dropped + wl.live


def test_a_queue_still_in_reset_at_the_poll_is_waited_for_again():
    """ap_sm_reset_wait: TAPQ RC 0x02 → AP_SM_WAIT_LOW_TIMEOUT again. A second RAPQ just
    before the poll at 140.25 ms makes that TAPQ find a reset running; the resend comes
    one low-rate poll later, at 180.25 ms."""
    again = '  - {at: 140.248ms, do: guest.instruction, guest: g1, op: RAPQ, apqn: "05.0004"}\n'
    r = run_scenario(parse_scenario(scenario("5ms", more=again)))
    wl = r.sim.guests["g1"].workload
    assert wl.reset_wait.waits == 1 and wl.reset_wait.resent == 2
    _, start = rows_submitted_between(r, 100 * MS, 101 * MS)
    assert start.tolist() == [180_250_000, 180_250_000]


def test_a_polling_driver_resends_too():
    """The resend does not depend on interruptions: a polling zcrypt (reply: poll) resends
    the same requests at the same time and picks their replies up by polling."""
    r = run_scenario(parse_scenario(scenario("5ms", reply="poll")))
    _, start = rows_submitted_between(r, 100 * MS, 101 * MS)
    assert np.all(start == 140_250_000) and len(start) == 2


def test_ledger_withdraw_takes_one_rejection_back():
    """apsim.engine.request.Ledger.withdraw: the NQAP is neither submitted nor rejected any more."""
    led = Ledger()
    led.reject(0x02)
    led.reject(0x02)
    led.accept()
    led.withdraw(0x02)
    assert (led.submitted, led.rejected, led.in_flight) == (2, Counter({0x02: 1}), 1)
    led.withdraw(0x02)
    assert (led.submitted, dict(led.rejected), led.in_flight) == (1, {}, 1)
