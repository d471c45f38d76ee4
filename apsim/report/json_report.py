"""The JSON report (design contract 3), built so the same inputs give the same bytes.

:func:`build_report` turns a run's result into a plain dict: the scenario name,
seed, mode and simulated time; the ``requests`` ledger (submitted = completed +
rejected + dropped + in_flight); per guest / APQN / adapter / request type
throughput and latency percentiles; a time series; the timeline of admin actions
with their outcomes; every checked expectation; and the kernel log.

Determinism (contract 4): :func:`dumps_report` sorts keys, rounds every float to
:data:`FLOAT_DECIMALS` places, writes NaN/inf as null and uses no wall-clock time,
host name or absolute path, so one scenario and seed give byte-identical files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from apsim import __version__
from apsim.engine.recorder import RequestRecorder, Timeline
from apsim.report.cex_plugin import cex_plugin_block
from apsim.report.faults import faults_block
from apsim.report.health import guest_health
from apsim.report.stats import RunStats, compute_stats
from apsim.units import US, format_duration

__all__ = ["RunResultLike", "build_report", "dumps_report", "write_json", "canonical",
           "FLOAT_DECIMALS", "REPORT_VERSION"]

FLOAT_DECIMALS = 6
REPORT_VERSION = 1


class RunResultLike(Protocol):
    """What the report needs from :class:`apsim.scenario.run.RunResult`."""

    recorder: RequestRecorder
    ledger: Any  # apsim.engine.request.Ledger: .summary() -> the contract-3 requests block
    timeline: Timeline
    adapters: dict[int, dict[str, Any]]
    apqn_occupancy: dict[int | str, float]
    kernel_log: list[str]
    sim_time_ns: int
    seed: int
    mode: str
    scenario: Any  # apsim.scenario.schema.Scenario
    expectations_passed: bool


def build_report(result: RunResultLike, *, stats: RunStats | None = None,
                 window_ns: int | None = None) -> dict[str, Any]:
    """The contract-3 report of *result* as a JSON-ready dict (not yet rounded)."""
    if stats is None:
        stats = compute_stats(result.recorder, sim_time_ns=result.sim_time_ns,
                              adapters=result.adapters, apqn_occupancy=result.apqn_occupancy,
                              window_ns=window_ns)
    sc = result.scenario
    entries = list(result.timeline.entries)
    expectations = [_expectation(e) for e in entries if e.passed is not None]
    return {
        "report_version": REPORT_VERSION,
        "apsim_version": __version__,
        "scenario": getattr(sc, "name", str(sc)),
        "seed": int(result.seed),
        "mode": str(result.mode),
        "sim_time_us": result.sim_time_ns / US,
        "warmup_us": int(result.recorder.warmup_ns or 0) / US,
        "warmup_excluded": getattr(result, "warmup_excluded", None),
        "requests": result.ledger.summary(),
        "latency": stats.overall,
        "guests": stats.guests,
        "health": guest_health(result) if getattr(result, "guests", None) else {},
        "apqns": stats.apqns,
        "adapters": stats.adapters,
        "request_types": stats.request_types,
        "series": stats.series,
        "timeline": [_timeline_entry(e) for e in entries],
        "expectations": expectations,
        "expectations_passed": bool(result.expectations_passed),
        "kernel_log": [str(line) for line in result.kernel_log],
        **({"replications": result.replications} if getattr(result, "replications", None) else {}),
        **({"bulk": result.bulk} if getattr(result, "bulk", None) is not None else {}),
        **({"cex_plugin": plugin} if (plugin := cex_plugin_block(result)) is not None else {}),
        **({"faults": faults} if (faults := faults_block(result)) is not None else {}),
    }


def _timeline_entry(e: Any) -> dict[str, Any]:
    d = e.as_dict()
    d.setdefault("at", format_duration(int(e.at_ns)))
    if getattr(e, "line", None) is not None:
        d.setdefault("line", e.line)
    return d


def _expectation(e: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "at": format_duration(int(e.at_ns)),
        "at_us": e.at_ns / US,
        "do": e.do,
        "args": e.args,
        "expected": e.expected,
        "actual": e.actual,
        "passed": bool(e.passed),
    }
    if getattr(e, "line", None) is not None:
        d["line"] = e.line
    if e.detail:
        d["detail"] = e.detail
    return d


def canonical(obj: Any) -> Any:
    """*obj* as plain JSON values: floats rounded, NaN/inf → None, numpy scalars unwrapped."""
    if isinstance(obj, dict):
        return {str(k): canonical(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [canonical(v) for v in obj]
    if isinstance(obj, set | frozenset):
        return [canonical(v) for v in sorted(obj, key=str)]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        x = float(obj)
        if not math.isfinite(x):
            return None
        x = round(x, FLOAT_DECIMALS)
        return 0.0 if x == 0 else x  # no "-0.0"
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, np.ndarray):
        return canonical(obj.tolist())
    return str(obj)


def dumps_report(report: dict[str, Any]) -> str:
    """The report as JSON text: sorted keys, 2-space indent, rounded floats, final newline."""
    return json.dumps(canonical(report), sort_keys=True, indent=2, ensure_ascii=False,
                      allow_nan=False) + "\n"


def write_json(report: dict[str, Any], path: str | Path) -> Path:
    """Write the report to *path* (parent folders created); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(dumps_report(report), encoding="utf-8")
    return p
