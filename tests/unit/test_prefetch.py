"""Round-robin prefetch (Workload._prefetch_rr) is a hint only: it never changes a sample path.

A compiled workload with at least ``prefetch_min`` round-robin targets asks the CPU
to load its next targets, their queues and the queues' lists a few arrivals
ahead. These tests run the same model with the prefetch on and off and compare
every recorded request and the accounting, also across admin events that leave
targets with a stale queue or none at all. In pure Python the prefetch is a
no-op, so lowering the threshold by hand must not break anything there either.
"""

from __future__ import annotations

import numpy as np

from apsim.core import call_at
from apsim.guest import workload as wl_mod
from benchmarks.models import build_capacity

OFF = 1 << 62


def _run(prefetch_min: int, *, admin: bool, n_targets_adapters: int = 16, domains: int = 32):
    model = build_capacity(adapters=n_targets_adapters, domains=domains, guests=1, seed=7)
    for wl in model.workloads:
        wl.prefetch_min = prefetch_min
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
    _same(_run(4, admin=False, n_targets_adapters=1, domains=4),
          _run(OFF, admin=False, n_targets_adapters=1, domains=4))


def test_the_prefetch_threshold_is_set_only_in_the_compiled_form():
    model = build_capacity(adapters=1, domains=4)
    compiled = not wl_mod.__file__.endswith(".py")
    expect = wl_mod.PREFETCH_MIN if compiled else OFF
    assert all(wl.prefetch_min == expect for wl in model.workloads)
