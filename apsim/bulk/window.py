"""Bulk mode: simulate a stationary window with vectorized recursions instead of events.

Between admin events an AP configuration is stationary: open-loop Poisson
workloads send to fixed APQNs, each FIFO adapter serves what its queues accept,
and every reply is picked up a fixed latency after its interruption. Every
request's fate then follows from a few recursions over whole arrays:

1. arrival times, request types and (random) targets come from each workload's
   own generator, in the same block draws and the same order as the event engine;
2. round-robin or random selection maps each arrival to an APQN;
3. service times are drawn per adapter in acceptance order (``draw_many`` gives
   what successive ``draw`` calls give);
4. start times follow the earliest-free-engine (Kiefer–Wolfowitz) recursion
   (:func:`~apsim.bulk.kernels.fifo_starts`; Lindley for one engine);
5. pickups group the replies of each APQN (:func:`~apsim.bulk.kernels.pickup_starts`);
   DQAP times are the pickup time plus the DQAP cost per reply taken;
6. the driver's per-APQN slot limit is checked for every arrival; the first
   arrival that would find its APQN's slots all in use (the workload would hold it
   in software) ends the bulk stretch: the state is handed to the event engine,
   which runs until the congestion is over, and the bulk mode resumes.

:func:`run_window` drives a window ``[env.now, until)``: it takes the in-flight
requests and the workloads' pending arrivals off the event list, computes the
window chunk by chunk, writes the same recorder rows, ledger counts, queue,
adapter and workload counters the event engine would, and puts the requests
still in flight at the end back as ordinary planned requests with their events.
Anything it cannot reproduce exactly makes it run the event engine instead
(:func:`applicable` names the reason): the sample path is the same either way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from heapq import heapify
from typing import Any

import numpy as np
import simpy

from apsim.bulk.kernels import fifo_starts_multi, pickup_starts
from apsim.calendar import calendar, pending
from apsim.core import _NOOP
from apsim.guest.workload import _BLOCK, Target, Workload, as_block
from apsim.hw.adapter import Adapter, _Rearm
from apsim.hw.queue import APQueue
from apsim.hw.request import DONE, DROPPED, ITSELF, PLANNED, REPLY, Request
from apsim.simpy_internals import heap as simpy_heap

_T_BITS = 47  # times fit in 47 bits (39 simulated hours) inside packed sort keys
_T_LIMIT = 1 << (_T_BITS - 1)  # a window must start before this (and end before 2**47)


@dataclass
class BulkStats:
    """What one :func:`run_window` call did."""

    bulk_requests: int = 0  # requests dequeued inside bulk stretches
    bulk_ns: int = 0  # simulated time covered by bulk stretches
    event_ns: int = 0  # simulated time the event engine ran (fallbacks, foreign events)
    stretches: int = 0
    fallbacks: Counter = field(default_factory=Counter)  # reason -> times


# --------------------------------------------------------------------------------------
# Applicability
# --------------------------------------------------------------------------------------
def applicable(workloads: list[Workload]) -> str | None:
    """None if a bulk stretch can start now for *workloads*, else the reason it cannot (see _check)."""
    return _check(workloads)[0]


def _check(workloads: list[Workload]) -> tuple[str | None, int | None]:
    """(reason or None, time the reason lapses if known).

    Conditions (all checked at the current time): each workload is running, open
    loop with Poisson arrivals, interrupt pickup, round-robin or random selection,
    on a port with queue links that never blocks (an LPAR's own zcrypt,
    :class:`~apsim.guest.port.LparPort`); nothing held in its software queues;
    workloads use disjoint APQNs; every target queue is in the configuration,
    open (no reset, association, busy or configure-off in effect), not Secure
    Execution, on a FIFO adapter, interrupts enabled to the workload's pickup, the
    mix's types supported and short enough; and no other issuer has requests on
    the adapters involved.
    """
    seen: set[int] = set()
    for wl in workloads:
        spec = wl.spec
        if not wl.running:
            return "workload not running", None
        if spec.kind != "open" or spec.trace is not None:
            return "not an open-loop Poisson workload", None
        if spec.reply != "interrupt":
            return "poll pickup", None
        if spec.select not in ("round_robin", "random"):
            return f"select {spec.select} depends on the queue state", None
        if wl.recorder is not workloads[0].recorder:
            return "workloads record into different recorders", None
        if wl.env._now >= _T_LIMIT:  # type: ignore[attr-defined]
            return "simulated time beyond the packed sort keys' range (39 h)", None
        if wl._link_cfg is None or not wl._always_ready:
            return "port without queue links (not an LPAR's own zcrypt)", None
        if wl.stalled or any(t.held for t in wl._tgt.values()):
            return "requests held in the driver", None
        if not wl._active:
            return "no targets", None
        if wl._arr.callbacks is None:
            return "no pending arrival", None
        cfg = wl._link_cfg
        if cfg.secure:
            return "Secure Execution configuration", None
        now = wl.env._now  # type: ignore[attr-defined]
        for tg in wl._active:
            if tg.apqn in seen:
                return "APQN shared by two workloads", None
            seen.add(tg.apqn)
            q = wl.port.link(tg.apqn)
            if q is None:
                return "target not in the configuration", None
            ad = q.adapter
            if not ad.planned:
                return "adapter not FIFO", None
            if q._gate > now:
                return "queue state refuses instructions", int(q._gate)
            if q._sink is not tg:
                return "interruptions not routed to the workload", None
            if q.count != tg.outstanding:
                return "another issuer uses the queue", None
            for rt in wl._mix_idx.tolist():
                if not ad.mean_ns[rt] or wl._lengths[rt] > ad.max_msg:
                    return "request type not accepted by the adapter", None
    return None, None


# --------------------------------------------------------------------------------------
# Random streams: replay the workload's block draws in the event engine's order
# --------------------------------------------------------------------------------------
class _Stream:
    """A workload's arrivals from its pending one on, drawn exactly as the event engine does.

    Arrival j (j = 0 is the pending one) takes type ``ti0 + j`` and, for random
    selection, uniform ``ui0 + j``; at its end it takes gap ``gi0 + j`` to schedule
    arrival j + 1. The event engine draws a new block when a list runs out: at the
    start of arrival j for types, then uniforms, at its end for gaps — so the
    generator is called in (j, phase) order, and so it is here. Every draw keeps
    the generator state before it, so a handover at arrival J can undo the draws
    the event engine would not have made yet.
    """

    _PHASE = {"types": 0, "uni": 1, "gaps": 2}

    def __init__(self, wl: Workload, t_next: int) -> None:
        self.wl = wl
        self.random = wl.spec.select == "random"
        self.t_next = t_next  # time of arrival j = self.n
        self.n = 0  # arrivals generated so far
        self.seq0 = wl.seq
        self.rr0 = wl.rr
        self.base = {"types": wl._ti, "uni": wl._ui, "gaps": wl._gi}
        # per kind: list of (first global index, block)
        self.lists: dict[str, list[tuple[int, np.ndarray]]] = {
            "types": [(0, np.asarray(wl._types, dtype=np.int64))],
            "uni": [(0, np.asarray(wl._uni, dtype=np.float64))],
            "gaps": [(0, np.asarray(wl._gaps, dtype=np.int64))],
        }
        self.draws: list[tuple[int, int, str, Any]] = []  # (j, phase, kind, state before)
        self.chunk: tuple[int, np.ndarray] = (0, np.empty(0, dtype=np.int64))  # (j0, times)

    def _end(self, kind: str) -> int:
        s, arr = self.lists[kind][-1]
        return s + len(arr)

    def _draw_until(self, j_end: int) -> None:
        """Draw every block the event engine draws at arrivals before *j_end*, in its order."""
        wl = self.wl
        kinds = ("types", "uni", "gaps") if self.random else ("types", "gaps")
        while True:
            best = None
            for kind in kinds:
                j = self._end(kind) - self.base[kind]
                key = (j, self._PHASE[kind])
                if j < j_end and (best is None or key < best[0]):
                    best = (key, kind)
            if best is None:
                return
            (j, ph), kind = best
            self.draws.append((j, ph, kind, wl.rng.bit_generator.state))
            blk = {"types": wl.type_block, "uni": wl.uniform_block, "gaps": wl.gap_block}[kind]()
            self.lists[kind].append((self._end(kind), np.asarray(blk)))

    def _take(self, kind: str, first: int, count: int) -> np.ndarray:
        """Global indices [first, first + count) of a kind (already drawn)."""
        if count <= 0:
            return np.empty(0, dtype=np.float64 if kind == "uni" else np.int64)
        parts = []
        end = first + count
        for start, arr in self.lists[kind]:
            stop = start + len(arr)
            if stop <= first:
                continue
            if start >= end:
                break
            parts.append(arr[(first - start if first > start else 0):(end - start if end < stop else len(arr))])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _prune(self) -> None:
        """Forget blocks wholly before the next arrival (a rewind never goes back that far)."""
        for kind, lists in self.lists.items():
            idx = self.base[kind] + self.n
            while len(lists) > 1 and lists[0][0] + len(lists[0][1]) <= idx:
                lists.pop(0)

    def generate(self, t_end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Arrivals from the next one up to (excluding) *t_end*: times, types, uniforms, j."""
        self._prune()
        j0 = self.n
        j = j0
        t = self.t_next
        times: list[np.ndarray] = []
        while t < t_end:
            k = _BLOCK
            self._draw_until(j + k)
            g = self._take("gaps", self.base["gaps"] + j, k)
            at = np.empty(k, dtype=np.int64)
            at[0] = t
            np.cumsum(g[:-1], out=at[1:])
            at[1:] += t
            inside = int(np.searchsorted(at, t_end, side="left"))
            times.append(at[:inside])
            j += inside
            if inside < k:
                t = int(at[inside])
                break
            t = int(at[-1] + g[-1])
        m = j - j0
        at = np.concatenate(times) if times else np.empty(0, dtype=np.int64)
        self.chunk = (j0, at)
        self.t_next = t
        self.n = j
        ty = self._take("types", self.base["types"] + j0, m)
        un = self._take("uni", self.base["uni"] + j0, m) if self.random else np.empty(0)
        return at, ty, un, np.arange(j0, j, dtype=np.int64)

    def rewind(self, J: int) -> None:
        """Make arrival J (generated in the current chunk) the next one."""
        j0, at = self.chunk
        if J < self.n:
            self.t_next = int(at[J - j0])
            self.n = J

    def handover(self) -> None:
        """Leave the workload as the event engine has it after arrivals 0..n-1 (n pending)."""
        wl = self.wl
        J = self.n
        undo = [d for d in self.draws if d[0] >= J]
        if undo:
            wl.rng.bit_generator.state = undo[0][3]
            for _j, _ph, kind, _st in undo:
                self.lists[kind].pop()  # undone blocks are the last ones of their kind
        for kind, attr_l, attr_i in (("types", "_types", "_ti"), ("uni", "_uni", "_ui"),
                                     ("gaps", "_gaps", "_gi")):
            if kind == "uni" and not self.random:
                continue  # round robin takes no uniforms
            idx = self.base[kind] + J
            cur = self.lists[kind][-1]
            for s_, arr in self.lists[kind]:
                if s_ <= idx < s_ + len(arr):
                    cur = (s_, arr)
                    break
            s_, arr = cur
            setattr(wl, attr_l, as_block(arr))
            setattr(wl, attr_i, idx - s_)
        wl.seq = self.seq0 + J
        if not self.random and wl._active:
            wl.rr = (self.rr0 + J) % len(wl._active)


# --------------------------------------------------------------------------------------
# Extraction and materialization
# --------------------------------------------------------------------------------------
def _ours(ev: Any, queues: set[APQueue], hooks: set[int]) -> bool:
    """Whether a heap entry's event is managed by the bulk mode (or does nothing at all)."""
    if id(ev) in hooks:
        return True
    cb = getattr(ev, "callbacks", None)
    if cb is _NOOP or (cb is not None and len(cb) == 0 and getattr(ev, "_ok", False)):
        # A disarmed entry, or an event with nothing to call — such as the `until`
        # event SimPy re-schedules (with no callbacks left) when env.run returns.
        return True
    if isinstance(ev, Request):
        return ev.queue in queues or ev._state in (DONE, DROPPED)
    if isinstance(ev, _Rearm):
        return ev.req.queue in queues or ev.req._state in (DONE, DROPPED)
    return False


@dataclass
class _State:
    env: simpy.Environment
    wls: list[Workload]
    streams: list[_Stream]
    targets: list[Target]  # global target list
    tq: list[APQueue]
    tad: np.ndarray  # adapter index per target
    adapters: list[Adapter]
    wl_first_t: np.ndarray  # first global target index per workload
    wl_nt: np.ndarray  # number of targets per workload
    latency: np.ndarray  # pickup latency per workload
    dq: np.ndarray  # dqap ns per workload
    # in-flight (carry): columns
    carry: dict[str, np.ndarray]
    carry_obj: list[Request | None]
    free_at: list[np.ndarray]
    base_key: int  # keys of new requests start here (above every extracted eid)
    arr_key: list[int]  # per workload: the scheduling key of its pending arrival
    ad_order: list[int]  # per adapter: acceptance counter
    ledger: Any
    recorder: Any
    one_latency: bool
    wtab: np.ndarray | None  # zcrypt weight per (target, request type), None if all 1
    owners: np.ndarray  # owner index per workload
    apqns: np.ndarray  # APQN per target
    depth: np.ndarray  # driver slots per target


_CARRY_COLS = ("tgt", "wl", "rtype", "t_sub", "t_start", "t_done", "svc", "order", "key", "seq",
               "settled")


def _empty_carry() -> dict[str, np.ndarray]:
    return {k: np.empty(0, dtype=np.int64) for k in _CARRY_COLS}


def _extract(env: simpy.Environment, wls: list[Workload]) -> _State:
    """Take the managed requests and arrivals off SimPy's heap into arrays."""
    targets: list[Target] = []
    tq: list[APQueue] = []
    first = []
    nts = []
    for wl in wls:
        first.append(len(targets))
        nts.append(len(wl._active))
        for tg in wl._active:
            targets.append(tg)
            tq.append(wl.port.link(tg.apqn))
    adapters: list[Adapter] = []
    ad_idx: dict[int, int] = {}
    tad = np.empty(len(tq), dtype=np.int64)
    for i, q in enumerate(tq):
        a = q.adapter
        if id(a) not in ad_idx:
            ad_idx[id(a)] = len(adapters)
            adapters.append(a)
        tad[i] = ad_idx[id(a)]
    tindex = {id(q): i for i, q in enumerate(tq)}
    queues = set(tq)
    hooks = {id(wl._arr) for wl in wls}
    heap = simpy_heap(env)
    cal = calendar(env)
    eid_of: dict[int, int] = {}
    arr_time: dict[int, int] = {}
    for entry in pending(env):
        ev = entry[3]
        if _ours(ev, queues, hooks):
            if isinstance(ev, Request):
                eid_of[id(ev)] = entry[2]
            elif isinstance(ev, _Rearm):
                eid_of[id(ev.req)] = entry[2]
                ev.callbacks = _NOOP
            elif id(ev) in hooks:
                arr_time[id(ev)] = entry[0]
                eid_of[id(ev)] = entry[2]
    heap[:] = [e for e in heap if e[3] is cal or not _ours(e[3], queues, hooks)]
    heapify(heap)
    cal.remove(lambda ev: _ours(ev, queues, hooks))
    # In-flight requests of the managed queues, in acceptance order per adapter.
    rows = []
    objs: list[Request] = []
    wl_of = {id(wl): i for i, wl in enumerate(wls)}
    for q in tq:
        for req in list(q._plan) + list(q._replies):
            wi = wl_of[id(req.tag)]
            rows.append((tindex[id(q)], wi, req.rtype, req.t_submit, req.t_start, req.t_done,
                         req.service_ns, req.order, eid_of.get(id(req), 0),
                         req.psmid & 0xFFFFFFFF, 1 if req._state == REPLY else 0))
            objs.append(req)
            req.callbacks = None
        q._take_all()
    carry = _empty_carry()
    if rows:
        arr = np.array(rows, dtype=np.int64)
        carry = {k: arr[:, i].copy() for i, k in enumerate(_CARRY_COLS)}
    base = max(eid_of.values(), default=0) + 1
    streams = []
    arr_key = []
    for wl in wls:
        streams.append(_Stream(wl, arr_time[id(wl._arr)]))
        arr_key.append(eid_of[id(wl._arr)])
        wl._arr.callbacks = None
    return _State(env, wls, streams, targets, tq, tad, adapters,
                  np.array(first, dtype=np.int64), np.array(nts, dtype=np.int64),
                  np.array([wl.irq_latency for wl in wls], dtype=np.int64),
                  np.array([wl.dqap_ns for wl in wls], dtype=np.int64),
                  carry, objs, [np.sort(np.asarray(a._free_at, dtype=np.int64)) for a in adapters],
                  base, arr_key, [a._order for a in adapters], tq[0].ledger, wls[0].recorder,
                  len({wl.irq_latency for wl in wls}) == 1, _weights(wls, targets),
                  np.array([wl.owner for wl in wls], dtype=np.int64),
                  np.array([t.apqn for t in targets], dtype=np.int64),
                  np.array([t.depth for t in targets], dtype=np.int64))


def _weights(wls: list[Workload], targets: list[Target]) -> np.ndarray | None:
    """zcrypt weight of each (target, request type) for the workloads' mixes; None if all 1."""
    if all(wl._w1 for wl in wls):
        return None
    from apsim.hw.timing import REQUEST_TYPES

    tab = np.zeros((len(targets), len(REQUEST_TYPES)), dtype=np.float64)
    for i, tg in enumerate(targets):
        for rt in tg.wl._mix_idx.tolist():
            tab[i, rt] = tg.weight(int(rt))
    return tab


def _materialize(st: _State, now: int) -> None:
    """Put the requests still in flight back as planned requests, with their events."""
    cal = calendar(st.env)
    c = st.carry
    n = len(c["tgt"])
    items: list[tuple[int, int, Any, int]] = []  # (key, phase, obj, time)
    # adapters: free times and counters were kept current chunk by chunk
    for a, fa in zip(st.adapters, st.free_at, strict=True):
        a._free_at = fa.tolist()
        a._free_at.sort()
    order = np.lexsort((c["order"], c["tgt"])) if n else np.empty(0, dtype=np.int64)
    for i in order.tolist():
        t = int(c["tgt"][i])
        wi = int(c["wl"][i])
        wl = st.wls[wi]
        tg = st.targets[t]
        q = st.tq[t]
        req = st.carry_obj[i]
        if req is None:
            rt = int(c["rtype"][i])
            req = Request((wl.owner << 32) | (int(c["seq"][i]) & 0xFFFFFFFF), rt, wl._lengths[rt],
                          wl.owner, int(c["t_sub"][i]), -1, wl)
            req.apqn = tg.apqn
            req.queue = q
            req.service_ns = int(c["svc"][i])
            req.t_start = int(c["t_start"][i])
            req.t_done = int(c["t_done"][i])
            req.order = int(c["order"][i])
        req.sink = tg
        if c["settled"][i]:
            req._state = REPLY
            q._append_reply(req)
        else:
            req._state = PLANNED
            q._append_plan(req)
        req.hook = ITSELF
        req.callbacks = q.adapter._reply_cbs
        items.append((int(c["key"][i]), 0, req, int(c["t_done"][i]) + int(st.latency[wi])))
    for wi, wl in enumerate(st.wls):
        s = st.streams[wi]
        items.append((st.arr_key[wi], 1, wl._arr, s.t_next))
        wl._arr.callbacks = wl._arr_cbs
    # Push in scheduling order so equal-time events keep the event engine's order.
    items.sort(key=lambda x: (x[0], x[1]))
    for _k, _ph, obj, t in items:
        cal.push(t, obj)
    for q in st.tq:
        q._set_replies(sorted(q._replies, key=lambda r: (r.t_done, r.order)))


# --------------------------------------------------------------------------------------
# One chunk
# --------------------------------------------------------------------------------------
def _sampler_state(smp: Any) -> tuple:
    """Enough of a ServiceSampler to replay its draws (its block state and generator)."""
    return (smp.rng.bit_generator.state, smp._units, smp._n, smp._pos, list(smp._rows))


def _sampler_restore(smp: Any, s: tuple) -> None:
    smp.rng.bit_generator.state, smp._units, smp._n, smp._pos, rows = s
    smp._rows = rows


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
    snaps = [_sampler_state(ad.sampler) for ad in st.adapters]
    sched = _schedule(st, a, ty, tg)
    allc, grp = _pickups(st, tg, w, sched)
    v = _first_full(st, tg, a, grp, allc[0], int(st.carry["tgt"].size))
    t_end = t1
    if v is not None:
        # The driver holds arrival v: process only the arrivals before it.
        t_end = int(a[v])
        for ad, sn in zip(st.adapters, snaps, strict=True):
            _sampler_restore(ad.sampler, sn)
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
        q.irq_count += int(settle_t[i])
        q.count += na - nd
        q._occ_sum += int(occ[i])
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
        ad._order += int(n_ad[k])
        ad._svc_sum += int(svc_ad[k])
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


# --------------------------------------------------------------------------------------
# The window driver
# --------------------------------------------------------------------------------------
def _foreign_time(env: simpy.Environment, wls: list[Workload]) -> float:
    """Time of the earliest heap entry the bulk mode does not manage (inf if none)."""
    queues = set()
    for wl in wls:
        for tg in wl._active:
            q = wl.port.link(tg.apqn)
            if q is not None:
                queues.add(q)
    hooks = {id(wl._arr) for wl in wls}
    t = float("inf")
    for entry in pending(env):
        if entry[0] < t and not _ours(entry[3], queues, hooks):
            t = entry[0]
    return t


def run_window(env: simpy.Environment, workloads: list[Workload], until: int, *,
               chunk_requests: int = 1 << 16, fallback_requests: int = 4096) -> BulkStats:
    """Advance the simulation to *until*, in bulk where :func:`applicable` allows it.

    Call it between ``env.run`` calls (not from inside a SimPy callback), with the
    workloads that issue the traffic. Events that are not the workloads' own (admin
    actions, timers, other issuers) end a bulk stretch: the event engine runs past
    them and the bulk mode resumes. Whenever a driver's per-APQN slot limit would
    bind, the event engine runs ~*fallback_requests* arrivals before the bulk mode
    is tried again. Recorder rows, ledger counts and the queue, adapter and
    workload counters are those the event engine would produce. Arrivals are
    processed *chunk_requests* at a time (about: the chunk is a span of simulated
    time); the results do not depend on it, the speed does — a chunk's dozens of
    temporary columns should stay in the processor's cache (65,536 requests: about
    512 KiB per column).
    """
    stats = BulkStats()
    total_rate = sum(wl.spec.rate for wl in workloads if wl.spec.kind == "open") or 1.0
    chunk_ns = max(1, int(chunk_requests / total_rate * 1e9))
    fallback_ns = max(1, int(fallback_requests / total_rate * 1e9))
    while env.now < until:
        now = env.now
        reason, lapse = _check(workloads)
        t_f = _foreign_time(env, workloads) if reason is None else float("inf")
        if reason is not None or t_f <= now:
            if reason is None:
                stop = min(until, int(t_f) + 1)
            else:
                stop = min(until, now + fallback_ns, lapse if lapse is not None else until)
            stats.fallbacks[reason or "foreign event"] += 1
            env.run(until=max(stop, now + 1))
            stats.event_ns += env.now - now
            continue
        end = int(min(until, t_f))
        st = _extract(env, workloads)
        stats.stretches += 1
        t = now
        hand = None
        while t < end:
            t1 = min(end, t + chunk_ns)
            hand = _chunk(st, t, t1, stats)
            if hand is not None:
                t = hand
                break
            t = t1
        for sm in st.streams:
            sm.handover()
        _materialize(st, t)
        if t > env.now:
            env.run(until=t)
        if hand is not None:
            stats.fallbacks["slot limit"] += 1
            t0 = env.now
            env.run(until=min(until, max(t0 + 1, t0 + fallback_ns)))
            stats.event_ns += env.now - t0
    return stats
