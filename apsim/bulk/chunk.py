"""One bulk stretch: service times, engine starts, pickups and the driver's slot limit
computed over whole arrays, and the recorder rows and counters they produce."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from apsim.bulk.kernels import fifo_starts_multi, pickup_starts
from apsim.bulk.state import _CARRY_COLS, _State, _T_BITS
from apsim.engine.export import add_adapter_service, add_interruptions, add_queue_occupancy


@dataclass
class BulkStats:
    """What one :func:`run_window` call did."""

    bulk_requests: int = 0  # requests dequeued inside bulk stretches
    bulk_ns: int = 0  # simulated time covered by bulk stretches
    event_ns: int = 0  # simulated time the event engine ran (fallbacks, foreign events)
    stretches: int = 0
    fallbacks: Counter = field(default_factory=Counter)  # reason -> times

# --------------------------------------------------------------------------------------
# One chunk
# --------------------------------------------------------------------------------------
def _stable_argsort_small(x: np.ndarray, n_values: int) -> np.ndarray:
    """Stable argsort of small non-negative ints (numpy radix-sorts 16-bit keys)."""
    if n_values <= 1 << 16:
        return np.argsort(x.astype(np.uint16), kind="stable")
    return np.argsort(x, kind="stable")


def _schedule(st: _State, a: np.ndarray, ty: np.ndarray, tg: np.ndarray) -> tuple:
    """Service draws (per adapter, acceptance order) and engine start times of new requests."""
    n = a.size
    nad = len(st.adapters)
    ad_of = st.tad[tg]
    svc = np.empty(n, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    if n == 0:
        z = np.zeros(nad, dtype=np.int64)
        return svc, np.empty(0, dtype=np.int64), order, list(st.free_at), z, z
    if nad > 1:
        o = _stable_argsort_small(ad_of, nad)
        seg = ad_of[o]
        a_o = a[o]
        ty_o = ty[o]
    else:
        o = None
        seg = ad_of
        a_o, ty_o = a, ty
    cuts = np.searchsorted(seg, np.arange(nad + 1))
    svc_o = np.empty(n, dtype=np.int64)
    for k in np.flatnonzero(cuts[1:] > cuts[:-1]).tolist():
        lo, hi = int(cuts[k]), int(cuts[k + 1])
        svc_o[lo:hi] = st.adapters[k].sampler.draw_many(ty_o[lo:hi])
    start_o, new_fa = fifo_starts_multi(a_o, svc_o, seg, st.free_at)
    n_ad = np.diff(cuts)
    cs = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(svc_o, out=cs[1:])
    svc_ad = cs[cuts[1:]] - cs[cuts[:-1]]
    if nad > 1:
        svc[o] = svc_o
        start = np.empty(n, dtype=np.int64)
        start[o] = start_o
        base = np.asarray(st.ad_order, dtype=np.int64)
        order[o] = base[seg] + 1 + (np.arange(n) - cuts[seg])
    else:
        svc, start = svc_o, start_o
        order = st.ad_order[0] + 1 + np.arange(n, dtype=np.int64)
    return svc, start, order, new_fa, n_ad, svc_ad


def _groups(st: _State, tgt: np.ndarray, wl: np.ndarray, done: np.ndarray, order: np.ndarray) -> tuple:
    """Pickups of every known request.

    *tgt*, *done* are in acceptance order (carry first, then new requests). Returns
    (sort order by (target, t_done, acceptance), pickup time and position in the
    pickup of each sorted request, the request that started its pickup, and
    the position of each sorted request within its target's requests in acceptance
    order — or None when completions came out of acceptance order).
    """
    n = tgt.size
    T = len(st.targets)
    # Requests of one APQN mostly complete in acceptance order: a stable radix sort
    # by target then gives (target, t_done, acceptance) order; fix the exceptions.
    srt = _stable_argsort_small(tgt, T)
    o_acc = srt  # (target, acceptance) order
    s_tgt = tgt[srt]
    s_done = done[srt]
    in_order = True
    if n > 1:
        same = s_tgt[1:] == s_tgt[:-1]
        bad = same & (s_done[1:] < s_done[:-1])
        if bad.any():
            # A stable sort of the nearly sorted packed keys (timsort: fast on runs)
            # keeps acceptance order among equal (target, t_done).
            in_order = False
            o2 = np.argsort((s_tgt << _T_BITS) | s_done, kind="stable")
            srt = srt[o2]
            s_tgt = s_tgt[o2]
            s_done = s_done[o2]
    if st.one_latency:
        L = int(st.latency[0])
        is_start = pickup_starts(s_tgt, s_done, L)
        lat: np.ndarray | int = L
    else:
        lat = st.latency[wl[srt]]
        is_start = np.empty(n, dtype=bool)
        for Lv in np.unique(lat).tolist():
            sel = np.flatnonzero(lat == Lv)
            is_start[sel] = pickup_starts(s_tgt[sel], s_done[sel], int(Lv))
    gid = np.cumsum(is_start) - 1
    gstart = np.flatnonzero(is_start)
    e_s = s_done[gstart][gid] + lat
    k_s = np.arange(n) - gstart[gid] + 1
    return srt, e_s, k_s, srt[gstart][gid], in_order, s_tgt, o_acc


def _first_full(st: _State, tg: np.ndarray, a: np.ndarray, grp: tuple, all_tgt: np.ndarray,
                n_c: int) -> int | None:
    """Index of the first new arrival whose APQN has all its driver slots in use, or None.

    Slots in use at arrival i on target q: requests of q accepted before i (those
    in flight at the start plus earlier new ones) minus those whose pickup ran by
    a_i (a pickup at the same nanosecond counts as before the arrival: its event
    was scheduled first).

    A cheap screen first: the slots can only all be in use if the request *depth*
    places earlier on the same APQN is still in flight, i.e. arrived less than
    the longest time any request stays (NQAP to pickup) before. Only arrivals
    that pass the screen (rare below saturation) are counted exactly.
    """
    n = a.size
    if n == 0:
        return None
    srt, e_s, o_acc = grp[0], grp[1], grp[6]
    c = st.carry
    sub = np.concatenate([c["t_sub"], a]) if n_c else a
    e_all = np.empty(sub.size, dtype=np.int64)
    e_all[srt] = e_s
    stay = int((e_all - sub).max())
    tq = all_tgt[o_acc]
    aq = sub[o_acc]
    dmax = int(st.depth.max())
    cand_parts = []
    for d in np.unique(st.depth).tolist() if st.depth.min() != dmax else [dmax]:
        if aq.size <= d:
            continue
        hit = (tq[d:] == tq[:-d]) & (aq[d:] - aq[:-d] < stay)
        if st.depth.min() != dmax:
            hit &= st.depth[tq[d:]] == d
        cand_parts.append(np.flatnonzero(hit) + d)
    cand = np.concatenate(cand_parts) if cand_parts else np.empty(0, dtype=np.int64)
    cand = o_acc[cand]
    cand = np.sort(cand[cand >= n_c]) - n_c  # new arrivals only, in acceptance order
    if cand.size == 0:
        return None
    T = len(st.targets)
    cnt = np.bincount(all_tgt, minlength=T)
    seg0 = np.zeros(T, dtype=np.int64)
    np.cumsum(cnt[:-1], out=seg0[1:])
    pos = np.empty(all_tgt.size, dtype=np.int64)
    pos[o_acc] = np.arange(all_tgt.size)
    qt = tg[cand]
    before = pos[cand + n_c] - seg0[qt]
    # pickup times per target are non-decreasing in (target, t_done) order
    ekey = (all_tgt[srt] << _T_BITS) | e_s
    done_by = np.searchsorted(ekey, (qt << _T_BITS) | a[cand], side="right") - seg0[qt]
    full = np.flatnonzero(before - done_by >= st.depth[qt])
    return int(cand[full[0]]) if full.size else None


def _chunk(st: _State, t0: int, t1: int, stats: BulkStats) -> int | None:
    """Simulate the arrivals in [t0, t1); return the handover time if a slot limit binds, else None."""
    nw = len(st.wls)
    parts = []
    for wi, sm in enumerate(st.streams):
        at, ty, un, jj = sm.generate(t1)
        nt = int(st.wl_nt[wi])
        loc = (un * nt).astype(np.int64) if sm.random else (sm.rr0 + 1 + jj) % nt
        if st.wl_first_t[wi]:
            loc += st.wl_first_t[wi]
        parts.append((at, ty, loc, jj))
    if nw == 1:
        a, ty, tg, jj = parts[0]
        w = np.zeros(a.size, dtype=np.int64)
    else:
        a, ty, tg, jj = (np.concatenate([p[i] for p in parts]) for i in range(4))
        w = np.concatenate([np.full(p[0].size, wi, dtype=np.int64) for wi, p in enumerate(parts)])
        o = np.lexsort((w, a))  # acceptance order: time, then workload (exact ties are rare)
        a, ty, tg, w, jj = a[o], ty[o], tg[o], w[o], jj[o]
    snaps = [ad.sampler.snapshot() for ad in st.adapters]
    sched = _schedule(st, a, ty, tg)
    allc, grp = _pickups(st, tg, w, sched)
    v = _first_full(st, tg, a, grp, allc[0], int(st.carry["tgt"].size))
    t_end = t1
    if v is not None:
        # The driver holds arrival v: process only the arrivals before it.
        t_end = int(a[v])
        for ad, sn in zip(st.adapters, snaps, strict=True):
            ad.sampler.restore(sn)
        a, ty, tg, w, jj = a[:v], ty[:v], tg[:v], w[:v], jj[:v]
        sched = _schedule(st, a, ty, tg)
        allc, grp = _pickups(st, tg, w, sched)
        for wi, sm in enumerate(st.streams):
            mine = jj[w == wi]
            sm.rewind(int(mine[-1]) + 1 if mine.size else sm.chunk[0])
    _finish(st, t0, t_end, {"a": a, "ty": ty, "tg": tg, "w": w, "jj": jj}, sched, allc, grp, stats)
    return t_end if v is not None else None


def _pickups(st: _State, tg: np.ndarray, w: np.ndarray, sched: tuple) -> tuple:
    c = st.carry
    svc, start, order = sched[0], sched[1], sched[2]
    done = start + svc
    if c["tgt"].size:
        allc = (np.concatenate([c["tgt"], tg]), np.concatenate([c["wl"], w]),
                np.concatenate([c["t_done"], done]), np.concatenate([c["order"], order]))
    else:
        allc = (tg, w, done, order)
    return allc, _groups(st, *allc)


def _finish(st: _State, t0: int, t_end: int, new: dict[str, np.ndarray], sched: tuple,
            allc: tuple, grp: tuple, stats: BulkStats) -> None:
    """Emit the rows of pickups before *t_end*, update every counter, carry the rest.

    *new* holds the new arrivals' columns (a, ty, tg, w, jj), *sched* their
    (svc, start, order, new free times, per-adapter counts, per-adapter service
    sums), *allc* the concatenated (carry + new) target, workload, t_done and
    acceptance-order columns, *grp* the pickups over them.
    """
    c = st.carry
    n_c = int(c["tgt"].size)
    a, ty, tg, w, jj = new["a"], new["ty"], new["tg"], new["w"], new["jj"]
    svc, start, _order, new_fa, n_ad, svc_ad = sched
    all_tgt, all_wl, all_done, all_order = allc
    n_new = int(a.size)
    srt, e_s, k_s, gfirst, _inord, s_tgt, _o_acc = grp
    fin_s = e_s < t_end
    T = len(st.targets)
    nw = len(st.wls)
    n_fin = int(np.count_nonzero(fin_s))
    if n_fin:
        # Nearly every request is picked up inside its chunk: dropping the few that
        # are not (np.delete copies contiguous runs) beats boolean indexing.
        nf = np.flatnonzero(~fin_s) if n_fin < fin_s.size else np.empty(0, dtype=np.int64)

        def keep(x: np.ndarray) -> np.ndarray:
            return np.delete(x, nf) if nf.size else x

        fin = keep(srt)
        e_f = keep(e_s)
        k_f = keep(k_s)
        # the event engine's row order: pickup time, pickup event (scheduled at the
        # acceptance of the reply that started it), position in the pickup. Rows
        # come sorted by target then time, so a stable sort by time merges runs;
        # equal pickup times of different pickups need the event order (rare).
        o = np.argsort(e_f, kind="stable")
        g_f = keep(gfirst)
        es = e_f[o]
        if es.size > 1:
            gs = g_f[o]
            tie = np.flatnonzero((es[1:] == es[:-1]) & (gs[1:] != gs[:-1]))
            if tie.size:
                o = _order_ties(st, o, es, g_f, k_f, n_c)
        fo = fin[o]
        wl_f = all_wl[fo] if nw > 1 else None
        tgt_f = all_tgt[fo]
        # columns of (carry + new) without concatenating: take from the new arrays,
        # then patch the few rows that come from the carry
        fn = fo - n_c
        from_c = np.flatnonzero(fn < 0) if n_c else np.empty(0, dtype=np.int64)

        def col(carry_col: np.ndarray, new_col: np.ndarray) -> np.ndarray:
            if new_col.size == 0:
                # No new arrival in this chunk: every finished row comes from the carry.
                return np.asarray(carry_col)[fo].astype(np.int64, copy=False)
            out = new_col.take(fn, mode="clip")
            if from_c.size:
                out[from_c] = carry_col[fo[from_c]]
            return out

        dq = st.dq[wl_f] if nw > 1 else int(st.dq[0])
        st.recorder.extend({
            "owner": st.owners[wl_f] if nw > 1 else np.full(n_fin, st.owners[0], dtype=np.int64),
            "apqn": st.apqns[tgt_f], "rtype": (rt_f := col(c["rtype"], ty)),
            "t_submit": col(c["t_sub"], a), "t_start": col(c["t_start"], start),
            "t_done": all_done[fo], "t_deq": es + k_f[o] * dq})
        stats.bulk_requests += n_fin
        f_tgt = keep(s_tgt)
        deq_t = np.bincount(f_tgt, minlength=T)
        occ_plus = _seg_sums(f_tgt, e_f, T)  # f_tgt is sorted
        fin_wl = np.bincount(wl_f, minlength=nw) if nw > 1 else np.array([n_fin])
        # replies settled before the window were counted then (interruption count)
        fc = fo[from_c]
        pre = np.bincount(c["tgt"][fc][c["settled"][fc] == 1], minlength=T) if fc.size else 0
    else:
        deq_t = np.zeros(T, dtype=np.int64)
        occ_plus = deq_t
        fin_wl = np.zeros(nw, dtype=np.int64)
        pre = 0
    acc_t = np.bincount(tg, minlength=T)
    o_new = grp[6][grp[6] >= n_c] - n_c  # new arrivals in (target, acceptance) order
    occ = occ_plus - _seg_sums(tg[o_new], a[o_new], T)
    settle_t = deq_t - pre
    # zcrypt load: + weight of each request dispatched, − weight of each finished
    load_d = None
    if st.wtab is not None:
        load_d = np.bincount(tg, weights=st.wtab[tg, ty], minlength=T)
        if n_fin:
            load_d = load_d - np.bincount(tgt_f, weights=st.wtab[tgt_f, rt_f], minlength=T)
        load_d = np.rint(load_d).astype(np.int64)
    for i in np.flatnonzero(acc_t + deq_t).tolist():
        q = st.tq[i]
        na, nd = int(acc_t[i]), int(deq_t[i])
        q.touched += na + nd
        q.nqap_count += na
        q.dqap_count += nd
        add_interruptions(q, int(settle_t[i]))
        q.count += na - nd
        add_queue_occupancy(q, int(occ[i]))
        tgo = st.targets[i]
        tgo.outstanding += na - nd
        tgo.total += na
        tgo.load += int(load_d[i]) if load_d is not None else na - nd
    st.ledger.submitted += n_new
    st.ledger.completed += n_fin
    for wi in np.flatnonzero(fin_wl).tolist():
        st.wls[wi].completed += int(fin_wl[wi])
    for k in np.flatnonzero(n_ad).tolist():
        ad = st.adapters[k]
        add_adapter_service(ad, int(n_ad[k]), int(svc_ad[k]))
        st.ad_order[k] += int(n_ad[k])
    if n_new:
        st.free_at = new_fa
        # each workload's next arrival was scheduled when its last arrival was processed
        if nw == 1:
            st.arr_key[0] = st.base_key + n_new - 1
        else:
            ow = _stable_argsort_small(w, nw)
            cuts = np.searchsorted(w[ow], np.arange(nw + 1))
            for wi in np.flatnonzero(cuts[1:] > cuts[:-1]).tolist():
                st.arr_key[wi] = st.base_key + int(ow[cuts[wi + 1] - 1])
    # carry what is not picked up yet (a few requests per APQN at most)
    ki = np.sort(srt[nf]) if n_fin else np.arange(n_c + n_new)
    kc, kn = ki[ki < n_c], ki[ki >= n_c] - n_c
    seq0 = np.array([sm.seq0 for sm in st.streams], dtype=np.int64)
    fresh = {
        "tgt": tg[kn], "wl": w[kn], "rtype": ty[kn], "t_sub": a[kn], "t_start": start[kn],
        "t_done": start[kn] + svc[kn], "svc": svc[kn], "order": _order[kn],
        "key": st.base_key + kn, "seq": seq0[w[kn]] + jj[kn] + 1,
        "settled": np.zeros(kn.size, dtype=np.int64)}
    st.carry = {k: np.concatenate([c[k][kc], fresh[k]]) for k in _CARRY_COLS}
    old = st.carry_obj
    st.carry_obj = [old[i] for i in kc.tolist()] + [None] * int(kn.size)
    st.base_key += n_new
    stats.bulk_ns += t_end - t0


def _seg_sums(sorted_idx: np.ndarray, vals: np.ndarray, n: int) -> np.ndarray:
    """Exact int64 sums of *vals* per index, *sorted_idx* non-decreasing."""
    out = np.zeros(n, dtype=np.int64)
    if sorted_idx.size == 0:
        return out
    cs = np.zeros(vals.size + 1, dtype=np.int64)
    np.cumsum(vals, out=cs[1:])
    cuts = np.searchsorted(sorted_idx, np.arange(n + 1))
    return cs[cuts[1:]] - cs[cuts[:-1]]


def _order_ties(st: _State, o: np.ndarray, es: np.ndarray, g_f: np.ndarray, k_f: np.ndarray,
                n_c: int) -> np.ndarray:
    """Reorder rows whose pickups share a time: by pickup event (its key), then position."""
    o = o.copy()
    eq = np.flatnonzero(np.diff(es) == 0)
    starts = eq[np.concatenate([[True], np.diff(eq) > 1])] if eq.size else eq
    for s0 in starts.tolist():
        s1 = s0 + 1
        while s1 + 1 < es.size and es[s1 + 1] == es[s0]:
            s1 += 1
        seg = o[s0:s1 + 1]
        keys = _keys(st, g_f[seg], n_c)
        o[s0:s1 + 1] = seg[np.lexsort((k_f[seg], keys))]
    return o


def _keys(st: _State, idx: np.ndarray, n_c: int) -> np.ndarray:
    """Scheduling keys of requests given by index into (carry + new)."""
    out = st.base_key + (idx - n_c)
    m = idx < n_c
    if m.any():
        out[m] = st.carry["key"][idx[m]]
    return out
