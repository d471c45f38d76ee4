"""How an adapter picks its next waiting request (apsim.engine.arbitration): FIFO, round
robin over APQNs, dropped requests skipped, and a planned adapter's waiting line."""

from __future__ import annotations

import pytest

from apsim.engine.arbitration import _Fifo, _RoundRobin
from apsim.engine.core import new_env
from apsim.engine.firmware import nqap_queue
from apsim.engine.request import DROPPED, QUEUED, Request
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.machine import Machine
from apsim.hw.timing import request_type

RSA = request_type("rsa2048").index


class _Q:
    """A stand-in queue: the policies only use it as a key."""

    def __init__(self, name: str) -> None:
        self.name = name


A, B, C = _Q("a"), _Q("b"), _Q("c")


def _r(psmid: int, q: _Q) -> Request:
    req = Request(psmid, RSA, 256)
    req.queue = q
    req.state = QUEUED
    return req


def _drain(policy) -> list[int]:  # noqa: ANN001
    out = []
    while (r := policy.pop()) is not None:
        out.append(r.psmid)
    return out


def _load(policy, order):  # noqa: ANN001, ANN202
    reqs = [_r(p, q) for p, q in order]
    for r in reqs:
        policy.push(r)
    return reqs


ORDER = [(1, A), (2, A), (3, A), (4, B), (5, C), (6, B)]


def test_fifo_takes_the_oldest_request_on_the_adapter_first():
    f = _Fifo()
    _load(f, ORDER)
    assert [r.psmid for r in f.items()] == [1, 2, 3, 4, 5, 6]
    assert _drain(f) == [1, 2, 3, 4, 5, 6]


def test_round_robin_takes_one_request_per_apqn_in_turn_each_apqns_in_order():
    rr = _RoundRobin()
    _load(rr, ORDER)
    assert _drain(rr) == [1, 4, 5, 2, 6, 3]


def test_an_apqn_that_empties_and_refills_joins_the_end_of_the_ring():
    rr = _RoundRobin()
    _load(rr, [(1, A), (2, B)])
    assert rr.pop().psmid == 1
    _load(rr, [(3, A)])
    assert _drain(rr) == [2, 3]


@pytest.mark.parametrize("policy", [_Fifo, _RoundRobin])
def test_requests_no_longer_queued_are_skipped_and_not_counted(policy):
    p = policy()
    reqs = _load(p, ORDER)
    reqs[0].state = DROPPED
    reqs[3].state = DROPPED
    assert len(p) == 4
    assert sorted(r.psmid for r in p.items()) == [2, 3, 5, 6]
    assert [r.psmid for r in p.of_queue(A)] == [2, 3]
    assert [r.psmid for r in p.of_queue(B)] == [6]
    got = _drain(p)
    assert 1 not in got and 4 not in got and sorted(got) == [2, 3, 5, 6]
    assert len(p) == 0 and p.pop() is None


def test_round_robin_skips_an_apqn_whose_requests_were_all_dropped():
    rr = _RoundRobin()
    reqs = _load(rr, [(1, A), (2, B), (3, C)])
    reqs[1].state = DROPPED
    assert _drain(rr) == [1, 3]


def test_round_robin_items_list_every_apqns_waiting_requests():
    rr = _RoundRobin()
    _load(rr, ORDER)
    assert sorted(r.psmid for r in rr.items()) == [1, 2, 3, 4, 5, 6]
    assert rr.of_queue(_Q("never")) == []


def _planned():  # noqa: ANN202
    env = new_env()
    m = Machine(env, model="z16", seed=2, max_domain_id=255, arbitration="fifo")
    ad = m.install_adapter(3, CardSpec(CardType.CEX8, Mode.ACCELERATOR, engines=1))
    lp = m.add_lpar("l", adapters=[3], usage_domains=[7, 8], control_domains=[7, 8])
    return env, ad, lp.config


def test_a_planned_adapters_waiting_line_is_its_accepted_requests_not_yet_started_in_acceptance_order():
    env, ad, cfg = _planned()
    q7, q8 = ad.queues[7], ad.queues[8]
    for psmid, q in [(1, q7), (2, q8), (3, q7), (4, q8)]:
        assert nqap_queue(cfg, q, Request(psmid, RSA, 256)) == 0
    w = ad.waiting
    assert [r.psmid for r in w.items()] == [2, 3, 4]  # 1 is on the one engine
    assert [r.psmid for r in w.of_queue(q7)] == [3]
    assert len(w) == 3
    env.run(until=w.items()[0].t_start)  # request 2 takes the engine
    assert [r.psmid for r in w.items()] == [3, 4]


def test_a_planned_adapter_has_no_waiting_line_to_push_or_pop():
    env, ad, cfg = _planned()
    with pytest.raises(RuntimeError, match="schedules requests in submit"):
        ad.waiting.push(Request(1, RSA, 256))
    with pytest.raises(RuntimeError, match="no waiting line"):
        ad.waiting.pop()
