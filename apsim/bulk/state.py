"""Bulk mode's state: taking the in-flight requests and pending arrivals off the event
list into arrays (:func:`_extract`), and putting the survivors back as ordinary
planned requests with their events (:func:`_materialize`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from apsim.bulk.streams import _Stream
from apsim.engine.calendar import calendar, pending
from apsim.engine.core import disarm
from apsim.engine.targets import Target
from apsim.engine.workload import Workload
from apsim.engine.adapter import Adapter
from apsim.engine.queue import APQueue
from apsim.engine.export import (adapter_state, disarm_arrival, export_state, import_free_at, is_disarmed,
                                 rearm_arrival, remove_pending, replanned_request, request_state,
                                 restore_request, sort_replies, take_requests)
from apsim.engine.request import DONE, DROPPED, REPLY, Request


_T_BITS = 47  # times fit in 47 bits (39 simulated hours) inside packed sort keys
_T_LIMIT = 1 << (_T_BITS - 1)  # a window must start before this (and end before 2**47)

# --------------------------------------------------------------------------------------
# Extraction and materialization
# --------------------------------------------------------------------------------------
def _ours(ev: Any, queues: set[APQueue], hooks: set[int]) -> bool:
    """Whether a heap entry's event is managed by the bulk mode (or does nothing at all)."""
    if id(ev) in hooks:
        return True
    cb = getattr(ev, "callbacks", None)
    if is_disarmed(ev) or (cb is not None and len(cb) == 0 and getattr(ev, "_ok", False)):
        # A disarmed entry, or an event with nothing to call — such as the `until`
        # event SimPy re-schedules (with no callbacks left) when env.run returns.
        return True
    if isinstance(ev, Request):
        return ev.queue in queues or request_state(ev) in (DONE, DROPPED)
    rq = replanned_request(ev)
    if rq is not None:
        return rq.queue in queues or request_state(rq) in (DONE, DROPPED)
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
        active = export_state(wl).targets
        first.append(len(targets))
        nts.append(len(active))
        for tg in active:
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
    hooks = {id(export_state(wl).arrival) for wl in wls}
    eid_of: dict[int, int] = {}
    arr_time: dict[int, int] = {}
    for entry in pending(env):
        ev = entry[3]
        if _ours(ev, queues, hooks):
            if isinstance(ev, Request):
                eid_of[id(ev)] = entry[2]
            elif (rq := replanned_request(ev)) is not None:
                eid_of[id(rq)] = entry[2]
                disarm(ev)
            elif id(ev) in hooks:
                arr_time[id(ev)] = entry[0]
                eid_of[id(ev)] = entry[2]
    remove_pending(env, lambda ev: _ours(ev, queues, hooks))
    # In-flight requests of the managed queues, in acceptance order per adapter.
    rows = []
    objs: list[Request] = []
    wl_of = {id(wl): i for i, wl in enumerate(wls)}
    for q in tq:
        for req in take_requests(q):
            wi = wl_of[id(req.tag)]
            rows.append((tindex[id(q)], wi, req.rtype, req.t_submit, req.t_start, req.t_done,
                         req.service_ns, req.order, eid_of.get(id(req), 0),
                         req.psmid & 0xFFFFFFFF, 1 if request_state(req) == REPLY else 0))
            objs.append(req)
            req.callbacks = None
    carry = _empty_carry()
    if rows:
        arr = np.array(rows, dtype=np.int64)
        carry = {k: arr[:, i].copy() for i, k in enumerate(_CARRY_COLS)}
    base = max(eid_of.values(), default=0) + 1
    streams = []
    arr_key = []
    for wl in wls:
        arrival = export_state(wl).arrival
        streams.append(_Stream(wl, arr_time[id(arrival)]))
        arr_key.append(eid_of[id(arrival)])
        disarm_arrival(wl)
    return _State(env, wls, streams, targets, tq, tad, adapters,
                  np.array(first, dtype=np.int64), np.array(nts, dtype=np.int64),
                  np.array([wl.irq_latency for wl in wls], dtype=np.int64),
                  np.array([wl.dqap_ns for wl in wls], dtype=np.int64),
                  carry, objs, [np.sort(np.asarray(adapter_state(a).free_at, dtype=np.int64)) for a in adapters],
                  base, arr_key, [adapter_state(a).order for a in adapters], tq[0].ledger, wls[0].recorder,
                  len({wl.irq_latency for wl in wls}) == 1, _weights(wls, targets),
                  np.array([wl.owner for wl in wls], dtype=np.int64),
                  np.array([t.apqn for t in targets], dtype=np.int64),
                  np.array([t.depth for t in targets], dtype=np.int64))


def _weights(wls: list[Workload], targets: list[Target]) -> np.ndarray | None:
    """zcrypt weight of each (target, request type) for the workloads' mixes; None if all 1."""
    if all(export_state(wl).unit_weights for wl in wls):
        return None
    from apsim.hw.timing import REQUEST_TYPES

    tab = np.zeros((len(targets), len(REQUEST_TYPES)), dtype=np.float64)
    for i, tg in enumerate(targets):
        for rt in export_state(tg.wl).mix:
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
        import_free_at(a, fa.tolist())
    order = np.lexsort((c["order"], c["tgt"])) if n else np.empty(0, dtype=np.int64)
    lengths = [export_state(wl).lengths for wl in st.wls]
    for i in order.tolist():
        t = int(c["tgt"][i])
        wi = int(c["wl"][i])
        wl = st.wls[wi]
        tg = st.targets[t]
        q = st.tq[t]
        req = st.carry_obj[i]
        if req is None:
            rt = int(c["rtype"][i])
            req = Request((wl.owner << 32) | (int(c["seq"][i]) & 0xFFFFFFFF), rt, lengths[wi][rt],
                          wl.owner, int(c["t_sub"][i]), -1, wl)
            req.apqn = tg.apqn
            req.queue = q
            req.service_ns = int(c["svc"][i])
            req.t_start = int(c["t_start"][i])
            req.t_done = int(c["t_done"][i])
            req.order = int(c["order"][i])
        req.sink = tg
        restore_request(q, req, settled=bool(c["settled"][i]))
        items.append((int(c["key"][i]), 0, req, int(c["t_done"][i]) + int(st.latency[wi])))
    for wi, wl in enumerate(st.wls):
        s = st.streams[wi]
        items.append((st.arr_key[wi], 1, export_state(wl).arrival, s.t_next))
        rearm_arrival(wl, s.t_next)
    # Push in scheduling order so equal-time events keep the event engine's order.
    items.sort(key=lambda x: (x[0], x[1]))
    for _k, _ph, obj, t in items:
        cal.push(t, obj)
    for q in st.tq:
        sort_replies(q)
