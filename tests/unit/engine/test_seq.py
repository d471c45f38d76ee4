"""The sequential FIFO recursion (apsim.engine.seq.fifo_multi): every request takes its
adapter's earliest-free engine and starts at max(arrival, that engine's free time)."""

from __future__ import annotations

import numpy as np

from apsim.engine import seq


def _i64(*v: int) -> np.ndarray:
    return np.array(v, dtype=np.int64)


def test_a_request_starts_at_its_arrival_on_an_idle_engine_and_waits_for_a_busy_one():
    start, free = seq.fifo_multi(_i64(0, 1, 2), _i64(10, 10, 10), _i64(0, 0, 0), [_i64(0)])
    assert start.tolist() == [0, 10, 20]
    assert [f.tolist() for f in free] == [[30]]


def test_each_request_takes_the_engine_that_frees_first():
    start, free = seq.fifo_multi(_i64(0, 0, 0, 0), _i64(5, 7, 3, 1), _i64(0, 0, 0, 0), [_i64(0, 2)])
    # engines free at 0 and 2: r0 on e0 (0..5), r1 on e1 (2..9), r2 on e0 (5..8), r3 on e0 (8..9)
    assert start.tolist() == [0, 2, 5, 8]
    assert [f.tolist() for f in free] == [[9, 9]]


def test_adapters_are_independent_segments_and_come_back_sorted():
    start, free = seq.fifo_multi(_i64(0, 3, 0, 0), _i64(4, 4, 6, 6), _i64(0, 0, 1, 1),
                                 [_i64(0), _i64(10, 1)])
    assert start.tolist() == [0, 4, 1, 7]
    assert [f.tolist() for f in free] == [[8], [10, 13]]


def test_random_segments_match_a_plain_python_recursion():
    rng = np.random.default_rng(11)
    n, nseg = 300, 3
    seg = np.sort(rng.integers(0, nseg, n)).astype(np.int64)
    a = np.concatenate([np.sort(rng.integers(0, 10_000, int((seg == k).sum()))) for k in range(nseg)])
    s = rng.integers(1, 400, n).astype(np.int64)
    free_at = [rng.integers(0, 500, k + 1).astype(np.int64) for k in range(nseg)]
    want_free = [sorted(f.tolist()) for f in free_at]
    want = []
    for i in range(n):
        eng = want_free[seg[i]]
        j = min(range(len(eng)), key=eng.__getitem__)
        t = max(int(a[i]), eng[j])
        want.append(t)
        eng[j] = t + int(s[i])
    start, free = seq.fifo_multi(a.astype(np.int64), s, seg, [f.copy() for f in free_at])
    assert start.tolist() == want
    assert [f.tolist() for f in free] == [sorted(f) for f in want_free]


def test_no_requests_leave_the_engines_as_they_were_sorted():
    start, free = seq.fifo_multi(_i64(), _i64(), _i64(), [_i64(5, 1)])
    assert start.tolist() == [] and [f.tolist() for f in free] == [[1, 5]]


def test_compiled_says_whether_the_module_is_the_extension():
    assert seq.compiled() == (not seq.__file__.endswith(".py"))
