"""Prefetch hints never change a sample path.

A compiled workload with at least ``prefetch_min`` round-robin targets asks the CPU
to load its next targets, their queues and the queues' lists a few arrivals
ahead (Workload._prefetch_rr); a compiled calendar with at least ``warm_min``
firings pending loads the hook two firings ahead and asks the next one to load
what it points to (Calendar._warm_next, Request._warm). These tests run the same
model with the hints on and off and compare every recorded request and the
accounting, also across admin events that drop requests and leave targets with a
stale queue or none at all. In pure Python both are no-ops, so lowering the
thresholds by hand must not break anything there either.
"""

from __future__ import annotations

import numpy as np

from apsim.engine import calendar as cal_mod
from apsim.engine.calendar import calendar
from apsim.engine.core import call_at
from apsim.engine import workload as wl_mod
from benchmarks.models import build_capacity

OFF = 1 << 62


def _run(prefetch_min: int, *, admin: bool, adapters: int = 16, domains: int = 32,
         warm_min: int = OFF):
    model = build_capacity(adapters=adapters, domains=domains, guests=1, seed=7)
    for wl in model.workloads:
        wl.prefetch_min = prefetch_min
    calendar(model.env).warm_min = warm_min
    m = model.machine
    lp = m.lpar("capacity")
    if admin:
        # Configure two adapters off and on again (their queues drop what they hold),
        # then take four domains away from the LPAR (the targets on them lose their
        # queue: the workload's link for them goes stale, then None).
        call_at(model.env, 2_000_000, lambda _e: m.se_configure(lp, [0, 1], False))
        call_at(model.env, 3_000_000, lambda _e: m.se_configure(lp, [0, 1], True))

        def shrink(_e) -> None:  # noqa: ANN001
            online = sorted(lp.online)
            m.se_configure(lp, online, False)
            m.se_change_lpar_crypto(lp, remove_usage_domains=[3, 4, 5, 6])
            m.se_configure(lp, online, True)

        call_at(model.env, 4_000_000, shrink)
    model.start()
    model.env.run(until=model.horizon_ns(30_000))
    rec = model.recorder.arrays()
    wl = model.workloads[0]
    return rec, (wl.seq, wl.completed, wl.rejected, wl.dropped), m.ledger.submitted, m.ledger.completed


def _same(a, b) -> None:  # noqa: ANN001
    rec_a, acc_a, sub_a, done_a = a
    rec_b, acc_b, sub_b, done_b = b
    assert set(rec_a) == set(rec_b)
    for k in rec_a:
        assert np.array_equal(rec_a[k], rec_b[k]), k
    assert acc_a == acc_b and sub_a == sub_b and done_a == done_b


def test_prefetch_on_and_off_give_the_same_sample_path_on_512_round_robin_targets():
    on = _run(wl_mod.PREFETCH_MIN, admin=False)
    off = _run(OFF, admin=False)
    assert len(on[0]["t_done"]) > 20_000  # the run did issue and finish requests
    _same(on, off)


def test_prefetch_changes_nothing_when_admin_events_leave_targets_without_a_queue():
    on = _run(wl_mod.PREFETCH_MIN, admin=True)
    off = _run(OFF, admin=True)
    acc = on[1]
    assert acc[2] > 0 or acc[3] > 0  # the admin events did reject or drop requests
    _same(on, off)


def test_a_prefetch_threshold_below_the_target_count_is_harmless_in_either_form():
    # Four targets only: every index wraps, in compiled form; a no-op in pure Python.
    _same(_run(4, admin=False, adapters=1, domains=4),
          _run(OFF, admin=False, adapters=1, domains=4))
    # One and two targets: the prefetch must not index past the list.
    for domains in (1, 2):
        _same(_run(1, admin=False, adapters=1, domains=domains),
              _run(OFF, admin=False, adapters=1, domains=domains))


def test_calendar_thresholds_down_to_zero_are_harmless():
    # warm_min 0 asks for a warm-up even when the firing just popped was the last one.
    _same(_run(OFF, admin=False, adapters=1, domains=2, warm_min=0),
          _run(OFF, admin=False, adapters=1, domains=2))


def test_calendar_warm_up_on_and_off_give_the_same_sample_path_with_many_firings_pending():
    # 16 adapters at rho 0.7 keep about 60 requests in flight: warm_min 8 makes the
    # calendar warm up nearly every firing (a no-op in pure Python).
    on = _run(OFF, admin=True, warm_min=8)
    off = _run(OFF, admin=True)
    _same(on, off)
    _same(_run(wl_mod.PREFETCH_MIN, admin=True, warm_min=cal_mod.WARM_MIN), off)


def test_the_prefetch_thresholds_are_set_only_in_the_compiled_form():
    model = build_capacity(adapters=1, domains=4)
    compiled = not wl_mod.__file__.endswith(".py")
    assert compiled == (not cal_mod.__file__.endswith(".py"))
    assert all(wl.prefetch_min == (wl_mod.PREFETCH_MIN if compiled else OFF) for wl in model.workloads)
    assert calendar(model.env).warm_min == (cal_mod.WARM_MIN if compiled else OFF)
