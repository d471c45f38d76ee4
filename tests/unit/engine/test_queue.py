"""One APQN's firmware state (apsim.engine.queue.APQueue): what NQAP enqueues, what DQAP
takes, what resets and configuration changes drop, and the occupancy it keeps.

NQAP's and DQAP's firmware parts (``nqap_queue``, ``dqap_queue`` in
apsim.engine.firmware) are the only code that enqueues on and dequeues from a queue."""

from __future__ import annotations

import pytest

from apsim.engine.core import new_env
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.engine.codes import RC
from apsim.engine.firmware import dqap_queue, nqap_queue
from apsim.hw.machine import Machine
from apsim.engine.request import Request
from apsim.hw.timing import get_profile, request_type

RSA = request_type("rsa2048").index


def _queue(depth_engines: int = 1):
    """A deterministic-service accelerator with one queue (APQN 03.0007), its LPAR config."""
    env = new_env()
    prof = get_profile("default").with_overrides({"distribution": "deterministic"})
    m = Machine(env, model="z16", seed=1, max_domain_id=255, profile=prof)
    m.install_adapter(3, CardSpec(CardType.CEX8, Mode.ACCELERATOR, engines=depth_engines))
    lp = m.add_lpar("l", adapters=[3], usage_domains=[7], control_domains=[7])
    return env, m, m.adapters[3].queues[7], lp.config


def _req(psmid: int, t: int = 0) -> Request:
    return Request(psmid, RSA, 256, 0, t, -1)


def _take(q):
    rc, req = dqap_queue(q)
    assert rc == (0 if req is not None else RC.Q_FULL)  # DQAP's "no reply pending" is 0x10
    return req


def test_nqap_enqueues_and_dqap_returns_replies_oldest_first():
    env, m, q, cfg = _queue()
    assert _take(q) is None
    assert [nqap_queue(cfg, q, _req(i)) for i in (1, 2, 3)] == [0, 0, 0]
    assert q.count == 3 and q.nqap_count == 3 and q.replies == []
    env.run(until=10 * q.adapter.sampler.mean_ns[RSA])
    assert [r.psmid for r in q.replies] == [1, 2, 3]
    assert [_take(q).psmid for _ in range(3)] == [1, 2, 3]
    assert _take(q) is None
    assert q.count == 0 and q.dqap_count == 3 and m.ledger.completed == 3


def test_a_full_queue_refuses_with_rc_0x10_and_keeps_its_requests():
    env, m, q, cfg = _queue()
    for i in range(q.depth):
        assert nqap_queue(cfg, q, _req(i)) == 0
    assert nqap_queue(cfg, q, _req(99)) == RC.Q_FULL
    assert q.count == q.depth and q.touched == q.depth + 1


@pytest.mark.parametrize("rc", [RC.DECONFIGURED, RC.CHECKSTOPPED])
def test_standby_or_checkstop_drops_every_request_and_answers_its_rc(rc):
    env, m, q, cfg = _queue()
    nqap_queue(cfg, q, _req(1))
    nqap_queue(cfg, q, _req(2))
    assert q.set_config_rc(rc, "configure") == 2
    assert q.count == 0 and m.ledger.dropped["configure"] == 2
    assert nqap_queue(cfg, q, _req(3)) == rc and q.state_rc() == rc
    q.set_config_rc(0, "configure")
    assert q.state_rc() == 0 and nqap_queue(cfg, q, _req(4)) == 0


def test_reset_drops_requests_disables_interruptions_and_answers_reset_in_progress_for_a_while():
    env, m, q, cfg = _queue()
    q.irq_target = lambda queue: None
    q.irq = True
    nqap_queue(cfg, q, _req(1))
    assert q.reset(zeroize=False) == 1
    assert m.ledger.dropped["reset"] == 1 and q.count == 0 and not q.irq and q.irq_target is None
    assert q.state_rc() == RC.RESET_IN_PROGRESS
    assert nqap_queue(cfg, q, _req(2)) == RC.RESET_IN_PROGRESS
    env.run(until=q.reset_until)
    assert q.state_rc() == 0 and nqap_queue(cfg, q, _req(3)) == 0


def test_a_ready_reply_interrupts_the_registered_target_once():
    env, m, q, cfg = _queue()
    seen = []
    q.irq_target = seen.append
    q.irq = True
    nqap_queue(cfg, q, _req(1))
    env.run(until=10 * q.adapter.sampler.mean_ns[RSA])
    assert q.replies and q.irq_count == 1
    assert seen == [q]  # a plain target is called when the reply is ready
    assert _take(q).psmid == 1


class _Pickup:
    """A deferrable interruption target (pickup_ns, pickup): it picks replies up later."""

    pickup_ns = 1_000_000_000

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, queue: object) -> None:
        self.calls += 1

    def pickup(self, queue: object) -> None:
        self.calls += 1


def test_irq_count_counts_a_folded_interruption_before_anything_looks_at_the_replies():
    """A planned queue posts a reply for a deferrable target lazily; the count must not lag."""
    env, m, q, cfg = _queue()
    q.irq_target = _Pickup()
    q.irq = True
    nqap_queue(cfg, q, _req(1))
    svc = q.adapter.sampler.mean_ns[RSA]
    env.run(until=svc - 1)
    assert q.irq_count == 0
    env.run(until=svc + 1)  # done, its pickup a second away: nothing has looked at the queue
    assert q.irq_count == 1 and q.irq_target.calls == 0


def test_mean_occupancy_is_the_time_average_of_the_request_count():
    env, m, q, cfg = _queue()
    svc = q.adapter.sampler.mean_ns[RSA]
    nqap_queue(cfg, q, _req(1))
    env.run(until=4 * svc)
    _take(q)
    env.run(until=8 * svc)
    # One request held from 0 to 4·svc (accepted, served, replied, dequeued) of 8·svc.
    assert q.mean_occupancy(env.now) == pytest.approx(0.5)


def test_status_word_shows_queue_empty_replies_and_full():
    from apsim.engine import codes
    env, m, q, cfg = _queue()
    empty = q.status()
    assert codes.make_status(0, empty=True, replies=False, full=False, irq=False, async_=False) == empty
    nqap_queue(cfg, q, _req(1))
    env.run(until=10 * q.adapter.sampler.mean_ns[RSA])
    assert q.status() == codes.make_status(0, empty=False, replies=True, full=False, irq=False,
                                           async_=False)


def test_a_queue_refuses_attributes_it_does_not_declare_in_either_form():
    env, m, q, cfg = _queue()
    with pytest.raises(AttributeError):
        q.no_such_field = 1  # type: ignore[attr-defined]
