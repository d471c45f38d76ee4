"""The bulk mode reproduces the event engine's sample path exactly where their semantics coincide.

Each case runs one model twice — all in full (event) mode, and with
:func:`apsim.bulk.run_window` for a window then full mode again — and compares
every recorder row (in order), the ledger, every adapter's and queue's counters
and the workloads' state, including the generators' positions, so the hand-back
to the event engine is checked too.
"""

from __future__ import annotations

import numpy as np
import pytest

from apsim.bulk import applicable, run_window
from apsim.engine.core import call_at
from apsim.engine.instructions import Executor
from apsim.engine.recorder import COLUMNS
from benchmarks.models import build_capacity

MS = 1_000_000


def snapshot(m) -> dict:  # noqa: ANN001
    cols = m.recorder.arrays()
    mach = m.machine
    return {
        "rows": np.stack([cols[k] for k in COLUMNS]),
        "ledger": mach.ledger.summary(),
        "adapters": [(a, ad.completed, ad.busy_ns, ad.free, ad._order, ad._svc_sum, sorted(ad._free_at))
                     for a, ad in sorted(mach.adapters.items())],
        "queues": [(q.apqn, q.touched, q.nqap_count, q.dqap_count, q.irq_count, q._occ_sum, q.count,
                    sorted((r.psmid, r.state, r.t_start, r.t_done) for r in q.live))
                   for ad in mach.adapters.values() for q in ad.queues.values()],
        "workloads": [(wl.seq, wl.completed, wl.rr, wl._ti, wl._gi, wl._ui, wl.rng.bit_generator.state,
                       [(t.outstanding, t.load, t.total) for t in wl._active]) for wl in m.workloads],
    }


def run_pair(window_ms: int, tail_ms: int = 10, admin=None, **kw) -> tuple[dict, dict, object]:  # noqa: ANN001
    T = window_ms * MS
    full = build_capacity(**kw)
    full.start()
    if admin:
        admin(full)
    full.env.run(until=T + tail_ms * MS)
    bulk = build_capacity(**kw)
    bulk.start()
    if admin:
        admin(bulk)
    stats = run_window(bulk.env, bulk.workloads, T)
    bulk.env.run(until=T + tail_ms * MS)
    return snapshot(full), snapshot(bulk), stats


def assert_same(a: dict, b: dict) -> None:
    assert a["rows"].shape == b["rows"].shape
    assert np.array_equal(a["rows"], b["rows"]), "recorder rows differ"
    for k in ("ledger", "adapters", "queues", "workloads"):
        assert a[k] == b[k], k


@pytest.mark.parametrize("kw", [
    dict(),                                             # the standard capacity model
    dict(guests=3, select="random"),                    # several issuers, random selection
    dict(engines=1, rho=0.9),                           # one engine: Lindley's recursion
    dict(engines=5, adapters=2, domains=8, rho=0.95),   # five engines, busy
    dict(guests=7, adapters=3, domains=5, rho=0.8),     # APQNs split unevenly between issuers
], ids=["capacity", "random-3-issuers", "lindley", "5-engines", "7-issuers"])
def test_bulk_window_equals_full_mode(kw):
    full, bulk, stats = run_pair(150, **kw)
    assert stats.bulk_requests > 0
    assert_same(full, bulk)


def test_zcrypt_weights_are_carried_in_the_load_bookkeeping():
    def weighted(**kw):  # noqa: ANN003, ANN202
        m = build_capacity(**kw)
        for wl in m.workloads:
            wl.weight_of = lambda q, rt: 2 + (q & 3)
            wl._w1 = wl._fast = False
        return m

    full, bulk = weighted(guests=2), weighted(guests=2)
    full.start()
    full.env.run(until=80 * MS)
    bulk.start()
    stats = run_window(bulk.env, bulk.workloads, 80 * MS)
    assert stats.bulk_requests > 0
    assert_same(snapshot(full), snapshot(bulk))
    assert any(t.load for wl in bulk.workloads for t in wl._active)


def test_slot_limit_hands_over_to_the_event_engine_and_back():
    # Two APQNs per adapter near saturation: the driver's 8 slots fill now and then.
    full, bulk, stats = run_pair(300, rho=0.98, adapters=2, domains=2)
    assert stats.fallbacks["slot limit"] >= 1
    assert stats.bulk_requests > 0
    assert_same(full, bulk)


def test_a_foreign_event_inside_the_window_runs_in_the_event_engine():
    def admin(m):  # noqa: ANN001
        lp = m.machine.lpars["capacity"]
        cpu = Executor(m.machine, lp.config)
        # resets under load: every queue of adapter 0
        call_at(m.env, 40 * MS + 7, lambda ev: [cpu.rapq(q) for q in sorted(lp.queues) if q < 0x100])
        call_at(m.env, 90 * MS + 11, lambda ev: m.machine.set_busy(1, 2 * MS))
    full, bulk, stats = run_pair(150, admin=admin)
    assert stats.fallbacks["foreign event"] >= 1 and stats.bulk_requests > 0
    assert full["ledger"]["dropped"], "the reset dropped requests"
    # While the queue resets, and after it (the reset disabled the queue's
    # interruptions, so its replies are never picked up) the event engine runs.
    assert stats.fallbacks["queue state refuses instructions"] >= 1
    assert stats.fallbacks["interruptions not routed to the workload"] >= 1
    assert_same(full, bulk)


def test_chunking_does_not_change_the_result():
    a = build_capacity(guests=2)
    b = build_capacity(guests=2)
    for m, chunk in ((a, 1 << 8), (b, 1 << 20)):
        m.start()
        run_window(m.env, m.workloads, 100 * MS, chunk_requests=chunk)
    assert_same(snapshot(a), snapshot(b))


def test_applicable_names_what_stops_the_bulk_mode():
    m = build_capacity(select="least_loaded")
    m.start()
    assert "least_loaded" in applicable(m.workloads)
    m = build_capacity(reply="poll")
    m.start()
    assert applicable(m.workloads) == "poll pickup"
    m = build_capacity()
    m.start()
    assert applicable(m.workloads) is None


def test_inapplicable_windows_still_advance_exactly_in_full_mode():
    full, bulk, stats = run_pair(60, select="least_loaded")
    assert stats.bulk_requests == 0 and stats.fallbacks
    assert_same(full, bulk)


def test_window_after_an_event_engine_stretch_with_requests_in_flight():
    """The runner alternates env.run and run_window: the window starts with requests in
    flight (and SimPy's spent `until` event on the heap)."""
    full = build_capacity(guests=2)
    full.start()
    full.env.run(until=130 * MS)
    bulk = build_capacity(guests=2)
    bulk.start()
    bulk.env.run(until=20 * MS)
    assert sum(q.count for ad in bulk.machine.adapters.values() for q in ad.queues.values()) > 0
    stats = run_window(bulk.env, bulk.workloads, 70 * MS)
    bulk.env.run(until=90 * MS)
    run_window(bulk.env, bulk.workloads, 130 * MS)
    assert stats.bulk_requests > 0
    assert_same(snapshot(full), snapshot(bulk))
