"""The console report: rich tables printed from the JSON report dict.

Printing from the same dict the JSON file holds keeps the two consistent. Tables:
the request ledger, per guest, per adapter, the busiest APQNs (top N), the
timeline of admin actions with their outcomes (failed expectations in red), the
failed expectations with what was expected and what happened, and the tail of the
kernel log.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from apsim.report.health import stall_warnings

__all__ = ["render_report", "KERNEL_LOG_TAIL"]

KERNEL_LOG_TAIL = 40
"""Kernel log lines shown on the console (the JSON report has them all)."""


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


def _lat_cols(t: Table) -> None:
    for name in ("p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "mean µs", "max µs"):
        t.add_column(name, justify="right")


def _lat_vals(row: dict[str, Any]) -> list[str]:
    return [_f(row.get(k)) for k in ("p50_us", "p90_us", "p99_us", "p999_us", "mean_us", "max_us")]


def _compact(value: Any, width: int | None = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = text.replace("\n", "\\n")
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def _print(con: Console, t: Table) -> None:
    """Print *t* with every cell whole: numbers are never cut to ``1,7…`` on a narrow terminal.

    Each column is at least as wide as its widest cell or header, and the table may
    run past the terminal's width instead of being cropped.
    """
    for col in t.columns:
        cells = [c for c in (col.header, *col._cells) if isinstance(c, str)]
        longest = max((len(c) for c in cells), default=0)
        col.min_width = max(col.min_width or 0, min(longest, 80))
        col.no_wrap = True
        col.overflow = "fold"
    needed = sum(c.min_width or 0 for c in t.columns) + 3 * len(t.columns) + 1  # cells + borders/padding
    width = con.width
    if needed > width:  # Console.print(width=) cannot go beyond the console's own width
        con.width = needed
    try:
        con.print(t, crop=False)
    finally:
        con.width = width


def render_report(report: dict[str, Any], console: Console | None = None, *, top_n: int = 10,
                  wide: bool = False) -> None:
    """Print *report* (from :func:`apsim.report.json_report.build_report`) to *console*.

    *wide*: every APQN instead of the top *top_n*, and operands and details uncut.
    """
    if wide:
        top_n = 1 << 30
    con = console or Console()
    req = report.get("requests", {})
    con.print(Text.assemble(
        ("apsim ", "bold"), (str(report.get("scenario")), "bold cyan"),
        f"  seed {report.get('seed')}  mode {report.get('mode')}  "
        f"simulated {_f(report.get('sim_time_us', 0) / 1000, 3)} ms"
        + (f" (warm-up {_f(report['warmup_us'] / 1000, 3)} ms)" if report.get("warmup_us") else "")))
    if report.get("warmup_excluded"):
        con.print(f"statistics exclude {report['warmup_excluded']}", markup=False, soft_wrap=True)

    t = Table(title="Requests", title_justify="left")
    for col in ("submitted", "completed", "rejected", "dropped", "in flight"):
        t.add_column(col, justify="right")
    rej = req.get("rejected", {}) or {}
    drp = req.get("dropped", {}) or {}
    t.add_row(_f(req.get("submitted")), _f(req.get("completed")),
              f"{sum(rej.values()):,}" + (f" {_compact(rej, 40)}" if rej else ""),
              f"{sum(drp.values()):,}" + (f" {_compact(drp, 40)}" if drp else ""),
              _f(req.get("in_flight")))
    _print(con, t)

    guests = report.get("guests", {})
    if guests:
        t = Table(title="Guests", title_justify="left")
        t.add_column("guest")
        t.add_column("completed", justify="right")
        t.add_column("req/s", justify="right")
        _lat_cols(t)
        health = report.get("health") or {}
        t.add_column("ready ms", justify="right")
        t.add_column("backlog", justify="right")
        for name, row in guests.items():
            h = health.get(name, {})
            ready = h.get("ready_us")
            t.add_row(name, _f(row.get("completed")), _f(row.get("throughput_rps")), *_lat_vals(row),
                      "-" if ready is None else _f(ready / 1000), _f(h.get("backlog")))
        _print(con, t)
        for line in stall_warnings(report):
            con.print(Text("STALLED: " + line, style="bold red"))

    plugin = report.get("cex_plugin")
    if plugin:
        t = Table(title="k8s CEX plugin sets (gauges of the last poll)", title_justify="left")
        for col in ("set", "devs", "used", "req counter", "completed", "p50 µs", "p99 µs"):
            t.add_column(col, justify="left" if col == "set" else "right")
        for name, row in plugin["sets"].items():
            t.add_row(name, *(_f(row.get(f"cex_plugin_{k}")) for k in
                              ("plugindevs_available", "plugindevs_used", "request_counter")),
                      _f(row.get("completed")), _f(row.get("p50_us")), _f(row.get("p99_us")))
        con.print(t)

    adapters = report.get("adapters", {})
    if adapters:
        t = Table(title="Adapters", title_justify="left")
        for col in ("adapter", "type"):
            t.add_column(col)
        for col in ("util", "completed", "req/s", "p50 µs", "p99 µs", "mean µs"):
            t.add_column(col, justify="right")
        for key, row in adapters.items():
            t.add_row(key, _f(row.get("type")), _pct(row.get("utilization")), _f(row.get("completed")),
                      _f(row.get("throughput_rps")), _f(row.get("p50_us")), _f(row.get("p99_us")),
                      _f(row.get("mean_us")))
        _print(con, t)

    apqns = report.get("apqns", {})
    if apqns:
        busiest = sorted(apqns.items(), key=lambda kv: (-(kv[1].get("completed") or 0), kv[0]))[:top_n]
        more = len(apqns) - len(busiest)
        t = Table(title=f"APQNs (top {len(busiest)} by completions"
                        + (f"; {more} more in the JSON/CSV report)" if more else ")"),
                  title_justify="left")
        for col in ("apqn", "guests"):
            t.add_column(col)
        for col in ("completed", "req/s", "occupancy", "p50 µs", "p99 µs", "mean µs"):
            t.add_column(col, justify="right")
        for key, row in busiest:
            t.add_row(key, ",".join(row.get("guests") or []) or "-", _f(row.get("completed")),
                      _f(row.get("throughput_rps")), _f(row.get("occupancy"), 2), _f(row.get("p50_us")),
                      _f(row.get("p99_us")), _f(row.get("mean_us")))
        _print(con, t)

    _render_timeline(con, report, wide)
    _render_failures(con, report)

    log = report.get("kernel_log") or []
    if log:
        tail = log[-KERNEL_LOG_TAIL:]
        con.print(Text("Kernel log" + (f" (last {len(tail)} of {len(log)} lines)" if len(log) > len(tail)
                                        else ""), style="bold"))
        for line in tail:
            con.print(Text(line, style="dim"))

    # Count what the file asked to check; the setup's own writes and starts are not
    # expectations of the file (a failed one still shows, on its own line).
    exps = [e for e in report.get("expectations") or [] if not (e.get("args") or {}).get("setup")]
    failed = sum(1 for e in exps if not e.get("passed"))
    if exps:
        style = "bold red" if failed else "bold green"
        con.print(Text(f"expectations: {len(exps) - failed} passed, {failed} failed", style=style))
    setup_failed = sum(1 for e in report.get("expectations") or []
                       if (e.get("args") or {}).get("setup") and not e.get("passed"))
    if setup_failed:
        con.print(Text(f"setup: {setup_failed} action{'s' if setup_failed != 1 else ''} failed", style="bold red"))


def _render_timeline(con: Console, report: dict[str, Any], wide: bool = False) -> None:
    entries = report.get("timeline") or []
    if not entries:
        return
    t = Table(title="Timeline", title_justify="left")
    t.add_column("at", justify="right")
    t.add_column("action")
    t.add_column("operands")
    t.add_column("outcome")
    t.add_column("check")
    width = None if wide else 50
    setup = [e for e in entries if (e.get("args") or {}).get("setup")]
    ready = [e for e in entries if e.get("do") == "guest.ready"]
    if setup:
        bad = [e for e in setup if e.get("passed") is False or e.get("outcome") not in ("ok", None)]
        t.add_row(_span(setup),
                  "setup", f"{len(setup)} setup actions", "all ok" if not bad else f"{len(bad)} not ok", "",
                  style="bold red" if bad else "")
    if ready:
        t.add_row(_span(ready),
                  "guest.ready", f"{len(ready)} guest{'s' if len(ready) != 1 else ''} ready", "ok", "")
    folded = {id(e) for e in setup} | {id(e) for e in ready}
    shown = [e for e in entries if id(e) not in folded]
    shown += [e for e in setup if e.get("passed") is False or e.get("outcome") not in ("ok", None)]
    for e in shown:
        passed = e.get("passed")
        check = "" if passed is None else ("ok" if passed else "FAILED")
        style = "bold red" if passed is False else ("red" if e.get("outcome") not in ("ok", None) else "")
        outcome = str(e.get("outcome"))
        if e.get("detail"):
            outcome += f" ({_compact(e['detail'], width)})"
        t.add_row(str(e.get("at", e.get("at_us"))), str(e.get("do")), _compact(e.get("args", {}), width),
                  outcome, check, style=style)
    _print(con, t)


def _span(entries: list[dict[str, Any]]) -> str:
    first, last = str(entries[0].get("at")), str(entries[-1].get("at"))
    return first if first == last else f"{first}..{last}"


def _render_failures(con: Console, report: dict[str, Any]) -> None:
    failed = [e for e in report.get("expectations") or [] if not e.get("passed")]
    if not failed:
        return
    t = Table(title="Failed expectations", title_justify="left", style="red")
    for col in ("at", "line", "action", "expected", "actual"):
        t.add_column(col)
    for e in failed:
        t.add_row(str(e.get("at")), str(e.get("line") or "-"), str(e.get("do")),
                  _compact(e.get("expected"), 50), _compact(e.get("actual"), 50), style="bold red")
    _print(con, t)
