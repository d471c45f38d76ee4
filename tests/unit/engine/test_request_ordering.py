"""The request path's compiled shortcuts build and order requests exactly as the general code.

* ``new_request`` (what a workload's arrival calls) gives the same request as the
  ``Request`` constructor, psmid included, for every owner — the first owner's
  psmids fit one machine word, the others' do not fit a small Python integer.
* ``APQueue._settle`` with several planned requests posts the ready ones in
  (t_done, acceptance) order and keeps the rest planned.
"""

from __future__ import annotations

import pytest

from apsim.engine.core import new_env
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.engine.instructions import Executor
from apsim.hw.machine import Machine
from apsim.engine.request import REPLY, Request, new_request
from apsim.hw.timing import get_profile

# Every field __init__ sets; hook, sink and order are only set when a request is planned.
FIELDS = ("callbacks", "psmid", "rtype", "length", "owner", "apqn", "t_submit", "t_start", "t_done",
          "service_ns", "_state", "queue", "ctrl_domain", "drop_cause", "tag")


@pytest.mark.parametrize("owner", [0, 1, 999, 2**31 - 1])
@pytest.mark.parametrize("seq", [1, 2**31 + 7, 2**32 - 1])
def test_new_request_equals_the_constructor_for_every_owner(owner, seq):
    psmid = (owner << 32) | (seq & 0xFFFFFFFF)
    tag = object()
    a = Request(psmid, 4, 784, owner, 123_456_789_012, -1, tag)
    b = new_request(psmid, 4, 784, owner, 123_456_789_012, tag)
    assert type(b) is Request
    for f in FIELDS:
        assert getattr(a, f) == getattr(b, f), f
    assert b.tag is tag and b.psmid == psmid and type(b.psmid) is int


def _machine(engines: int):
    env = new_env()
    prof = get_profile("default").with_overrides({"distribution": "deterministic"})
    m = Machine(env, model="z16", seed=1, max_domain_id=255, profile=prof)
    m.install_adapter(3, CardSpec(CardType.CEX8, Mode.ACCELERATOR, engines=engines))
    lp = m.add_lpar("l", adapters=[3], usage_domains=[7], control_domains=[7])
    return env, m, Executor(m, lp.config)


def _service(m: Machine, rtype: str) -> int:
    from apsim.hw.timing import request_type
    return int(m.adapters[3].sampler.mean_ns[request_type(rtype).index])


def test_settle_posts_two_ready_replies_in_done_order_not_acceptance_order():
    env, m, cpu = _machine(engines=2)
    slow, fast = "rsa4096_crt", "rsa1024_me"
    assert _service(m, slow) > _service(m, fast)
    cpu.enqueue(0x0307, 1, slow)
    cpu.enqueue(0x0307, 2, fast)
    q = m.adapters[3].queues[7]
    env.run(until=_service(m, slow) + 1)
    q._settle(env.now)
    assert [r.psmid for r in q._replies] == [2, 1]
    assert not q._plan and all(r._state == REPLY for r in q._replies)
    assert [cpu.dequeue(0x0307).psmid for _ in range(2)] == [2, 1]


def test_settle_breaks_equal_done_times_by_acceptance_and_keeps_later_ones_planned():
    env, m, cpu = _machine(engines=3)
    for psmid, rt in ((1, "rsa2048_me"), (2, "rsa2048_me"), (3, "rsa1024_me"), (4, "rsa2048_me")):
        cpu.enqueue(0x0307, psmid, rt)
    q = m.adapters[3].queues[7]
    # Three engines: 1, 2 and 3 start at once (1 and 2 end together, 3 first); 4 waits.
    t = _service(m, "rsa2048_me")
    env.run(until=t + 1)
    q._settle(env.now)
    assert [r.psmid for r in q._replies] == [3, 1, 2]
    assert [r.psmid for r in q._plan] == [4]
    env.run(until=3 * t)
    assert [cpu.dequeue(0x0307).psmid for _ in range(4)] == [3, 1, 2, 4]


def test_queue_chains_keep_acceptance_order_and_unlink_every_request_that_leaves():
    env, m, cpu = _machine(engines=1)
    reqs = [cpu.enqueue(0x0307, p, "rsa1024_me").extra["request"] for p in (1, 2, 3, 4)]
    q = m.adapters[3].queues[7]
    assert [r.psmid for r in q._plan] == [1, 2, 3, 4] and q._np == 4 and q._nr == 0
    env.run(until=3 * _service(m, "rsa1024_me") + 1)  # 1, 2 and 3 are done, 4 is on the engine
    first = cpu.dequeue(0x0307).psmid
    assert first == 1 and reqs[0]._next is None
    assert [r.psmid for r in q._replies] == [2, 3] and q._nr == 2
    assert [r.psmid for r in q._plan] == [4] and q._np == 1
    cpu.rapq(0x0307)  # a reset drops what the queue holds
    assert q._np == q._nr == 0 and q._ph is q._pt is q._rh is q._rt is None
    assert all(r._next is None for r in reqs)
    assert m.ledger.summary()["dropped"] == {"reset": 3}
