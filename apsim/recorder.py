"""Hot-path recording of finished requests, and of admin-event outcomes.

Workloads append one row per completed request into growable typed arrays (no
per-request dict or string); the report layer turns them into numpy arrays at the
end of the run and computes throughput, exact latency percentiles and time series
from all samples.
"""

from __future__ import annotations

from array import array
from itertools import chain
from dataclasses import dataclass, field

import numpy as np


COLUMNS = ("owner", "apqn", "rtype", "t_submit", "t_start", "t_done", "t_deq")
"""Every column of a :class:`RequestRecorder`, in row order."""


_FLUSH_ROWS = 16384  # pending rows kept as tuples before they go into the columns


class RequestRecorder:
    """Columns of completed requests: owner index, APQN, type, NQAP/start/done/DQAP times (ns).

    ``t_start`` (added for waiting-time analysis) is when an engine took the
    request; rows recorded through the old six-argument :meth:`record` carry -1.
    The event engine appends whole rows as tuples (:attr:`add_row`, one C call
    per request) and the bulk mode appends numpy blocks (:meth:`extend`); both are
    kept in arrival order and merged lazily, so reading a column (an
    ``array.array``), :meth:`arrays` or ``len()`` always sees every row, in order.
    """

    __slots__ = ("_owner", "_apqn", "_rtype", "_t_submit", "_t_start", "_t_done", "_t_deq",
                 "owners", "warmup_ns", "_rows", "add_row", "_segs", "_nsegs")

    def __init__(self, warmup_ns: int = 0) -> None:
        self._owner = array("l")
        self._apqn = array("l")
        self._rtype = array("l")
        self._t_submit = array("q")
        self._t_start = array("q")
        self._t_done = array("q")
        self._t_deq = array("q")
        self.owners: list[str] = []  # owner index -> name (guest names)
        self.warmup_ns = warmup_ns
        self._rows: list[tuple[int, int, int, int, int, int, int]] = []
        # Bound append of the pending-row list: ``add_row((owner, apqn, rtype,
        # t_submit, t_start, t_done, t_deq))``.
        self.add_row = self._rows.append
        self._segs: list[dict[str, np.ndarray]] = []  # numpy blocks after the array columns
        self._nsegs = 0  # rows in _segs

    # --- columns (always complete) -------------------------------------------------------
    def _col(self, name: str) -> array:
        if self._rows or self._segs:
            self._merge()
        return getattr(self, "_" + name)

    owner = property(lambda self: self._col("owner"), doc="Owner index of each row.")
    apqn = property(lambda self: self._col("apqn"), doc="APQN of each row.")
    rtype = property(lambda self: self._col("rtype"), doc="Request type index of each row.")
    t_submit = property(lambda self: self._col("t_submit"), doc="NQAP time (ns).")
    t_start = property(lambda self: self._col("t_start"), doc="Engine start time (ns), -1 if unknown.")
    t_done = property(lambda self: self._col("t_done"), doc="Reply-ready time (ns).")
    t_deq = property(lambda self: self._col("t_deq"), doc="DQAP time (ns).")

    def flush(self) -> None:
        """Turn the pending tuple rows into a numpy block (keeps their place in the order)."""
        rows = self._rows
        if not rows:
            return
        n = len(rows)
        flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=7 * n).reshape(n, 7)
        rows.clear()  # in place: add_row stays bound to this list
        self._segs.append({k: flat[:, i].copy() for i, k in enumerate(COLUMNS)})
        self._nsegs += n

    def _merge(self) -> None:
        """Move every block into the array columns."""
        self.flush()
        for seg in self._segs:
            for k in COLUMNS:
                col = getattr(self, "_" + k)
                col.frombytes(np.ascontiguousarray(seg[k], dtype=np.dtype(col.typecode)).tobytes())
        self._segs = []
        self._nsegs = 0

    def maybe_flush(self) -> None:
        """Flush when enough rows are pending (bounds the memory of pending tuples)."""
        if len(self._rows) >= _FLUSH_ROWS:
            self.flush()

    def owner_index(self, name: str) -> int:
        """Register an owner name (a guest) and return its index."""
        if name in self.owners:
            return self.owners.index(name)
        self.owners.append(name)
        return len(self.owners) - 1

    def record(self, owner: int, apqn: int, rtype: int, t_submit: int, t_done: int, t_deq: int,
               t_start: int = -1) -> None:
        """One completed request (its reply was dequeued at *t_deq*)."""
        self._rows.append((owner, apqn, rtype, t_submit, t_start, t_done, t_deq))
        if len(self._rows) >= _FLUSH_ROWS:
            self.flush()

    def appenders(self) -> tuple:
        """Bound ``append`` of every column, in :data:`COLUMNS` order (blocks merged first)."""
        self._merge()
        return tuple(getattr(self, "_" + k).append for k in COLUMNS)

    def extend(self, cols: dict[str, np.ndarray]) -> None:
        """Append many rows at once (the bulk mode): one int array per column of :data:`COLUMNS`."""
        n = len(cols["owner"])
        for k in COLUMNS:
            if len(cols[k]) != n:
                raise ValueError(f"column {k} has {len(cols[k])} rows, owner has {n}")
        if not n:
            return
        self.flush()
        self._segs.append({k: np.asarray(cols[k], dtype=np.int64) for k in COLUMNS})
        self._nsegs += n

    def __len__(self) -> int:
        return len(self._owner) + self._nsegs + len(self._rows)

    def arrays(self) -> dict[str, np.ndarray]:
        """All columns as int64 numpy arrays (rows submitted before the warm-up end excluded)."""
        self.flush()
        cols = {}
        for k in COLUMNS:
            base = getattr(self, "_" + k)
            parts = [np.frombuffer(base, dtype=np.dtype(base.typecode)).astype(np.int64)]
            parts.extend(seg[k] for seg in self._segs)
            cols[k] = np.concatenate(parts) if len(parts) > 1 else parts[0]
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
