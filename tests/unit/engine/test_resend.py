"""zcrypt keeps a request whose NQAP answered 0x02 and sends the same one again
(apsim.engine.resend, after drivers/s390/crypto/ap_queue.c ap_sm_write / ap_sm_reset_wait)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from apsim.engine.calendar import pending
from apsim.engine.core import new_env
from apsim.engine.request import Ledger
from apsim.engine.resend import POLL_LOW_NS, ResetWait
from apsim.errors import ProgramException
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


# --- ResetWait on its own (a stand-in driver and port record what it asks of them) --------


class _Port:
    def __init__(self, answers: list) -> None:
        self.answers = answers  # TAPQ's response codes in turn (an exception is raised)
        self.log: list = []

    def tapq(self, apqn: int) -> int:
        a = self.answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    def enable_irq(self, apqn: int, handler: object) -> bool:
        self.log.append(("irq", apqn))
        return True


class _NoTapq:
    """A port with no TAPQ to ask (the wait ends at the first poll)."""

    def __init__(self) -> None:
        self.log: list = []


class _Spec:
    def __init__(self, reply: str) -> None:
        self.reply = reply


class _Driver:
    def __init__(self, port: object, reply: str = "interrupt") -> None:
        self.env = new_env()
        self.port = port
        self.spec = _Spec(reply)
        self.log: list = []

    def resend_waited(self, tg: object, req: object) -> None:
        self.log.append(("resend", self.env.now, req))
        self.port.log.append(("resend", req))

    def take_back(self, tg: object, req: object) -> None:
        self.log.append(("back", req))

    def refresh_targets(self) -> None:
        self.log.append(("refresh",))


class _Target:
    def __init__(self, apqn: int = 0x0504, idx: int = 0) -> None:
        self.apqn, self.idx, self.outstanding = apqn, idx, 2


def test_only_reset_in_progress_keeps_a_request_and_only_on_a_target_in_use():
    wl = _Driver(_Port([]))
    rw = ResetWait(wl, Ledger())
    assert not rw.keep(_Target(), "r", 0x05)  # BUSY: ap_sm_write's default branch
    assert not rw.keep(_Target(), "r", 0x10)
    assert not rw.keep(_Target(idx=-1), "r", 0x02)
    assert len(rw) == 0 and pending(wl.env) == []


def test_a_kept_request_gives_its_rejection_back_and_its_slot_but_stays_live():
    led = Ledger()
    led.reject(0x02)
    tg = _Target()
    rw = ResetWait(_Driver(_Port([])), led)
    assert rw.keep(tg, "r1", 0x02)
    assert (led.submitted, dict(led.rejected)) == (0, {})
    assert tg.outstanding == 1 and len(rw) == 1 and rw.waiting[0x0504][0] == "r1"


def test_requests_of_one_apqn_share_one_low_rate_poll_and_are_sent_again_in_order():
    wl = _Driver(_Port([0]))
    rw = ResetWait(wl)
    tg = _Target()
    rw.keep(tg, "r1", 0x02)
    wl.env.run(until=1_000)
    rw.keep(tg, "r2", 0x02)
    wl.env.run(until=POLL_LOW_NS - 1)
    assert wl.log == []
    wl.env.run(until=POLL_LOW_NS + 1)
    assert wl.log == [("resend", POLL_LOW_NS, "r1"), ("resend", POLL_LOW_NS, "r2")]
    assert rw.resent == 2 and len(rw) == 0 and rw.waits == 0


@pytest.mark.parametrize("rc", [0x02, 0x05])
def test_a_queue_still_in_reset_or_busy_at_the_poll_is_polled_again_later(rc):
    wl = _Driver(_Port([rc, rc, 0]))
    rw = ResetWait(wl)
    rw.keep(_Target(), "r1", 0x02)
    wl.env.run(until=3 * POLL_LOW_NS - 1)
    assert wl.log == [] and rw.waits == 2
    wl.env.run(until=3 * POLL_LOW_NS + 1)
    assert wl.log == [("resend", 3 * POLL_LOW_NS, "r1")]


def test_interruptions_are_switched_on_again_before_the_resend_when_the_driver_uses_them():
    port = _Port([0])
    wl = _Driver(port, reply="interrupt")
    ResetWait(wl).keep(_Target(), "r1", 0x02)
    wl.env.run()
    assert port.log == [("irq", 0x0504), ("resend", "r1")]
    port = _Port([0])
    wl = _Driver(port, reply="poll")
    ResetWait(wl).keep(_Target(), "r1", 0x02)
    wl.env.run()
    assert port.log == [("resend", "r1")]


def test_a_tapq_program_exception_or_a_port_without_tapq_ends_the_wait():
    wl = _Driver(_Port([ProgramException("specification", "x")]), reply="poll")
    ResetWait(wl).keep(_Target(), "r1", 0x02)
    wl.env.run()
    assert wl.log == [("resend", POLL_LOW_NS, "r1")]
    wl = _Driver(_NoTapq(), reply="poll")
    ResetWait(wl).keep(_Target(), "r1", 0x02)
    wl.env.run()
    assert [e[0] for e in wl.log] == ["resend"]


def test_requests_of_a_queue_the_driver_stopped_using_go_back_to_dispatch():
    wl = _Driver(_Port([0]))
    rw = ResetWait(wl)
    tg = _Target()
    rw.keep(tg, "r1", 0x02)
    rw.keep(tg, "r2", 0x02)
    tg.idx = -1
    wl.env.run()
    assert wl.log == [("back", "r1"), ("back", "r2"), ("refresh",)]
    assert rw.resent == 0 and len(rw) == 0
