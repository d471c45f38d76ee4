"""The bulk mode's vectorized recursions against plain sequential references."""

from __future__ import annotations

from heapq import heapreplace

import numpy as np
import pytest

from apsim.bulk import fifo_starts, fifo_starts_multi, lindley_starts, pickup_starts
from apsim.engine import seq
from apsim.bulk.kernels import fifo_starts_multi_np


def kw_reference(a: np.ndarray, s: np.ndarray, free_at) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Earliest-free-engine FIFO, one request at a time."""
    h = sorted(int(x) for x in free_at)
    out = []
    for x, y in zip(a.tolist(), s.tolist(), strict=True):
        f = h[0]
        st = x if x > f else f
        heapreplace(h, st + y)
        out.append(st)
    return np.array(out, dtype=np.int64), np.array(sorted(h), dtype=np.int64)


def pickup_reference(apqn: np.ndarray, done: np.ndarray, latency: int) -> np.ndarray:
    out, pending = [], {}
    for q, d in zip(apqn.tolist(), done.tolist(), strict=True):
        t = pending.get(q)
        if t is not None and d <= t:
            out.append(False)
        else:
            out.append(True)
            pending[q] = d + latency
    return np.array(out, dtype=bool)


@pytest.mark.parametrize("engines", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("rho", [0.3, 0.8, 0.99, 1.3])
def test_fifo_starts_equal_the_sequential_recursion(engines, rho):
    rng = np.random.default_rng(engines * 100 + int(rho * 10))
    for _ in range(4):
        n = int(rng.integers(1, 2500))
        a = np.cumsum(rng.integers(0, int(2000 / engines / rho) + 1, n)).astype(np.int64)
        s = rng.integers(1, 2000, n).astype(np.int64)
        free = rng.integers(0, 4000, engines)
        got, fa = fifo_starts(a, s, free)
        want, wfa = kw_reference(a, s, free)
        assert np.array_equal(got, want)
        assert np.array_equal(fa, wfa)


@pytest.mark.parametrize("kernel", [fifo_starts_multi, fifo_starts_multi_np, seq.fifo_multi],
                         ids=["dispatch", "numpy", "sequential"])
def test_several_adapters_with_different_engine_counts_at_once(kernel):
    rng = np.random.default_rng(11)
    for _ in range(20):
        k = int(rng.integers(1, 6))
        parts, frees, refs = [], [], []
        for seg in range(k):
            e = int(rng.integers(1, 6))
            n = int(rng.integers(0, 600))
            a = np.cumsum(rng.integers(0, int(1500 / e) + 1, n)).astype(np.int64)
            s = rng.integers(1, 2000, n).astype(np.int64)
            f = rng.integers(0, 3000, e)
            parts.append((a, s, np.full(n, seg, dtype=np.int64)))
            frees.append(f)
            refs.append(kw_reference(a, s, f))
        st, fas = kernel(*(np.concatenate([p[i] for p in parts]) for i in range(3)), frees)
        assert np.array_equal(st, np.concatenate([r[0] for r in refs]))
        for got, (_, want) in zip(fas, refs, strict=True):
            assert np.array_equal(got, want)


def test_lindley_closed_form():
    rng = np.random.default_rng(5)
    a = np.cumsum(rng.integers(0, 100, 5000)).astype(np.int64)
    s = rng.integers(1, 120, 5000).astype(np.int64)
    assert np.array_equal(lindley_starts(a, s, 777), kw_reference(a, s, [777])[0])


def test_pickup_grouping_equals_the_event_rule():
    rng = np.random.default_rng(9)
    for _ in range(300):
        n = int(rng.integers(1, 400))
        apqn = np.sort(rng.integers(0, 6, n))
        done = np.concatenate([np.sort(rng.integers(0, 300, int((apqn == q).sum()))) for q in range(6)])
        lat = int(rng.integers(0, 25))
        assert np.array_equal(pickup_starts(apqn, done, lat), pickup_reference(apqn, done, lat))
