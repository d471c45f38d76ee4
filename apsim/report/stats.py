"""Statistics of a run: throughput, exact latency percentiles, time series.

Everything is computed at the end of the run from all recorded samples (the
:class:`~apsim.engine.recorder.RequestRecorder` columns, as numpy arrays), so percentiles
are exact: ``np.percentile`` with its default linear interpolation over every
completed request, not a sketch. Latency is NQAP to DQAP (``t_deq - t_submit``),
reported in microseconds. Requests submitted during the warm-up are left out
(the recorder drops them), and throughput is completions per second of the
measured span (end of run minus warm-up).

Utilization per adapter and mean occupancy per APQN are time-weighted levels the
simulation keeps; the caller passes them in as plain dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apsim.hw.timing import REQUEST_TYPES
from apsim.ids import format_apqn
from apsim.engine.recorder import RequestRecorder
from apsim.units import S, US

__all__ = ["PERCENTILES", "latency_stats", "RunStats", "compute_stats", "choose_window_ns",
           "apqn_key", "adapter_key"]

PERCENTILES: tuple[tuple[str, float], ...] = (("p50_us", 50.0), ("p90_us", 90.0),
                                              ("p99_us", 99.0), ("p999_us", 99.9))
"""Report key and percentile of each latency quantile."""


def apqn_key(q: int | str) -> str:
    """The report key of an APQN: ``05.0004``."""
    return q if isinstance(q, str) else format_apqn(int(q))


def adapter_key(apid: int | str) -> str:
    """The report key of an adapter: its id in two hex digits, as lszcrypt shows it (``05``)."""
    return apid if isinstance(apid, str) else f"{int(apid):02x}"


def latency_stats(lat_ns: np.ndarray) -> dict[str, float | int | None]:
    """Count, percentiles, mean and max (µs) of latencies given in ns; None when empty."""
    n = int(lat_ns.size)
    out: dict[str, float | int | None] = {"count": n}
    if n == 0:
        out.update({k: None for k, _ in PERCENTILES})
        out.update(mean_us=None, max_us=None)
        return out
    q = np.percentile(lat_ns, [p for _, p in PERCENTILES])
    for (key, _), v in zip(PERCENTILES, q, strict=True):
        out[key] = float(v) / US
    out["mean_us"] = float(lat_ns.mean()) / US
    out["max_us"] = float(lat_ns.max()) / US
    return out


def choose_window_ns(span_ns: int, target_windows: int = 100) -> int:
    """A round window width (1, 2 or 5 × 10^k ns, at least 1 µs) giving about *target_windows*."""
    if span_ns <= 0:
        return US
    raw = max(span_ns / target_windows, US)
    k = 10 ** int(np.floor(np.log10(raw)))
    for m in (1, 2, 5, 10):
        if m * k >= raw:
            return int(m * k)
    return int(10 * k)  # pragma: no cover


@dataclass
class RunStats:
    """Per-group statistics of one run, keyed the way the report prints them."""

    span_ns: int
    overall: dict[str, Any]
    guests: dict[str, dict[str, Any]] = field(default_factory=dict)
    apqns: dict[str, dict[str, Any]] = field(default_factory=dict)
    adapters: dict[str, dict[str, Any]] = field(default_factory=dict)
    request_types: dict[str, dict[str, Any]] = field(default_factory=dict)
    series: dict[str, Any] = field(default_factory=dict)


def _rate(count: int, span_ns: int) -> float | None:
    return count * S / span_ns if span_ns > 0 else None


def _groups(keys: np.ndarray, lat: np.ndarray) -> dict[int, np.ndarray]:
    """Latencies split by key (keys in ascending order)."""
    if keys.size == 0:
        return {}
    order = np.argsort(keys, kind="stable")
    k, v = keys[order], lat[order]
    uniq, starts = np.unique(k, return_index=True)
    bounds = [*starts[1:], k.size]
    return {int(u): v[s:e] for u, s, e in zip(uniq, starts, bounds, strict=True)}


def latency_row(lat: np.ndarray, span_ns: int) -> dict[str, Any]:
    """Completed count, throughput (per s of *span_ns*) and latency percentiles (µs) of *lat* (ns)."""
    st = latency_stats(lat)
    row: dict[str, Any] = {"completed": st.pop("count"), "throughput_rps": _rate(lat.size, span_ns)}
    row.update(st)
    return row


def compute_stats(recorder: RequestRecorder, *, sim_time_ns: int,
                  adapters: Mapping[int | str, Mapping[str, Any]] | None = None,
                  apqn_occupancy: Mapping[int | str, float] | None = None,
                  window_ns: int | None = None) -> RunStats:
    """Statistics per guest, APQN, adapter and request type, and the time series.

    *adapters* maps an APID to facts about the adapter (``type``, ``utilization``
    and anything else worth a column); every adapter in it gets a row even without
    completions. *apqn_occupancy* maps an APQN (int or ``"05.0004"``) to its mean
    number of requests held; those APQNs get rows too.
    """
    cols = recorder.arrays()
    warmup = int(recorder.warmup_ns or 0)
    span = int(sim_time_ns) - warmup
    lat = cols["t_deq"] - cols["t_submit"]
    owners = list(recorder.owners)

    stats = RunStats(span_ns=span, overall=latency_row(lat, span))

    # guests (every registered owner, even one that completed nothing)
    by_owner = _groups(cols["owner"], lat)
    apqns_of_owner = _groups(cols["owner"], cols["apqn"])
    for idx, name in enumerate(owners):
        row = latency_row(by_owner.get(idx, np.empty(0, np.int64)), span)
        row["apqns"] = [apqn_key(q) for q in np.unique(apqns_of_owner.get(idx, np.empty(0, np.int64)))]
        stats.guests[name] = row

    # APQNs
    by_apqn = _groups(cols["apqn"], lat)
    owners_of_apqn = _groups(cols["apqn"], cols["owner"])
    occ = {apqn_key(k): float(v) for k, v in (apqn_occupancy or {}).items()}
    keys = {apqn_key(q) for q in by_apqn} | set(occ)
    by_key = {apqn_key(q): q for q in by_apqn}
    for key in sorted(keys):
        q = by_key.get(key)
        row = latency_row(by_apqn[q] if q is not None else np.empty(0, np.int64), span)
        row["adapter"] = key.split(".")[0]
        who = owners_of_apqn.get(q, np.empty(0, np.int64)) if q is not None else np.empty(0, np.int64)
        row["guests"] = [owners[i] if 0 <= i < len(owners) else str(i) for i in np.unique(who)]
        row["occupancy"] = occ.get(key)
        stats.apqns[key] = row

    # adapters
    by_adapter = _groups(cols["apqn"] >> 8, lat)
    info = {adapter_key(k): dict(v) for k, v in (adapters or {}).items()}
    for key in sorted(set(info) | {adapter_key(a) for a in by_adapter}):
        apid = int(key, 16)
        row = latency_row(by_adapter.get(apid, np.empty(0, np.int64)), span)
        extra = info.get(key, {})
        row["type"] = extra.pop("type", None)
        row["utilization"] = extra.pop("utilization", None)
        row.update(extra)
        stats.adapters[key] = row

    # request types
    for idx, v in _groups(cols["rtype"], lat).items():
        name = REQUEST_TYPES[idx].name if 0 <= idx < len(REQUEST_TYPES) else str(idx)
        stats.request_types[name] = latency_row(v, span)

    stats.series = _series(cols, lat, owners, warmup, int(sim_time_ns), window_ns)
    return stats


def _series(cols: dict[str, np.ndarray], lat: np.ndarray, owners: list[str], start: int, end: int,
            window_ns: int | None) -> dict[str, Any]:
    """Completions and mean latency per fixed window of DQAP time, overall and per guest."""
    span = max(end - start, 0)
    w = window_ns or choose_window_ns(span)
    n = max(1, -(-span // w))  # ceil
    t = cols["t_deq"]
    b = np.clip((t - start) // w, 0, n - 1).astype(np.int64) if t.size else np.empty(0, np.int64)
    counts = np.bincount(b, minlength=n)
    sums = np.bincount(b, weights=lat.astype(np.float64), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1) / US, np.nan)
    by_guest = {}
    for idx, name in enumerate(owners):
        sel = cols["owner"] == idx
        by_guest[name] = np.bincount(b[sel], minlength=n).tolist()
    return {
        "window_us": w / US,
        "t_us": [(start + i * w) / US for i in range(n)],
        "completions": counts.tolist(),
        "mean_latency_us": [None if np.isnan(m) else float(m) for m in means],
        "completions_by_guest": by_guest,
    }
