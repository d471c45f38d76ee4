"""Containers as zcrypt users (apsim.guest.container): the host's zcrypt driver (ZcryptMux)
never puts more requests on a queue than it holds, sends held ones first come first sent,
and hands every reply to the container that sent it."""

from __future__ import annotations

from apsim.engine.request import Request
from apsim.guest.container import ContainerPort, ZcryptMux
from apsim.hw.timing import request_type
from apsim.ids import apqn
from tests.conftest import build_machine

Q = apqn(6, 4)
RSA = request_type("rsa2048").index


class _Workload:
    def __init__(self) -> None:
        self.dropped: list = []

    def on_dropped(self, req: Request, cause: str) -> None:
        self.dropped.append((req.psmid, cause))


def _mux():  # noqa: ANN202
    env, m, lp = build_machine(engines=1)
    mux = ZcryptMux(m, lp.config)
    a, b = ContainerPort(mux, Q, name="a"), ContainerPort(mux, Q, name="b")
    wa, wb = _Workload(), _Workload()
    mux.bind(a, wa)
    mux.bind(b, wb)
    return env, m, lp, mux, (a, wa), (b, wb)


def _req(psmid: int, wl: _Workload) -> Request:
    return Request(psmid, RSA, 256, tag=wl)


def test_a_full_queue_makes_the_driver_hold_requests_and_send_them_in_order_as_slots_free():
    env, m, lp, mux, (a, wa), (b, wb) = _mux()
    q = lp.queues[Q]
    for i in range(q.depth):
        assert a.nqap(Q, _req(i, wa)) == 0
    assert b.nqap(Q, _req(100, wb)) == 0 and b.nqap(Q, _req(101, wb)) == 0
    assert mux.held() == 2 and q.count == q.depth
    env.run(until=10**9)
    rc, req = a.dqap(Q)  # a reply frees a slot: the first held request goes out
    assert rc == 0 and req.psmid == 0 and mux.held() == 1 and mux.sent_late == 1
    live = {r.psmid for r in q.live}
    assert 100 in live and 101 not in live


def test_a_reply_goes_to_the_container_that_sent_it():
    env, m, lp, mux, (a, wa), (b, wb) = _mux()
    woken = []
    b.enable_irq(Q, lambda apqn: woken.append(apqn))
    assert b.nqap(Q, _req(1, wb)) == 0 and a.nqap(Q, _req(2, wa)) == 0
    env.run(until=10**9)
    n = len(woken)  # the interruptions of the two replies
    rc, req = a.dqap(Q)  # the oldest reply is b's: it goes to b's mailbox, a gets its own
    assert (rc, req.psmid) == (0, 2)
    env.run(until=env.now + 1)
    assert len(woken) == n + 1  # b is woken for the reply waiting in its mailbox
    rc, req = b.dqap(Q)
    assert (rc, req.psmid) == (0, 1)
    assert a.dqap(Q)[1] is None and b.dqap(Q)[1] is None


def test_interruptions_are_enabled_once_per_queue_and_reach_every_users_handler():
    env, m, lp, mux, (a, wa), (b, wb) = _mux()
    seen = []
    assert a.enable_irq(Q, lambda apqn: seen.append(("a", apqn)))
    assert b.enable_irq(Q, lambda apqn: seen.append(("b", apqn)))
    assert lp.queues[Q].irq and lp.queues[Q].irq_target == mux._irq
    a.nqap(Q, _req(1, wa))
    env.run(until=10**9)
    assert sorted(seen) == [("a", Q), ("b", Q)]


def test_a_held_request_the_queue_refuses_when_sent_ends_dropped_for_its_sender():
    env, m, lp, mux, (a, wa), (b, wb) = _mux()
    q = lp.queues[Q]
    for i in range(q.depth):
        a.nqap(Q, _req(i, wa))
    b.nqap(Q, _req(100, wb))
    assert mux.held() == 1
    m.se_configure(lp, [6], on=False)  # the queue empties and answers 0x03
    assert a.nqap(Q, _req(200, wa)) == 0x03  # the held 100 is tried first, then 200
    assert wb.dropped == [(100, "zcrypt")] and mux.held() == 0
    assert {cause for _, cause in wa.dropped} == {"configure_off"}  # a's requests the queue held


def test_a_container_targets_only_its_apqn_and_only_while_the_lpar_reaches_it():
    env, m, lp, mux, (a, wa), (b, wb) = _mux()
    assert a.targets() == [Q]
    m.checkstop(6)
    assert a.targets() == []
