"""Hot-path recording of finished requests, and of admin-event outcomes.

Workloads append one row per completed request into growable typed arrays (no
per-request dict or string); the report layer turns them into numpy arrays at the
end of the run and computes throughput, exact latency percentiles and time series
from all samples.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np


class RequestRecorder:
    """Columns of completed requests: owner index, APQN, type, NQAP/done/DQAP times (ns)."""

    __slots__ = ("owner", "apqn", "rtype", "t_submit", "t_done", "t_deq", "owners", "warmup_ns")

    def __init__(self, warmup_ns: int = 0) -> None:
        self.owner = array("l")
        self.apqn = array("l")
        self.rtype = array("l")
        self.t_submit = array("q")
        self.t_done = array("q")
        self.t_deq = array("q")
        self.owners: list[str] = []  # owner index -> name (guest names)
        self.warmup_ns = warmup_ns

    def owner_index(self, name: str) -> int:
        """Register an owner name (a guest) and return its index."""
        if name in self.owners:
            return self.owners.index(name)
        self.owners.append(name)
        return len(self.owners) - 1

    def record(self, owner: int, apqn: int, rtype: int, t_submit: int, t_done: int, t_deq: int) -> None:
        """One completed request (its reply was dequeued at *t_deq*)."""
        self.owner.append(owner)
        self.apqn.append(apqn)
        self.rtype.append(rtype)
        self.t_submit.append(t_submit)
        self.t_done.append(t_done)
        self.t_deq.append(t_deq)

    def __len__(self) -> int:
        return len(self.owner)

    def arrays(self) -> dict[str, np.ndarray]:
        """All columns as numpy arrays (rows submitted before the warm-up end excluded)."""
        cols = {k: np.frombuffer(getattr(self, k), dtype=np.int64 if getattr(self, k).typecode == "q"
                                 else np.dtype(getattr(self, k).typecode))
                for k in ("owner", "apqn", "rtype", "t_submit", "t_done", "t_deq")}
        cols = {k: v.astype(np.int64) for k, v in cols.items()}
        if self.warmup_ns:
            keep = cols["t_submit"] >= self.warmup_ns
            cols = {k: v[keep] for k, v in cols.items()}
        return cols


@dataclass
class TimelineEntry:
    """One admin action of a scenario with its outcome (errno name or ``ok``)."""

    at_ns: int
    do: str
    args: dict
    outcome: str = "ok"
    detail: str = ""
    expected: object = None
    actual: object = None
    passed: bool | None = None
    line: int | None = None

    def as_dict(self) -> dict:
        """JSON form for the report."""
        d: dict = {"at_us": self.at_ns / 1000, "do": self.do, "args": self.args, "outcome": self.outcome}
        if self.detail:
            d["detail"] = self.detail
        if self.passed is not None:
            d["expected"] = self.expected
            d["actual"] = self.actual
            d["passed"] = self.passed
        return d


@dataclass
class Timeline:
    """The admin events of a run, in the order they happened."""

    entries: list[TimelineEntry] = field(default_factory=list)

    def add(self, entry: TimelineEntry) -> TimelineEntry:
        """Append an entry and return it."""
        self.entries.append(entry)
        return entry
