"""The run's adapter statistics in s390-tools' ``zcryptstats`` layouts (table, CSV, JSON).

zcryptstats reads the firmware's crypto measurement blocks: per card and per APQN a
(count, time) pair per counter, and prints, once per interval, the operations, the
rate, the utilization (busy time / interval) and the average duration (busy time /
operations). The counters depend on the card's mode; as in the tool's source
(``zconf/zcrypt/zcryptstats.c``, whose man page swaps the first accelerator
counters):

* accelerator: ``RSA 1024 ME``, ``RSA 2048 ME``, ``RSA 1024 CRT``, ``RSA 2048 CRT``,
  ``RSA 4096 ME``, ``RSA 4096 CTR`` (sic);
* CCA coprocessor: ``All`` (every request: the totals), ``RSA Key-gen``;
* EP11 coprocessor: ``Asym. Slow``, ``Asym. Fast``, ``Symm. Partial``,
  ``Symm. Complete``, ``Asym. Key-gen``.

What the simulation counts: every completed request, in the interval of its
completion, on its card and APQN; the busy time is its engine time (completion
minus engine start), divided by the card's engines for the utilization, so that
the APQNs of a card add up to the card. apsim's request types map onto the
counters by operation: the clear-key RSA types onto their accelerator counters;
on a CCA card everything counts under ``All`` (apsim has no key generation
type); on an EP11 card ``ep11_high`` is an ``Asym. Slow``, ``ep11_medium`` an
``Asym. Fast`` and ``ep11_low`` a ``Symm. Complete`` operation. Devices are the
cards and APQNs the host's sysfs shows at the end of the run, cards in order,
each followed by its APQNs. The first block is interval 1 (zcryptstats prints
nothing for its first sample); TIMESTAMP is the simulated time in seconds at the
end of the interval; the host block's ``date`` is the epoch (no wall clock).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from apsim import __version__
from apsim.hw.cards import Mode
from apsim.hw.timing import REQUEST_TYPES, Op

__all__ = ["COUNTERS", "Sample", "collect", "render", "FORMATS"]

FORMATS = ("table", "csv", "json")

COUNTERS: dict[Mode, tuple[str, ...]] = {
    Mode.ACCELERATOR: ("RSA 1024 ME", "RSA 2048 ME", "RSA 1024 CRT", "RSA 2048 CRT", "RSA 4096 ME",
                       "RSA 4096 CTR"),
    Mode.CCA: ("All", "RSA Key-gen"),
    Mode.EP11: ("Asym. Slow", "Asym. Fast", "Symm. Partial", "Symm. Complete", "Asym. Key-gen"),
}
"""Counter names by card mode, in the tool's order."""

_MODE_NAME = {Mode.ACCELERATOR: "Accelerator", Mode.CCA: "CCA co-processor",
              Mode.EP11: "EP11 co-processor"}
_ACCEL_INDEX = {Op.MEX_1K: 0, Op.MEX_2K: 1, Op.CRT_1K: 2, Op.CRT_2K: 3, Op.MEX_4K: 4, Op.CRT_4K: 5}
_EP11_INDEX = {"ep11_high": 0, "ep11_medium": 1, "ep11_low": 3}


def counter_index(mode: Mode, rtype: int) -> int | None:
    """The counter a request type counts under on a card of *mode* (None: none)."""
    rt = REQUEST_TYPES[rtype]
    if mode is Mode.ACCELERATOR:
        return _ACCEL_INDEX.get(rt.op)
    if mode is Mode.CCA:
        return 0
    return _EP11_INDEX.get(rt.name)


@dataclass(frozen=True)
class Sample:
    """One device's counters over one interval: per counter (ops, busy ns)."""

    device: str
    type: str
    counters: tuple[tuple[str, int, int], ...]
    totals: tuple[int, int]


def _devices(sim: Any) -> list[tuple[int, int | None]]:
    fs = sim.host.sysfs
    base = "/sys/devices/ap"
    out: list[tuple[int, int | None]] = []
    cards = sorted(n for n in fs.listdir(base) if n.startswith("card")) if fs.is_dir(base) else []
    for card in cards:
        apid = int(card[4:], 16)
        out.append((apid, None))
        out += [(apid, int(q[3:], 16)) for q in sorted(fs.listdir(f"{base}/{card}"))
                if len(q) == 7 and q[2] == "."]
    return out


def collect(result: Any, interval_ns: int) -> list[tuple[int, list[Sample]]]:
    """Per interval (its end in ns): the samples of every device."""
    if interval_ns <= 0:
        raise ValueError("the interval must be more than 0")
    sim = result.sim
    rec = result.recorder
    end = result.sim_time_ns
    edges = np.array(list(range(interval_ns, end, interval_ns)) + [end], dtype=np.int64)
    devices = _devices(sim)
    specs = {apid: sim.machine.adapters[apid].spec for apid in {a for a, _ in devices}}
    tally = _tally(rec, edges, specs)
    out: list[tuple[int, list[Sample]]] = []
    for iv, stop in enumerate(edges.tolist()):
        out.append((stop, [_sample(specs[apid], apid, apqi, iv, tally) for apid, apqi in devices]))
    return out


_DEV_BITS = 3  # counter index bits (at most 6 counters per mode)
_KEY_BITS = 17 + _DEV_BITS  # device keys: an APQN (16 bits) or 0x10000 + APID


def _tally(rec: Any, edges: np.ndarray, specs: dict[int, Any]) -> dict[int, tuple[int, int]]:
    """(ops, busy ns) per (interval, device, counter) key, from every completed request."""
    apqn = np.asarray(rec.apqn, dtype=np.int64)
    rtype = np.asarray(rec.rtype, dtype=np.int64)
    t_done = np.asarray(rec.t_done, dtype=np.int64)
    t_start = np.asarray(rec.t_start, dtype=np.int64)
    t_start = np.where(t_start >= 0, t_start, np.asarray(rec.t_submit, dtype=np.int64))
    busy = t_done - t_start
    iv = np.searchsorted(edges, t_done, side="left")  # interval i holds (edges[i-1], edges[i]]
    # The counter of each request on its card (-1: counted nowhere).
    table = np.full((256, len(REQUEST_TYPES)), -1, dtype=np.int64)
    for apid, spec in specs.items():
        for rt in REQUEST_TYPES:
            i = counter_index(spec.mode, rt.index)
            table[apid, rt.index] = -1 if i is None else i
    ci = table[apqn >> 8, rtype]
    keep = (ci >= 0) & (iv < len(edges))
    iv, apqn, ci, busy = iv[keep], apqn[keep], ci[keep], busy[keep]
    keys = np.concatenate([(iv << _KEY_BITS) | (apqn << _DEV_BITS) | ci,
                           (iv << _KEY_BITS) | ((0x10000 + (apqn >> 8)) << _DEV_BITS) | ci])
    vals = np.concatenate([busy, busy])
    if not keys.size:
        return {}
    order = np.argsort(keys, kind="stable")
    k, v = keys[order], vals[order]
    uniq, starts, counts = np.unique(k, return_index=True, return_counts=True)
    sums = np.add.reduceat(v, starts)
    return dict(zip(uniq.tolist(), zip(counts.tolist(), sums.tolist(), strict=True), strict=True))


def _sample(spec: Any, apid: int, apqi: int | None, iv: int, tally: dict[int, tuple[int, int]]) -> Sample:
    mode = spec.mode
    dev = (0x10000 + apid) if apqi is None else (apid << 8 | apqi)
    names = COUNTERS[mode]
    got = [tally.get((iv << _KEY_BITS) | (dev << _DEV_BITS) | i, (0, 0)) for i in range(len(names))]
    engines = spec.engines
    counters = tuple((n, ops, ns // engines) for n, (ops, ns) in zip(names, got, strict=True))
    # The CCA "All" counter is the totals; otherwise the totals add the counters up.
    if mode is Mode.CCA:
        totals = (got[0][0], got[0][1] // engines)
    else:
        totals = (sum(o for o, _ in got), sum(b for _, b in got) // engines)
    name = f"{apid:02x}" if apqi is None else f"{apid:02x}.{apqi:04x}"
    return Sample(name, f"{spec.type_name} ({_MODE_NAME[mode]})", counters, totals)


def _values(ops: int, busy_ns: int, interval_s: float) -> tuple[float, float, float]:
    busy = busy_ns / 1e9
    return ops / interval_s, busy / interval_s, (busy / ops if ops else 0.0)


def _duration(d: float) -> str:
    if d >= 1:
        return f"{d:.3f} sec "
    if d >= 0.001:
        return f"{d * 1000:.3f} msec"
    return f"{d * 1e6:.3f} usec"


_COLS = (("TIMESTAMP", 20, "l"), ("DEVICE", 7, "l"), ("OPS", 10, "r"), ("RATE", 12, "r"),
         ("UTILIZATION", 12, "r"), ("AVG.DURATION", 15, "r"))


def _wide(values: tuple[str, ...]) -> str:
    return " ".join(v.ljust(w) if a == "l" else v.rjust(w) for v, (_, w, a) in zip(values, _COLS))


def _stamp(t_ns: int) -> str:
    return f"{t_ns / 1e9:.6f}"


def _host(result: Any) -> dict[str, str]:
    return {"nodename": result.scenario.name, "sysname": "Linux", "release": f"apsim-{__version__}",
            "machine": "s390x", "date": "01/01/70"}


def render(result: Any, interval_ns: int, fmt: str = "table") -> str:
    """zcryptstats output of *result* with intervals of *interval_ns*."""
    blocks = collect(result, interval_ns)
    if fmt == "json":
        return _json(result, blocks)
    out: list[str] = []
    if fmt == "table":
        h = _host(result)
        out.append(f"{h['sysname']} {h['release']} ({h['nodename']}) \t{h['date']}\t{h['machine']}\n\n")
        header = _wide(tuple(c[0] for c in _COLS))
        out.append(header + "\n" + "-" * len(header) + "\n")
    elif fmt == "csv":
        out.append(",".join(c[0] for c in _COLS) + "\n")
    else:
        raise ValueError(f"unknown format {fmt!r} ({', '.join(FORMATS)})")
    prev = 0
    for stop, samples in blocks:
        secs = (stop - prev) / 1e9
        for s in samples:
            rate, util, dur = _values(*s.totals, secs)
            if fmt == "table":
                out.append(_wide((_stamp(stop), s.device, str(s.totals[0]), f"{rate:.2f}",
                                  f"{util * 100:.2f} %", _duration(dur))) + "\n")
            else:
                out.append(f"{_stamp(stop)},{s.device},{s.totals[0]},{rate:.2f},{util * 100:.2f} %,"
                           f"{dur:.9f}\n")
        if fmt == "table":
            out.append("-" * len(_wide(tuple(c[0] for c in _COLS))) + "\n")
        prev = stop
    return "".join(out)


def _json(result: Any, blocks: list[tuple[int, list[Sample]]]) -> str:
    h = _host(result)
    out = ['{"zcryptstats": {\n', '\t"host": {\n']
    out += [f'\t\t"{k}": {json.dumps(h[k])},\n' for k in ("nodename", "sysname", "release", "machine", "date")]
    out.append('\t\t"statistics": [\n')
    prev = 0
    for n, (stop, samples) in enumerate(blocks, start=1):
        secs = (stop - prev) / 1e9
        if n > 1:
            out.append(",\n")
        out.append("\t\t\t{\n")
        out.append(f'\t\t\t\t"interval": {n}, "timestamp": "{_stamp(stop)}", "devices": [\n')
        for i, s in enumerate(samples):
            if i:
                out.append(",\n")
            out.append(f'\t\t\t\t\t{{"device": "{s.device}", "type": "{s.type}",\n')
            out.append('\t\t\t\t\t "counters": [\n')
            rows = [(name, ops, busy) for name, ops, busy in s.counters] + [("Total", *s.totals)]
            lines = []
            for name, ops, busy in rows:
                rate, util, dur = _values(ops, busy, secs)
                lines.append(f'\t\t\t\t\t\t{{"counter": "{name}", "ops": {ops}, "rate": {rate:.2f}, '
                             f'"utilization": {util * 100:.2f}, "duration": {dur:.9f}}}')
            out.append(",\n".join(lines) + "\n")
            out.append("\t\t\t\t\t ]}")
        if samples:
            out.append("\n")
        out.append("\t\t\t\t]\n\t\t\t}")
        prev = stop
    out.append("\n\t\t]\n\t}\n}}\n")
    return "".join(out)
