"""The report's ``faults`` block: every injected fault and each time it fired."""

from __future__ import annotations

from typing import Any

from apsim.units import format_duration

__all__ = ["faults_block"]


def faults_block(result: Any) -> list[dict[str, Any]] | None:
    """What ``fault.inject`` armed, with its firings (None when the run injected nothing,
    so reports of runs without faults stay as they were)."""
    sim = getattr(result, "sim", None)
    table = getattr(getattr(sim, "machine", None), "faults", None)
    if table is None:
        return None
    out = []
    for f in table.summary():
        f["firings"] = [{"at": format_duration(x["t_ns"]), "at_us": x["t_ns"] / 1000, "what": x["what"],
                         "where": x["where"]} for x in f["firings"]]
        f["start"] = format_duration(f.pop("start_ns"))
        end = f.pop("end_ns")
        f["end"] = None if end is None else format_duration(end)
        out.append(f)
    return out
