"""``--trace FILE``: a Chrome / Perfetto trace of the run (open it in ui.perfetto.dev).

One process per adapter (``card05``); each completed request is an async slice
(``"ph": "b"``/``"e"`` with its own id, category ``apqn 05.0004``) from its NQAP to
its DQAP, named by its request type and tagged with its guest and APQN. Requests
of one APQN overlap in time (a queue holds many), and complete events on one thread
track must nest, so async slices are the form Perfetto lays out without overlap:
it gives concurrent slices their own rows. Admin actions of the timeline
are global instant events (``"ph": "i"``). Timestamps are microseconds, as the
format requires. Large runs are capped at :data:`MAX_REQUEST_EVENTS` requests (the
earliest ones); the file says how many were left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from apsim.hw.timing import REQUEST_TYPES
from apsim.ids import format_apqn
from apsim.units import US

__all__ = ["write_trace", "build_trace", "MAX_REQUEST_EVENTS"]

MAX_REQUEST_EVENTS = 200_000
_ADMIN_PID = 0


def build_trace(result: Any, *, max_events: int = MAX_REQUEST_EVENTS) -> dict[str, Any]:
    """The trace of *result* as a Chrome trace-event JSON object."""
    cols = result.recorder.arrays()
    n = int(cols["t_submit"].size)
    order = np.argsort(cols["t_submit"], kind="stable")[:max_events]
    owners = list(result.recorder.owners)
    names = [rt.name for rt in REQUEST_TYPES]
    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": _ADMIN_PID, "tid": 0, "name": "process_name", "args": {"name": "admin"}},
    ]
    apqns = np.unique(cols["apqn"][order]) if n else np.empty(0, np.int64)
    for apid in sorted({int(q) >> 8 for q in apqns}):
        pid = apid + 1
        events.append({"ph": "M", "pid": pid, "tid": 0, "name": "process_name",
                       "args": {"name": f"card{apid:02x}"}})
        events.append({"ph": "M", "pid": pid, "tid": 0, "name": "process_sort_index",
                       "args": {"sort_index": pid}})
    for q in apqns:
        q = int(q)
        events.append({"ph": "M", "pid": (q >> 8) + 1, "tid": q & 0xFF, "name": "thread_name",
                       "args": {"name": format_apqn(q)}})
    # Plain lists: indexing numpy arrays element by element is ~10x slower.
    start_col = cols["t_start"][order] if "t_start" in cols else np.full(order.size, -1, np.int64)
    rows = zip(*(cols[k][order].tolist() for k in ("apqn", "rtype", "owner", "t_submit", "t_deq",
                                                     "t_done")), start_col.tolist(), strict=True)
    rid = 0
    for q, rt, ow, sub, deq, done, start in rows:
        args: dict[str, Any] = {"guest": owners[ow] if 0 <= ow < len(owners) else str(ow),
                                "done_us": done / US}
        if start >= 0:  # when an engine took it (recorders that track it)
            args["start_us"] = start / US
        rid += 1
        name = names[rt] if 0 <= rt < len(names) else str(rt)
        cat = f"apqn {format_apqn(q)}"
        args["apqn"] = format_apqn(q)
        events.append({"ph": "b", "pid": (q >> 8) + 1, "tid": q & 0xFF, "cat": cat, "id": rid,
                       "name": name, "ts": sub / US, "args": args})
        events.append({"ph": "e", "pid": (q >> 8) + 1, "tid": q & 0xFF, "cat": cat, "id": rid,
                       "name": name, "ts": deq / US})
    for e in result.timeline.entries:
        events.append({"ph": "i", "s": "g", "pid": _ADMIN_PID, "tid": 0, "name": e.do,
                       "ts": e.at_ns / US,
                       "args": {"args": e.args, "outcome": e.outcome,
                                **({"passed": e.passed} if e.passed is not None else {})}})
    left_out = max(0, n - max_events)
    other = {"scenario": getattr(result.scenario, "name", ""), "seed": int(result.seed),
             "requests": n, "requests_in_trace": n - left_out}
    if left_out:
        other["note"] = (f"{left_out:,} later requests were left out (the trace keeps the first "
                         f"{max_events:,})")
    return {"traceEvents": events, "displayTimeUnit": "ns", "otherData": other}


def write_trace(result: Any, path: str | Path, *, max_events: int = MAX_REQUEST_EVENTS) -> Path:
    """Write the trace of *result* to *path*; returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", encoding="utf-8") as fh:
        json.dump(build_trace(result, max_events=max_events), fh, separators=(",", ":"),
                  sort_keys=True, default=str)
        fh.write("\n")
    return p
