"""``--csv DIR``: one CSV file per report table, for spreadsheets and pandas.

Files: ``guests.csv``, ``apqns.csv``, ``adapters.csv``, ``request_types.csv``,
``requests.csv`` (the ledger as category/key/count rows), ``series.csv``,
``timeline.csv`` and ``expectations.csv``; with the k8s CEX plugin also
``cex_plugin_sets.csv`` and ``cex_plugin_containers.csv``. Values come from the (rounded) JSON
report, so the CSV and JSON files agree; list and dict cells are written as JSON.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from apsim.report.json_report import canonical

__all__ = ["write_csv"]


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else value


def _write(path: Path, header: list[str], rows: Iterable[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([_cell(v) for v in row])
    return path


def _table(path: Path, key_name: str, table: dict[str, dict[str, Any]]) -> Path:
    cols: list[str] = []
    for row in table.values():
        for k in row:
            if k not in cols:
                cols.append(k)
    return _write(path, [key_name, *cols], ([key, *(row.get(c) for c in cols)] for key, row in table.items()))


def write_csv(report: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write the report's tables into *out_dir* (created if needed); returns the files."""
    rep = canonical(report)
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    files = [
        _table(d / "guests.csv", "guest", rep.get("guests", {})),
        _table(d / "apqns.csv", "apqn", rep.get("apqns", {})),
        _table(d / "adapters.csv", "adapter", rep.get("adapters", {})),
        _table(d / "request_types.csv", "request_type", rep.get("request_types", {})),
    ]
    req = rep.get("requests", {})
    ledger_rows: list[list[Any]] = []
    for cat in ("submitted", "completed", "in_flight"):
        if cat in req:
            ledger_rows.append([cat, "", req[cat]])
    for cat in ("rejected", "dropped"):
        for key, n in (req.get(cat) or {}).items():
            ledger_rows.append([cat, key, n])
    files.append(_write(d / "requests.csv", ["category", "key", "count"], ledger_rows))

    s = rep.get("series", {})
    by_guest = s.get("completions_by_guest", {})
    names = list(by_guest)
    rows = []
    for i, t in enumerate(s.get("t_us", [])):
        rows.append([t, s["completions"][i], s["mean_latency_us"][i], *(by_guest[n][i] for n in names)])
    files.append(_write(d / "series.csv", ["t_us", "completions", "mean_latency_us",
                                           *(f"completions_{n}" for n in names)], rows))

    files.append(_write(d / "timeline.csv",
                        ["at", "at_us", "line", "do", "args", "outcome", "detail", "expected", "actual",
                         "passed"],
                        ([e.get("at"), e.get("at_us"), e.get("line"), e.get("do"), e.get("args"),
                          e.get("outcome"), e.get("detail"), e.get("expected"), e.get("actual"),
                          e.get("passed")] for e in rep.get("timeline", []))))
    files.append(_write(d / "expectations.csv",
                        ["at", "at_us", "line", "do", "args", "expected", "actual", "passed"],
                        ([e.get("at"), e.get("at_us"), e.get("line"), e.get("do"), e.get("args"),
                          e.get("expected"), e.get("actual"), e.get("passed")]
                         for e in rep.get("expectations", []))))
    plugin = rep.get("cex_plugin")
    if plugin:
        files.append(_table(d / "cex_plugin_sets.csv", "setname", plugin["sets"]))
        files.append(_table(d / "cex_plugin_containers.csv", "container", plugin["containers"]))
    return files
