"""The simulation core (apsim.engine.core): call_at's ordering, hooks and disarm, and the
named random streams."""

from __future__ import annotations

import numpy as np
import pytest

from apsim.engine.calendar import calendar
from apsim.engine.core import (URGENT, Hook, Streams, VcpuGate, call_at, disarm, events_scheduled,
                               new_env)


def test_a_new_environment_starts_at_integer_zero():
    env = new_env()
    assert env.now == 0 and isinstance(env.now, int)


def test_call_at_runs_the_function_after_the_delay_with_the_argument_as_value():
    env = new_env()
    seen = []
    call_at(env, 250, lambda ev: seen.append((env.now, ev.value)), "x")
    env.run(until=249)
    assert seen == []
    env.run(until=1000)
    assert seen == [(250, "x")]


def test_call_at_refuses_a_negative_delay():
    with pytest.raises(ValueError, match="negative delay"):
        call_at(new_env(), -1, lambda ev: None)


def test_calls_at_the_same_time_run_in_scheduling_order():
    env = new_env()
    seen = []
    for i in range(5):
        call_at(env, 10, lambda ev: seen.append(ev.value), i)
    env.run()
    assert seen == [0, 1, 2, 3, 4]


def test_an_urgent_call_runs_before_normal_ones_at_the_same_time():
    env = new_env()
    seen = []
    call_at(env, 10, lambda ev: seen.append("normal"))
    call_at(env, 10, lambda ev: seen.append("urgent"), priority=URGENT)
    env.run()
    assert seen == ["urgent", "normal"]


def test_each_call_at_schedules_exactly_one_event():
    env = new_env()
    before = events_scheduled(env)
    for _ in range(3):
        call_at(env, 1, lambda ev: None)
    assert events_scheduled(env) == before + 3


def _hook(fired: list, tag: str) -> Hook:
    h = Hook()
    h.callbacks = (lambda hk: fired.append((tag, hk)),)
    return h


def test_a_hook_is_pending_until_it_fires_and_receives_itself():
    env = new_env()
    fired: list = []
    h = _hook(fired, "a")
    assert h.pending
    calendar(env).push(40, h)
    env.run(until=100)
    assert fired == [("a", h)] and not h.pending


def test_hooks_interleave_with_call_at_events_by_time_then_scheduling_order():
    env = new_env()
    fired: list = []
    call_at(env, 10, lambda ev: fired.append(("call", None)))
    calendar(env).push(10, _hook(fired, "hook"))
    call_at(env, 5, lambda ev: fired.append(("early", None)))
    env.run()
    assert [t for t, _ in fired] == ["early", "call", "hook"]


def test_a_disarmed_hook_fires_as_a_no_op():
    env = new_env()
    fired: list = []
    h = _hook(fired, "a")
    calendar(env).push(40, h)
    disarm(h)
    assert h.pending  # its entry stays until it is popped
    env.run(until=100)
    assert fired == [] and not h.pending


def test_disarming_a_hook_that_is_not_pending_changes_nothing():
    h = Hook()
    disarm(h)
    assert h.callbacks is None and not h.pending


def test_a_vcpu_gate_starts_open():
    assert VcpuGate().until == 0


def test_a_stream_is_the_same_for_the_same_seed_and_name_whatever_the_creation_order():
    a, b = Streams(42), Streams(42)
    a.get("x")
    xa = a.get("adapter.05").random(8)
    xb = b.get("adapter.05").random(8)
    assert np.array_equal(xa, xb)


def test_get_returns_the_one_generator_of_a_name():
    s = Streams(1)
    assert s.get("w") is s.get("w")


def test_different_names_or_seeds_give_different_streams():
    one = Streams(7).get("a").random(4)
    assert not np.array_equal(one, Streams(7).get("b").random(4))
    assert not np.array_equal(one, Streams(8).get("a").random(4))


def test_a_seed_beyond_64_bits_is_folded_to_its_low_64_bits():
    assert np.array_equal(Streams(2**64 + 3).get("a").random(4), Streams(3).get("a").random(4))
