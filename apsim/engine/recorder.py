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

from apsim.engine.rows import RowBuffer


COLUMNS = ("owner", "apqn", "rtype", "t_submit", "t_start", "t_done", "t_deq")
"""Every column of a :class:`RequestRecorder`, in row order."""


class RequestRecorder:
    """Columns of completed requests: owner index, APQN, type, NQAP/start/done/DQAP times (ns).

    ``t_start`` (added for waiting-time analysis) is when an engine took the
    request; rows recorded through the old six-argument :meth:`record` carry -1.
    The event engine writes rows into :attr:`rows` (an :class:`~apsim.engine.rows.RowBuffer`:
    no Python object per row), which hands over int64 blocks; the bulk mode appends
    numpy blocks (:meth:`extend`). Both are kept in arrival order and merged
    lazily, so reading a column (an ``array.array``), :meth:`arrays` or ``len()``
    always sees every row, in order.
    """

    __slots__ = ("_owner", "_apqn", "_rtype", "_t_submit", "_t_start", "_t_done", "_t_deq",
                 "owners", "warmup_ns", "rows", "add_row", "_segs", "_nsegs", "excluded")

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
        # Per-owner windows left out of the statistics like the warm-up: (owner, from, until)
        # in ns of submission time (the boot of a guest started after setup).
        self.excluded: list[tuple[int, int, int]] = []
        # The rows being written (full blocks arrive in _take_block).
        self.rows = RowBuffer(self._take_block)
        # ``add_row((owner, apqn, rtype, t_submit, t_start, t_done, t_deq))``.
        self.add_row = self.rows.add_row
        # Numpy blocks after the array columns: (n, 7) row blocks from `rows` (split into
        # columns only when read) or dicts of columns from the bulk mode.
        self._segs: list[np.ndarray | dict[str, np.ndarray]] = []
        self._nsegs = 0  # rows in _segs

    # --- columns (always complete) -------------------------------------------------------
    def _col(self, name: str) -> array:
        if self.rows.n or self._segs:
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
        """Move the rows being written into a numpy block (keeps their place in the order)."""
        self.rows.flush()

    def _take_block(self, block: np.ndarray) -> None:
        """A block of rows from :attr:`rows`, (n, 7) int64 in :data:`COLUMNS` order."""
        self._segs.append(block)
        self._nsegs += len(block)

    def _merge(self) -> None:
        """Move every block into the array columns."""
        self.flush()
        for seg in self._segs:
            for k in COLUMNS:
                col = getattr(self, "_" + k)
                col.frombytes(np.ascontiguousarray(_column(seg, k), dtype=np.dtype(col.typecode)).tobytes())
        self._segs = []
        self._nsegs = 0

    def owner_index(self, name: str) -> int:
        """Register an owner name (a guest) and return its index."""
        if name in self.owners:
            return self.owners.index(name)
        self.owners.append(name)
        return len(self.owners) - 1

    def record(self, owner: int, apqn: int, rtype: int, t_submit: int, t_done: int, t_deq: int,
               t_start: int = -1) -> None:
        """One completed request (its reply was dequeued at *t_deq*)."""
        self.rows.add(owner, apqn, rtype, t_submit, t_start, t_done, t_deq)

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
        return len(self._owner) + self._nsegs + self.rows.n

    def arrays(self, *, include_warmup: bool = False) -> dict[str, np.ndarray]:
        """All columns as int64 numpy arrays (rows submitted before the warm-up end, or in an
        owner's :attr:`excluded` window, left out unless *include_warmup*)."""
        self.flush()
        cols = {}
        for k in COLUMNS:
            base = getattr(self, "_" + k)
            parts = [np.frombuffer(base, dtype=np.dtype(base.typecode)).astype(np.int64)]
            parts.extend(_column(seg, k) for seg in self._segs)
            cols[k] = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if include_warmup or not (self.warmup_ns or self.excluded):
            return cols
        t = cols["t_submit"]
        keep = t >= self.warmup_ns
        for owner, lo, hi in self.excluded:
            keep &= ~((cols["owner"] == owner) & (t >= lo) & (t < hi))
        return {k: v[keep] for k, v in cols.items()}


_COL = {k: i for i, k in enumerate(COLUMNS)}


def _column(seg: np.ndarray | dict[str, np.ndarray], k: str) -> np.ndarray:
    """Column *k* of a block: a row block's column (a strided view) or a dict's entry."""
    return seg[:, _COL[k]] if isinstance(seg, np.ndarray) else seg[k]


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
