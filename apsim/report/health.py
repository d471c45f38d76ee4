"""Stalls, backlogs and readiness: what a healthy-looking summary could hide.

A guest's load can stop while the run goes on (a queue retired on a transient
response code, a driver waiting for a rescan): its percentiles then look fine
because the requests that never finished have no latency. This module finds such
guests from the run's own facts — each guest's last completion, the work its
driver still holds (``backlog``: requests in the guest driver's software queues,
never NQAP'd, so not in the machine's ledger) and what ended its last requests —
and words the warning the console prints.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from apsim.units import MS, US

__all__ = ["STALL_MIN_NS", "stall_threshold", "guest_health", "stall_warnings"]

STALL_MIN_NS = 10 * MS
"""A guest is stalled after at least this long without a completion while it has work."""


def stall_threshold(duration_ns: int, p99_ns: float = 0.0) -> int:
    """How long without a completion (while holding work) counts as stalled.

    10 ms, 5% of the run, or ten times the guest's own p99 latency (the run's when
    the guest completed nothing), whichever is longest: a saturated adapter makes
    every guest wait long, which is queueing, not a stall.
    """
    return int(max(STALL_MIN_NS, duration_ns // 20, 10 * p99_ns))


def guest_health(result: Any) -> dict[str, dict[str, Any]]:
    """Per guest: ready time, backlog and the workload's books, and the stall if there is one."""
    cols = result.recorder.arrays(include_warmup=True)  # a stall may begin during the warm-up
    owners = list(result.recorder.owners)
    last: dict[str, int] = {}
    if len(cols["owner"]):
        order = np.argsort(cols["t_deq"], kind="stable")
        for o, t in zip(cols["owner"][order], cols["t_deq"][order]):
            last[owners[int(o)]] = int(t)
    # The latency scale comes from the steady state (after the warm-up) when there is one.
    steady = result.recorder.arrays()
    if not steady["owner"].size:
        steady = cols
    lat = steady["t_deq"] - steady["t_submit"]
    p99: dict[str, float] = {}
    for idx, name in enumerate(owners):
        mine = lat[steady["owner"] == idx]
        if mine.size:
            p99[name] = float(np.percentile(mine, 99))
    overall = float(np.percentile(lat, 99)) if lat.size else 0.0
    end = int(result.sim_time_ns)
    out: dict[str, dict[str, Any]] = {}
    for name, g in result.guests.items():
        books = g.get("books")
        ready = g.get("ready_ns")
        h: dict[str, Any] = {"ready_us": None if ready is None else ready / US}
        if g.get("boot_excluded"):
            h["warmup_excluded"] = g["boot_excluded"]  # later boots left out of this guest's statistics
        if books is not None:
            h["backlog"] = books["backlog"]
            h["books"] = books
            since = last.get(name, ready if ready is not None else g.get("started_ns", 0))
            has_work = books["in_flight"] + books["backlog"] > 0
            limit = stall_threshold(end, p99.get(name, overall))
            if g.get("running") and has_work and since is not None and end - since > limit:
                h["stalled"] = {"since_us": since / US, "for_us": (end - since) / US,
                                "waiting": books["in_flight"] + books["backlog"],
                                "last_events": g.get("last_events", []),
                                "last_response_codes": g.get("last_rejections", []),
                                "retired_apqns": g.get("retired", [])}
        out[name] = h
    return out


def stall_warnings(report: dict[str, Any]) -> list[str]:
    """One warning line per stalled guest of a built report."""
    lines = []
    for name, h in (report.get("health") or {}).items():
        s = h.get("stalled")
        if not s:
            continue
        ev = ", ".join(f"{e['cause']} on {e['apqn']} at {e['at']}" for e in s["last_events"]) or "none seen"
        rcs = ", ".join(f"{e['rc']} from {e['apqn']} at {e['at']}" for e in s.get("last_response_codes", []))
        lines.append(f"guest {name}'s load stopped at {_ms(s['since_us'])}: no completion for "
                     f"{_ms(s['for_us'])} while {s['waiting']:,} requests wait "
                     f"(backlog {h.get('backlog', 0):,}); last request endings: {ev}"
                     + (f"; last NQAP response codes: {rcs}" if rcs else "")
                     + (f"; its driver stopped using {', '.join(s['retired_apqns'])} (until a rescan)"
                        if s.get("retired_apqns") else ""))
    return lines


def _ms(us: float) -> str:
    return f"{us / 1000:,.3f} ms"
