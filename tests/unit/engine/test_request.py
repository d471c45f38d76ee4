"""Finished requests are freed by reference counting (no cycle for the collector to find)."""

from __future__ import annotations

import gc

from apsim.engine.request import Request
from benchmarks.models import build_capacity, time_full, warm_up


def _live_requests() -> int:
    return sum(1 for o in gc.get_objects() if type(o) is Request)


def test_completed_requests_do_not_wait_for_the_cycle_collector():
    m = build_capacity(adapters=2, domains=8, select="least_loaded")
    warm_up(m, 2_000)
    gc.collect()  # earlier tests' garbage out of the count
    before = _live_requests() - m.machine.ledger.in_flight
    was = gc.isenabled()
    gc.disable()
    try:
        t = time_full(m, 20_000)
        in_flight = m.machine.ledger.in_flight
        live = _live_requests() - before
    finally:
        if was:
            gc.enable()
    assert t.requests > 15_000
    # Only requests still in the hardware (or a driver's queue) are alive: a request in
    # a reference cycle would stay until a collection, thousands of them by now.
    assert live <= in_flight + 64, (live, in_flight)
