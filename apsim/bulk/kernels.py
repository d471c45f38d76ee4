"""Vectorized queueing recursions for the bulk mode (numpy, no per-request Python loop).

* :func:`fifo_starts` — start times of a FIFO multi-server queue (an adapter's E
  engines) from acceptance times and service times: the Kiefer–Wolfowitz
  earliest-free-server recursion, start_n = max(a_n, E-th largest completion
  before n). One engine is Lindley's recursion in closed form; several engines
  are solved busy period by busy period, all busy periods in lock step.
* :func:`pickup_starts` — which replies start a new interruption pickup on an
  APQN, given reply-ready times and the pickup latency.

All times are int64 nanoseconds; the results are exactly what the event engine
computes (same integers), which the equivalence tests check.
"""

from __future__ import annotations

from heapq import heapreplace

import numpy as np

from apsim.engine import seq as _seq

_NEG = np.int64(-(1 << 62))


def lindley_starts(a: np.ndarray, s: np.ndarray, free_at: int) -> np.ndarray:
    """Start times on one FIFO server that is busy until *free_at*.

    c_n = max(a_n, c_{n-1}) + s_n unrolls to c_n = S_n + max(free_at, max_{k≤n}(a_k − S_{k−1}))
    with S the running sum of service times, so one cumulative max does it.
    """
    if a.size == 0:
        return a.copy()
    S = np.cumsum(s)
    prev = np.empty_like(S)
    prev[0] = 0
    prev[1:] = S[:-1]
    m = np.maximum.accumulate(a - prev)
    np.maximum(m, free_at, out=m)
    return S + m - s


def _lockstep(a: np.ndarray, s: np.ndarray, start: np.ndarray, ps: np.ndarray, lens: np.ndarray,
              init: np.ndarray, fresh: np.ndarray, nreal: np.ndarray) -> np.ndarray:
    """Simulate busy periods (start index *ps*, length *lens*) in lock step, writing *start*.

    ``init[p]`` is period p's engine free times (sorted; ``_NEG`` for an idle
    engine, ``_POS`` for padding when adapters have fewer engines than columns).
    A *fresh* period starts with all its engines idle (*nreal* real ones), so its
    first *nreal* requests start on arrival and the engines then free at their
    completions: those steps are done in one go. Step j serves the j-th request of
    every period that has one. Returns each period's engine free times at its end.
    """
    E = init.shape[1]
    P = ps.size
    if P == 0:
        return init.copy()
    # Fresh periods: the first min(len, E_real) requests never wait.
    skip = np.where(fresh, np.minimum(lens, nreal), 0)
    if fresh.any():
        st = init.copy()
        for j in range(E):
            sel = np.flatnonzero(skip > j)
            if sel.size == 0:
                break
            idx = ps[sel] + j
            start[idx] = a[idx]
            st[sel, j] = a[idx] + s[idx]
        # free times after the skipped steps: the completions so far (+ idle/padding), sorted
        st.sort(axis=1)
        init = st
    finals = init.copy()
    rem = lens - skip
    live = np.flatnonzero(rem > 0)
    if live.size == 0:
        return finals
    ps = ps[live] + skip[live]
    rem = rem[live]
    order = np.argsort(-rem, kind="stable")
    ps_o = ps[order]
    lens_o = rem[order]
    P = len(ps_o)
    init_o = init[live[order]]
    cols = [np.ascontiguousarray(init_o[:, e]) for e in range(E)]
    maxlen = int(lens_o[0])
    # active[j] = number of periods with more than j requests left (lens_o is descending).
    active = P - np.searchsorted(lens_o[::-1], np.arange(maxlen), side="right")
    tmp = np.empty(P, dtype=np.int64)
    for j in range(maxlen):
        k = int(active[j])
        if k <= _TAIL:
            # A few long periods left: a numpy step costs ~10 calls whatever k is,
            # so finish them one request at a time.
            _tail(a, s, start, ps_o[:k], lens_o[:k], [col[:k] for col in cols], j)
            break
        idx = ps_o[:k] + j
        f = cols[0][:k]
        sj = np.maximum(a[idx], f)
        start[idx] = sj
        v = sj + s[idx]
        if E == 1:
            cols[0][:k] = v
            continue
        # Insert v into the sorted free times cols[1..E-1] (cols[0] leaves):
        # r_0 = min(v, x_1), r_i = max(x_i, min(v, x_{i+1})), r_{E-1} = max(x_{E-1}, v).
        np.minimum(v, cols[1][:k], out=cols[0][:k])
        for e in range(1, E - 1):
            t = tmp[:k]
            np.minimum(v, cols[e + 1][:k], out=t)
            np.maximum(cols[e][:k], t, out=cols[e][:k])
        np.maximum(cols[E - 1][:k], v, out=cols[E - 1][:k])
    # A period's columns are not touched after its last step: they hold its end state.
    finals[live[order]] = np.stack(cols, axis=1)
    return finals


_TAIL = 12  # below this many periods in a step, finish sequentially


def _tail(a: np.ndarray, s: np.ndarray, start: np.ndarray, ps: np.ndarray, lens: np.ndarray,
          cols: list[np.ndarray], j0: int) -> None:
    """Finish periods from step *j0* on with the plain earliest-free-engine loop."""
    E = len(cols)
    for p in range(ps.size):
        lo = int(ps[p]) + j0
        hi = int(ps[p]) + int(lens[p])
        if hi <= lo:
            continue
        h = [int(col[p]) for col in cols]  # sorted: a valid heap
        out = []
        for x, y in zip(a[lo:hi].tolist(), s[lo:hi].tolist(), strict=True):
            f = h[0]
            if f > x:
                x = f
            heapreplace(h, x + y)
            out.append(x)
        start[lo:hi] = out
        h.sort()
        for e in range(E):
            cols[e][p] = h[e]


def fifo_starts(a: np.ndarray, s: np.ndarray, free_at: np.ndarray | list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Start times of FIFO requests on E engines, and the engines' free times afterwards.

    *a* are acceptance times (non-decreasing, acceptance order), *s* service times,
    *free_at* each engine's free time before the first request (E values). The
    engine an accepted request takes is the earliest free one, as an engine that
    frees takes the oldest waiting request; starts are
    start_n = max(a_n, E-th largest of {free_at} ∪ {c_k : k < n}).
    See :func:`fifo_starts_multi` for the method.
    """
    F = np.sort(np.asarray(free_at, dtype=np.int64))
    a = np.asarray(a, dtype=np.int64)
    if a.size and F.size == 1:
        s = np.asarray(s, dtype=np.int64)
        start = lindley_starts(a, s, int(F[0]))
        return start, np.array([max(int(F[0]), int((start + s).max()))], dtype=np.int64)
    start, fas = fifo_starts_multi(a, np.asarray(s, dtype=np.int64), np.zeros(a.size, dtype=np.int64), [F])
    return start, fas[0]


def fifo_starts_multi(a: np.ndarray, s: np.ndarray, seg: np.ndarray,
                      free_at: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """:func:`fifo_starts` for several independent adapters at once.

    *seg* (non-decreasing) says which adapter each request is on; within a
    segment *a* is non-decreasing. ``free_at[k]`` is adapter k's engine free times.

    Compiled (:mod:`apsim.engine.seq`), this is the recursion itself, one pass.
    Otherwise (:func:`fifo_starts_multi_np`): busy periods — stretches that begin with every engine of an adapter idle — are
    independent, so all of them, of all adapters, are simulated side by side.
    Period boundaries are first guessed from the no-wait schedule (which completes
    no later than the real one, so it can only find too many boundaries). A period
    is right if its start state is its predecessor's end state — or, for a period
    simulated from idle engines, if every engine of the predecessor's end state is
    free by its first arrival. Periods that are not are simulated again from their
    predecessor's end state, wave after wave, until all are right (each wave fixes
    at least the first wrong period of every adapter, so it ends).
    """
    if _seq.compiled():
        # The plain recursion, compiled, beats the busy-period solution (same integers).
        return _seq.fifo_multi(a, s, seg, free_at)
    return fifo_starts_multi_np(a, s, seg, free_at)


def fifo_starts_multi_np(a: np.ndarray, s: np.ndarray, seg: np.ndarray,
                         free_at: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """:func:`fifo_starts_multi` in numpy: busy periods of all adapters in lock step."""
    n = int(a.size)
    nseg = len(free_at)
    Fs = [np.sort(np.asarray(f, dtype=np.int64)) for f in free_at]
    E = max(len(f) for f in Fs)
    if n == 0:
        return a.copy(), Fs
    seg_start = np.searchsorted(seg, np.arange(nseg))
    seg_end = np.searchsorted(seg, np.arange(nseg), side="right")
    fmax = np.array([f[-1] for f in Fs], dtype=np.int64)
    first = np.zeros(n, dtype=bool)
    nonempty = seg_end > seg_start
    first[seg_start[nonempty]] = True
    start = a.copy()
    c = a + s
    prevmax = _seg_prev_max(c, seg, first, fmax)
    bound = (a >= prevmax) | first
    ps = np.flatnonzero(bound)
    P = ps.size
    lens = np.diff(np.append(ps, n))
    init = _initial_states(ps, first, seg, Fs, E)
    fresh = ~first[ps]
    pfirst = first[ps]
    nreal = np.array([f.size for f in Fs], dtype=np.int64)
    nr = nreal[seg[ps]]
    finals = _lockstep(a, s, start, ps, lens, init, fresh, nr)
    used = init
    rows = np.arange(P)
    a_ps = a[ps]
    while True:
        prev = np.empty_like(finals)
        prev[1:] = finals[:-1]
        prev[0] = finals[0]
        idle_ok = a_ps >= prev[rows, nr - 1]  # the predecessor's engines are all free by then
        chain_ok = (used == prev).all(axis=1)
        ok = np.where(fresh, idle_ok, chain_ok) | pfirst
        bad = np.flatnonzero(~ok)
        if bad.size == 0:
            break
        bad_init = prev[bad]
        finals[bad] = _lockstep(a, s, start, ps[bad], lens[bad], bad_init,
                                np.zeros(bad.size, dtype=bool), nr[bad])
        if not isinstance(used, np.ndarray) or used is init:
            used = init.copy()
        used[bad] = bad_init
        fresh[bad] = False
    # The engines' free times afterwards are the E latest completions (the initial
    # free times count as completions): exactly what an engine-by-engine run leaves.
    c = start + s
    out = []
    for k in range(nseg):
        lo, hi = int(seg_start[k]), int(seg_end[k])
        F = Fs[k]
        if hi > lo:
            vals = np.concatenate([F, c[lo:hi]])
            e = F.size
            vals = np.partition(vals, vals.size - e)[vals.size - e:] if vals.size > e else vals
            out.append(np.sort(vals))
        else:
            out.append(F)
    return start, out


_POS = np.int64(1 << 62)


def _seg_prev_max(v: np.ndarray, seg: np.ndarray, first: np.ndarray, fmax: np.ndarray) -> np.ndarray:
    """Running maximum of the values before each position, restarted (at fmax) per segment."""
    n = v.size
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    # Offsetting each segment above the previous one keeps the running max inside it.
    off = seg.astype(np.int64) << 50
    acc = np.maximum.accumulate(v + off)
    out[1:] = acc[:-1] - off[1:]
    out[0] = 0
    np.maximum(out, fmax[seg], out=out)
    out[first] = fmax[seg[first]]
    return out


def _initial_states(ps: np.ndarray, first: np.ndarray, seg: np.ndarray, Fs: list[np.ndarray],
                    E: int) -> np.ndarray:
    """Engine free times at the start of each period: idle, or the adapter's state if first."""
    P = ps.size
    init = np.full((P, E), _NEG, dtype=np.int64)
    sizes = np.array([f.size for f in Fs], dtype=np.int64)
    if (sizes < E).any():
        ps_seg = seg[ps]
        for k in np.flatnonzero(sizes < E).tolist():
            init[ps_seg == k, int(sizes[k]):] = _POS  # engines this adapter does not have
    pf = np.flatnonzero(first[ps])
    for p in pf.tolist():
        F = Fs[int(seg[ps[p]])]
        init[p, :F.size] = F
    return init


def pickup_starts(apqn: np.ndarray, done: np.ndarray, latency: int) -> np.ndarray:
    """Which replies start an interruption pickup, per APQN, replies sorted by (apqn, done).

    A reply that is ready while no pickup is pending starts one at ``done + latency``,
    which takes every reply of that APQN ready by then (``done <= start + latency``).
    A reply more than *latency* after the previous one of its APQN always starts a
    pickup; only the rare runs of closely spaced replies need a sequential pass.
    """
    n = int(done.size)
    is_start = np.ones(n, dtype=bool)
    if n <= 1:
        return is_start
    same = apqn[1:] == apqn[:-1]
    close = same & (done[1:] - done[:-1] <= latency)
    is_start[1:] = ~close
    # Inside a run of close replies, walk: a reply joins the current pickup if it is
    # ready by the pickup's time, else it starts the next one.
    cand = np.flatnonzero(close) + 1
    if cand.size:
        ci = cand.tolist()
        dc = done[cand].tolist()
        dp = done[cand - 1].tolist()
        t_pick = 0
        prev = -2
        for i, d_i, d_prev in zip(ci, dc, dp, strict=True):
            if i != prev + 1:
                # A new run: the reply before it is more than `latency` after its own
                # predecessor (or first of its APQN), so it starts a pickup.
                t_pick = d_prev + latency
            if d_i <= t_pick:
                is_start[i] = False
            else:
                is_start[i] = True
                t_pick = d_i + latency
            prev = i
    return is_start
