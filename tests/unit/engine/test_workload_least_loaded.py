"""zcrypt's least-loaded choice inside one weight class (apsim.engine.targets._LLGroup)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from apsim.engine.targets import Target, _LLGroup
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
