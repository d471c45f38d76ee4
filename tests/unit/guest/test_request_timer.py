"""RequestTimer alone: arming, re-arming and lapsing as ap_queue.c's aq->timeout does."""

from __future__ import annotations

from types import SimpleNamespace

from apsim.engine.core import new_env
from apsim.guest.request_timer import CEX4_CLEANUP_NS, RequestTimer


class _Bus:
    def __init__(self) -> None:
        self.ready_listeners: list = []
        self.queues: dict = {}


def _timer(timeout_ns: int = 100):  # noqa: ANN202
    env = new_env()
    host = SimpleNamespace(env=env, bus=_Bus())
    wl = SimpleNamespace(running=True, targets=[0x0504])
    t = RequestTimer(wl, host, timeout_ns=timeout_ns)
    t._expire = lambda apqn: t.expired.append((int(env.now), apqn))  # record, do not reset
    return env, t


def test_the_cex4_driver_timeout_is_900_seconds():
    """zcrypt_cex4.c: #define CEX4_CLEANUP_TIME (900 * HZ)."""
    assert CEX4_CLEANUP_NS == 900 * 10**9


def test_the_first_outstanding_request_arms_and_each_reply_re_arms():
    """ap_sm_write: mod_timer when queue_count becomes 1; ap_sm_recv: mod_timer after a
    reply while queue_count > 0 — the timer fires timeout after the last of them."""
    env, t = _timer()
    tg = SimpleNamespace(apqn=0x0504, outstanding=1)
    t.sent(tg)
    env.run(until=60)
    t.replied(tg)  # still one outstanding: re-armed to 160
    env.run(until=200)
    assert t.expired == [(160, 0x0504)]


def test_a_reply_that_leaves_nothing_outstanding_lets_the_timer_lapse():
    """ap_sm_recv re-arms only while queue_count > 0; an ignored timer does nothing."""
    env, t = _timer()
    tg = SimpleNamespace(apqn=0x0504, outstanding=1)
    t.sent(tg)
    tg.outstanding = 0
    t.replied(tg)
    env.run(until=500)
    assert t.expired == []


def test_only_requests_of_a_queue_the_timer_reset_are_kept_for_the_resend():
    """Drops by other causes stay drops; those of the timer's own reset are resent."""
    env, t = _timer()
    t._lost[0x0504] = []
    kept = SimpleNamespace(apqn=0x0504)
    other = SimpleNamespace(apqn=0x0604)
    assert t.keeps(kept) and not t.keeps(other) and t._lost[0x0504] == [kept]
