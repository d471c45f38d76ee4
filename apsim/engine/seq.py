# cython: boundscheck=False, wraparound=False
"""Sequential forms of the bulk mode's recursions, compiled with the request path.

The numpy kernels in :mod:`apsim.bulk.kernels` avoid a Python loop per request
by solving busy periods side by side. Compiled, the plain recursion is cheaper
still: one pass, a few machine instructions per request. :func:`compiled` says
whether this module runs as C; the kernels use it then and keep the numpy forms
otherwise (run as Python, these loops would be the slow path). Both give the
same integers, which tests/unit/bulk/test_kernels.py checks.
"""

from __future__ import annotations

import numpy as np

_COMPILED = not __file__.endswith(".py")


def compiled() -> bool:
    """Whether this module is the compiled extension."""
    return _COMPILED


def fifo_multi(a: np.ndarray, s: np.ndarray, seg: np.ndarray,
               free_at: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Earliest-free-engine FIFO start times for requests of several adapters at once.

    *seg* (non-decreasing) is each request's adapter, ``free_at[k]`` adapter k's
    engine free times; within a segment *a* is non-decreasing. Every request
    takes the engine that frees first and starts at max(arrival, that time)
    (Kiefer–Wolfowitz). Returns the start times and each adapter's engine free
    times afterwards, sorted.
    """
    n = a.shape[0]
    nseg = len(free_at)
    cnt = np.array([len(f) for f in free_at], dtype=np.int64)
    off_np = np.zeros(nseg + 1, dtype=np.int64)
    np.cumsum(cnt, out=off_np[1:])
    eng_np = np.concatenate([np.asarray(f, dtype=np.int64) for f in free_at]) if nseg else \
        np.zeros(0, dtype=np.int64)
    start_np = np.empty(n, dtype=np.int64)
    av = np.ascontiguousarray(a, dtype=np.int64)
    sv = np.ascontiguousarray(s, dtype=np.int64)
    gv = np.ascontiguousarray(seg, dtype=np.int64)
    _fifo_loop(av, sv, gv, off_np, eng_np, start_np, n)
    out = [np.sort(eng_np[off_np[k]:off_np[k + 1]]) for k in range(nseg)]
    return start_np, out


def _fifo_loop(a, s, seg, off, eng, start, n: int) -> None:  # noqa: ANN001 - typed in seq.pxd
    for i in range(n):
        k = seg[i]
        lo = off[k]
        hi = off[k + 1]
        best = lo
        f = eng[lo]
        for j in range(lo + 1, hi):
            if eng[j] < f:
                f = eng[j]
                best = j
        t = a[i]
        if f > t:
            t = f
        start[i] = t
        eng[best] = t + s[i]
