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

import simpy

from apsim.bulk.chunk import BulkStats, _chunk
from apsim.bulk.state import _T_LIMIT, _extract, _materialize, _ours
from apsim.engine.calendar import pending
from apsim.engine.export import export_state, queue_state
from apsim.engine.workload import Workload


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
    :class:`~apsim.engine.port.LparPort`); nothing held in its software queues;
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
        if wl.env.now >= _T_LIMIT:
            return "simulated time beyond the packed sort keys' range (39 h)", None
        ws = export_state(wl)
        if ws.link_cfg is None or not ws.always_ready:
            return "port without queue links (not an LPAR's own zcrypt)", None
        if wl.stalled or ws.held:
            return "requests held in the driver", None
        if not ws.targets:
            return "no targets", None
        if ws.arrival.callbacks is None:
            return "no pending arrival", None
        cfg = ws.link_cfg
        if cfg.secure:
            return "Secure Execution configuration", None
        now = wl.env.now
        for tg in ws.targets:
            if tg.apqn in seen:
                return "APQN shared by two workloads", None
            seen.add(tg.apqn)
            q = wl.port.link(tg.apqn)
            if q is None:
                return "target not in the configuration", None
            ad = q.adapter
            if not ad.planned:
                return "adapter not FIFO", None
            qs = queue_state(q)
            if qs.gate > now:
                return "queue state refuses instructions", int(qs.gate)
            if qs.sink is not tg:
                return "interruptions not routed to the workload", None
            if q.count != tg.outstanding:
                return "another issuer uses the queue", None
            for rt in ws.mix:
                if not ad.mean_ns[rt] or ws.lengths[rt] > ad.max_msg:
                    return "request type not accepted by the adapter", None
    return None, None

# --------------------------------------------------------------------------------------
# The window driver
# --------------------------------------------------------------------------------------
def _foreign_time(env: simpy.Environment, wls: list[Workload]) -> float:
    """Time of the earliest heap entry the bulk mode does not manage (inf if none)."""
    queues = set()
    for wl in wls:
        for tg in export_state(wl).targets:
            q = wl.port.link(tg.apqn)
            if q is not None:
                queues.add(q)
    hooks = {id(export_state(wl).arrival) for wl in wls}
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
