"""The driver's per-APQN state (apsim.engine.targets.Target): interruptions coalesced into
one pending pickup, cached zcrypt weights, the lazily made software queue; and zcrypt's
least-loaded choice inside one weight class (_LLGroup)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import numpy as np

from apsim.engine import targets
from apsim.engine.targets import Target, _LLGroup, as_block
from benchmarks.models import build_capacity

_WL = build_capacity(adapters=1, domains=4, select="least_loaded").workloads[0]


def _targets(n: int) -> list[Target]:
    """*n* fresh targets at positions 0 … n-1 of an active list (only idx, load, total matter)."""
    out = []
    for i in range(n):
        t = Target(_WL, i, 8)
        t.idx = i
        out.append(t)
    return out


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 40), weight=st.integers(1, 10**6),
       ops=st.lists(st.tuples(st.booleans(), st.integers(0, 10**6)), min_size=1, max_size=300),
       compact=st.booleans())
def test_top_is_the_least_load_then_fewest_requests_then_earliest_target(n, weight, ops, compact):
    active = _targets(n)
    g = _LLGroup((weight,))
    g.members = list(active) if compact else []
    for t in active:
        g.push(t.load, t.total, t.idx)
    for dispatch, pick in ops:
        if dispatch:
            t = g.top(active)
            assert (t.load, t.total, t.idx) == min((x.load, x.total, x.idx) for x in active)
            t.load += weight
            t.total += 1
        else:
            busy = [x for x in active if x.load]
            if not busy:
                continue
            t = busy[pick % len(busy)]
            t.load -= weight
        g.push(t.load, t.total, t.idx)  # every change pushes a new entry; the old one goes stale
    best = g.top(active)
    assert (best.load, best.total, best.idx) == min((x.load, x.total, x.idx) for x in active)


def test_stale_entries_are_dropped_when_they_reach_the_top_and_the_heap_grows_past_its_start_size():
    active = _targets(3)
    g = _LLGroup((1,))
    for t in active:
        g.push(0, 0, t.idx)
    for _ in range(40):  # 40 pushes: far more entries than the 16 the heap starts with
        t = active[0]
        t.load += 1
        t.total += 1
        g.push(t.load, t.total, t.idx)
    assert len(g) == 43
    # (0, 0, 0) is stale (target 0 is at (40, 40)): dropped; (0, 0, 1) is current.
    assert g.top(active) is active[1] and len(g) == 42
    assert g.top(active) is active[1] and len(g) == 42  # a current top stays
    active[1].load = active[2].load = 50
    active[1].total = active[2].total = 1
    g.push(50, 1, 1)
    g.push(50, 1, 2)
    # Now (0, 0, 1), (0, 0, 2) and target 0's loads 1 … 39 are stale and on top: all dropped.
    assert g.top(active) is active[0]
    assert sorted(g.entries()) == [(40, 40, 0), (50, 1, 1), (50, 1, 2)]


def test_stale_entries_that_never_reach_the_top_are_compacted_away():
    active = _targets(4)
    g = _LLGroup((1,))
    g.members = list(active)
    for t in active:
        g.push(0, 0, t.idx)
    # Target 3 takes a burst of 50 requests and keeps them; the others come and go.
    # Its entries of loads 1 … 49 are stale under the others' loads 0 … 1: without
    # compaction they would never reach the top.
    for k in range(50):
        t = active[3]
        t.load += 1
        t.total += 1
        g.push(t.load, t.total, t.idx)
    for _ in range(2000):
        t = g.top(active)
        assert t is not active[3]
        t.load += 1
        t.total += 1
        g.push(t.load, t.total, t.idx)
        t.load -= 1
        g.push(t.load, t.total, t.idx)
        assert len(g) <= 4 * len(active) + 64
    want = min((x.load, x.total, x.idx) for x in active)
    best = g.top(active)
    assert (best.load, best.total, best.idx) == want


def _fresh():  # noqa: ANN202
    """A workload that was never started, and a fresh target of it on APQN 00.0001."""
    wl = build_capacity(adapters=1, domains=4, select="least_loaded").workloads[0]
    return wl, Target(wl, 0x0001, 8)


def test_a_new_target_is_inactive_empty_and_picks_up_after_the_interruption_latency():
    wl, tg = _fresh()
    assert (tg.idx, tg.outstanding, tg.load, tg.total, tg.depth) == (-1, 0, 0, 0, 8)
    assert tg.pickup_ns == wl.irq_latency > 0 and not tg.pending


def test_an_interruption_schedules_one_pickup_after_the_latency():
    wl, tg = _fresh()
    fired = []
    tg.pickup_cbs = (lambda t: fired.append((wl.env.now, t)),)
    wl.env.run(until=1_000)
    tg.on_irq(0x0001)
    assert tg.pending
    wl.env.run(until=1_000 + wl.irq_latency + 1)
    assert fired == [(1_000 + wl.irq_latency, tg)] and not tg.pending


def test_interruptions_while_a_pickup_is_pending_join_it():
    wl, tg = _fresh()
    fired = []
    tg.pickup_cbs = (lambda t: fired.append(wl.env.now),)
    tg.on_irq(None)
    wl.env.run(until=wl.irq_latency // 2)
    tg(0x0001)  # a port calls the target itself
    tg.on_irq(None)
    wl.env.run(until=10 * wl.irq_latency)
    assert fired == [wl.irq_latency]
    tg.on_irq(None)  # after the pickup a new interruption schedules a new one
    wl.env.run(until=20 * wl.irq_latency)
    assert fired == [wl.irq_latency, 10 * wl.irq_latency + wl.irq_latency]


def test_a_weight_is_asked_of_the_weight_function_once_per_request_type():
    wl, tg = _fresh()
    asked = []
    wl.weight_of = lambda apqn, rt: (asked.append((apqn, rt)), 10 + rt)[1]
    assert [tg.weight(2), tg.weight(2), tg.weight(3)] == [12, 12, 13]
    assert asked == [(0x0001, 2), (0x0001, 3)] and tg.weights == {2: 12, 3: 13}


def test_without_a_weight_function_every_request_weighs_one():
    wl, tg = _fresh()
    wl.weight_of = None
    assert tg.weight(5) == 1


def test_the_software_queue_is_made_on_first_use_and_kept():
    wl, tg = _fresh()
    assert tg._held is None
    h = tg.held
    h.append("r")
    assert tg.held is h and list(tg.held) == ["r"]
    assert "held=1" in repr(tg) and "0x0001" in repr(tg)


def test_blocks_are_contiguous_arrays_when_compiled_and_lists_as_python():
    ints, floats = as_block(np.arange(4)), as_block(np.linspace(0, 1, 3))
    if not targets.__file__.endswith(".py"):  # the compiled form
        assert ints.dtype == np.int64 and floats.dtype == np.float64 and ints.flags.c_contiguous
    else:
        assert ints == [0, 1, 2, 3] and isinstance(floats, list)


def test_ties_go_to_fewer_requests_so_far_then_to_the_earlier_target():
    active = _targets(3)
    g = _LLGroup((1,))
    for t, (load, total) in zip(active, [(5, 9), (5, 2), (5, 2)]):
        t.load, t.total = load, total
        g.push(load, total, t.idx)
    assert g.top(active) is active[1]
    active[1].total = 3
    g.push(5, 3, 1)
    assert g.top(active) is active[2]
    active[0].load = 4
    g.push(4, 9, 0)
    assert g.top(active) is active[0]  # load first, whatever the totals
