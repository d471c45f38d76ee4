"""The calendar runs hooks in exactly the order SimPy would run them as separate events."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from apsim.engine.calendar import Calendar, calendar, pending
from apsim.engine.core import Hook, call_at, new_env


class _Tag(Hook):
    __slots__ = ("tag",)

    def __init__(self, tag: int) -> None:
        super().__init__()
        self.tag = tag


def _own(env) -> Calendar:  # noqa: ANN001
    """The environment's calendar, with its own heap even when apsim runs as pure Python."""
    cal = Calendar(env, own_heap=True)
    env._apsim_calendar = cal
    return cal


def _program(seed: int, own_heap: bool, budget: int = 400) -> list[tuple[int, int, str]]:
    """A random cascade of calendar hooks, SimPy callbacks and processes; the firing log.

    Every firing may schedule more firings at delays 0.. (ties are frequent), with
    URGENT or NORMAL priority, through the calendar or through SimPy directly; some
    are scheduled from outside the run (between ``env.run(until=...)`` calls), so
    the calendar is pushed earlier than the key it stands under.
    """
    env = new_env()
    cal = Calendar(env, own_heap=own_heap)
    env._apsim_calendar = cal
    rng = random.Random(seed)
    log: list[tuple[int, int, str]] = []
    left = [budget]
    next_tag = [0]

    def schedule(kind: str | None = None) -> None:
        if left[0] <= 0:
            return
        left[0] -= 1
        tag = next_tag[0]
        next_tag[0] += 1
        delay = rng.choice((0, 0, 1, 1, 2, 3, 7, rng.randint(0, 40)))
        prio = rng.choice((0, 1, 1, 1))
        kind = kind or rng.choice(("hook", "hook", "hook", "call", "proc"))
        if kind == "hook":
            h = _Tag(tag)
            h.callbacks = (lambda hk: fired(hk.tag, "hook"),)
            cal.push(env.now + delay, h, prio)
        elif kind == "call":
            call_at(env, delay, lambda ev: fired(ev.value, "call"), tag, priority=prio)
        else:
            def proc(t: int = tag, d: int = delay):  # noqa: ANN202 - generator
                yield env.timeout(d)
                fired(t, "proc")
            env.process(proc())

    def fired(tag: int, kind: str) -> None:
        log.append((env.now, tag, kind))
        for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
            schedule()

    for _ in range(5):
        schedule("hook")
    t = 0
    while left[0] > 0 and (len(cal) or env._queue):  # type: ignore[attr-defined]
        t += rng.randint(1, 30)
        env.run(until=t)
        # From outside the run: often earlier than the calendar's current key.
        for _ in range(rng.randint(0, 3)):
            schedule("hook")
    env.run()
    return log


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_calendar_fires_hooks_in_simpys_own_order_among_other_events(seed):
    own = _program(seed, own_heap=True)
    reference = _program(seed, own_heap=False)  # every firing its own SimPy heap entry
    assert own == reference
    assert len(own) > 5


def test_calendar_ties_follow_priority_then_scheduling_order():
    env = new_env()
    cal = _own(env)
    log = []
    for tag, prio in ((1, 1), (2, 0), (3, 1), (4, 0)):
        h = _Tag(tag)
        h.callbacks = (lambda hk: log.append(hk.tag),)
        cal.push(5, h, prio)
    call_at(env, 5, lambda ev: log.append("simpy"))  # NORMAL, scheduled after 1..4
    env.run()
    assert log == [2, 4, 1, 3, "simpy"]


def test_calendar_stops_at_run_until_and_resumes_where_it_stopped():
    env = new_env()
    cal = _own(env)
    log = []
    for t in (3, 10, 10, 11):
        h = _Tag(t)
        h.callbacks = (lambda hk: log.append((env.now, hk.tag)),)
        cal.push(t, h)
    env.run(until=10)  # SimPy's until event is URGENT: hooks at 10 have not run
    assert log == [(3, 3)] and env.now == 10
    env.run(until=11)
    assert log == [(3, 3), (10, 10), (10, 10)]
    env.run()
    assert log[-1] == (11, 11) and len(cal) == 0 and not env._queue  # type: ignore[attr-defined]


def test_calendar_grows_while_its_own_firings_push_more_than_its_capacity():
    env = new_env()
    cal = _own(env)
    log = []

    def fan_out(hk: _Tag) -> None:
        log.append(hk.tag)
        if hk.tag == 0:
            for i in range(1, 1000):  # far beyond the initial capacity, from inside a firing
                h = _Tag(i)
                h.callbacks = (fan_out,)
                cal.push(env.now + 1000 - i, h)

    h0 = _Tag(0)
    h0.callbacks = (fan_out,)
    cal.push(0, h0)
    env.run()
    assert log == [0] + list(range(999, 0, -1))


def test_disarmed_hook_fires_as_a_no_op_from_the_calendar():
    from apsim.engine.core import disarm

    env = new_env()
    cal = _own(env)
    log = []
    h = _Tag(1)
    h.callbacks = (lambda hk: log.append(1),)
    cal.push(4, h)
    disarm(h)
    env.run()
    assert log == [] and env.now == 4


def test_remove_takes_firings_out_and_the_calendar_stands_under_its_new_earliest_key():
    env = new_env()
    cal = _own(env)
    log = []
    hooks = []
    for t in (5, 1, 9, 3):
        h = _Tag(t)
        h.callbacks = (lambda hk: log.append(hk.tag),)
        cal.push(t, h)
        hooks.append(h)
    assert sorted(e[0] for e in pending(env)) == [1, 3, 5, 9]
    out = cal.remove(lambda hk: hk.tag in (1, 9))
    assert sorted((e[0], e[3].tag) for e in out) == [(1, 1), (9, 9)]
    assert [e[0] for e in env._queue] == [3]  # type: ignore[attr-defined]
    env.run()
    assert log == [3, 5]


def test_calendar_of_an_environment_is_one_object():
    env = new_env()
    assert calendar(env) is calendar(env)
    assert calendar(new_env()) is not calendar(env)


def _many_clocks(own_heap: bool, clocks: int = 300, firings: int = 20_000) -> list[tuple[int, int]]:
    """*clocks* hooks that each re-schedule themselves at random delays (slots get reused)."""
    env = new_env()
    cal = Calendar(env, own_heap=own_heap)
    env._apsim_calendar = cal
    rng = random.Random(7)
    log: list[tuple[int, int]] = []

    def tick(h: _Tag) -> None:
        log.append((env.now, h.tag))
        if len(log) < firings:
            h.callbacks = (tick,)
            cal.push(env.now + rng.choice((0, 1, rng.randint(0, 500))), h)

    for i in range(clocks):
        h = _Tag(i)
        h.callbacks = (tick,)
        cal.push(rng.randint(0, 100), h)
    env.run()
    return log


def test_hundreds_of_hooks_rescheduling_themselves_fire_in_simpys_order():
    own = _many_clocks(True)
    assert own == _many_clocks(False)
    assert len(own) >= 20_000 and len({tag for _t, tag in own}) == 300
