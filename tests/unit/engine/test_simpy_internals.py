"""SimPy still has the internals apsim schedules through (apsim.engine.simpy_internals), they
behave as apsim assumes, and no other module names them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import simpy

from apsim.engine import simpy_internals as si
from apsim.engine.core import call_at, new_env

PKG = Path(__file__).resolve().parents[3] / "apsim"


def test_the_installed_simpy_has_every_internal_apsim_relies_on():
    si.check(simpy.Environment(initial_time=0))


def test_entries_pushed_on_the_heap_interleave_with_simpys_own_events_by_time_priority_and_id():
    env = new_env()
    seen = []
    env.timeout(5).callbacks.append(lambda ev: seen.append("simpy@5"))
    call_at(env, 5, lambda ev: seen.append("apsim@5"))
    call_at(env, 3, lambda ev: seen.append("apsim@3"))
    env.timeout(5).callbacks.append(lambda ev: seen.append("simpy@5 later"))
    env.run()
    assert seen == ["apsim@3", "simpy@5", "apsim@5", "simpy@5 later"]
    assert env.now == 5 and env._now == 5


def test_ids_issued_counts_every_scheduled_event_without_consuming_one():
    env = new_env()
    n0 = si.ids_issued(env)
    env.timeout(1)
    call_at(env, 1, lambda ev: None)
    assert si.ids_issued(env) == n0 + 2 == si.ids_issued(env)
    assert all(len(e) == 4 for e in si.heap(env))


def test_a_changed_simpy_is_reported_by_name_not_by_wrong_results():
    class Changed(simpy.Environment):
        """What a SimPy release that renamed its heap would look like."""

    env = Changed(initial_time=0)
    env._queue = ()  # no longer the list apsim pushes on
    with pytest.raises(si.SimPyChanged, match=r"_queue"):
        si.check(env)


def test_only_apsim_simpy_internals_names_simpys_heap_id_counter_and_clock():
    offenders = [f"{p.relative_to(PKG.parent)}:{n}" for p in sorted(PKG.rglob("*.py"))
                 if p.name != "simpy_internals.py"
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if re.search(r"\benv\._(queue|eid|now)\b|repr\(env\.", line)]
    assert not offenders, offenders


def test_clock_reads_and_set_clock_moves_the_time_simpy_reports():
    env = new_env()
    env.timeout(7).callbacks.append(lambda ev: None)
    env.run()
    assert si.clock(env) == env.now == 7
    si.set_clock(env, 9)
    assert env.now == si.clock(env) == 9
