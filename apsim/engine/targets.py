"""The driver's per-APQN state (:class:`Target`) and zcrypt's least-loaded heap (:class:`_LLGroup`).

A :class:`Target` is what a workload knows of one APQN it sends to, and that
APQN's reply-pickup timer; an :class:`_LLGroup` orders the targets of one weight
class for zcrypt's least-loaded choice. Both live apart from
:mod:`apsim.engine.workload`, which builds on them; they reach their workload
through :class:`Driver`, the part of it they call back, so this module never
imports the workload (its compiled declarations need no cycle).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from apsim.engine.core import Hook, Pickup
from apsim.engine.request import Request
from apsim.engine.simpy_internals import clock

_COMPILED = not __file__.endswith(".py")  # blocks and heaps as C arrays, else lists (as_block)


class Driver(Hook):
    """What a :class:`Target` calls back: its workload (:class:`apsim.engine.workload.Workload`).

    It holds the fields an interruption reads (clock, calendar, latency) and the
    reply pickup, which the workload implements.
    """

    __slots__ = ("env", "_cal", "irq_latency")

    def _take_replies(self, tg: Target, now: int) -> None:
        """Dequeue every reply waiting on *tg*'s APQN at *now* (-1: read the clock)."""
        raise NotImplementedError


class Target(Pickup):
    """The driver's view of one APQN it sends to; also that APQN's reply-pickup timer.

    ``outstanding`` counts requests NQAP'd and not yet dequeued (or dropped),
    ``load`` the zcrypt weight of requests dispatched to it and not finished (held
    ones included), ``total`` every request ever dispatched to it, ``held`` the
    driver's software queue for it. As a :class:`~apsim.engine.core.Hook` it is on SimPy's
    heap while a pickup is pending.
    """

    __slots__ = ("wl", "apqn", "idx", "outstanding", "load", "total", "depth", "_held",
                 "weights", "group", "pickup_cbs", "q", "gen")

    def __init__(self, wl: Driver, apqn: int, depth: int) -> None:
        self.callbacks = None
        self.wl = wl
        self.apqn = apqn
        self.idx = -1  # position in the workload's active target list (-1: not active)
        self.outstanding = 0
        self.load = 0
        self.total = 0
        self.depth = depth
        # The driver's software queue, created when first needed: most targets never
        # hold a request, and an empty deque per APQN is 600 bytes to walk past.
        self._held: deque[Request] | None = None
        self.weights: dict[int, int] = {}  # request type index -> zcrypt weight
        self.group: _LLGroup | None = None
        self.pickup_cbs = (wl._drain_target,)  # SimPy passes the target itself
        # Deferrable interruption target (apsim.engine.core.Pickup): an interruption
        # means "pick up pickup_ns later", so a planned adapter folds the two.
        self.pickup_ns = wl.irq_latency
        self.picked_at = -1
        # The physical queue behind the APQN for a port that offers links (an LPAR's
        # own zcrypt), valid while the configuration's generation is `gen`.
        self.q: Any = None
        self.gen = -1

    @property
    def held(self) -> deque[Request]:
        """Requests dispatched to this APQN and waiting for a free slot (the driver's queue)."""
        if self._held is None:
            self._held = deque()
        return self._held

    def pickup(self, queue: object) -> None:
        """The deferred form of an interruption: take the APQN's replies now."""
        # The adapter calls this at picked_at, which it has just set (Pickup's contract).
        self.wl._take_replies(self, self.picked_at)

    def weight(self, rt: int) -> int:
        """zcrypt weight of one *rt* request on this APQN (1 without a weight function)."""
        w = self.weights.get(rt)
        if w is None:
            wof = self.wl.weight_of
            w = self.weights[rt] = int(wof(self.apqn, rt)) if wof is not None else 1
        return w

    def __call__(self, _apqn: object) -> None:
        """The interruption handler a port calls (with the APQN or the queue)."""
        self.on_irq(_apqn)

    def on_irq(self, _apqn: object) -> None:
        """Interruption handler: pick replies up after the interruption latency.

        The argument (the APQN, or the queue when a port wires the handler in
        directly) is not needed: the target knows its APQN.
        """
        if self.callbacks is not None:
            return  # a pickup is already pending; it will take this reply too
        wl = self.wl
        self.callbacks = self.pickup_cbs
        wl._cal.push(clock(wl.env) + wl.irq_latency, self)

    def __repr__(self) -> str:
        return (f"Target({self.apqn:#06x}, outstanding={self.outstanding}, load={self.load}, "
                f"total={self.total}, held={len(self.held)})")


def as_block(a: np.ndarray) -> Any:
    """A block of draws as the workload keeps it: a contiguous array when compiled (read
    from C, eight values a cache line), a list as Python (fast to index there)."""
    if _COMPILED:
        return np.ascontiguousarray(a, dtype=np.float64 if a.dtype.kind == "f" else np.int64)
    return a.tolist()


def _widened(head: Any, n: int) -> Any:
    """The integers of *head* followed by zeros up to *n* values, kept as :func:`as_block` keeps them."""
    a = np.zeros(n, dtype=np.int64)
    a[:len(head)] = np.asarray(head, dtype=np.int64)
    return as_block(a)


class _LLGroup:
    """Targets that weigh every request type the same: one lazy heap of their keys.

    zcrypt picks the target with the least (weight + load), ties to the one with
    fewer requests so far, then (our rule, as the linear scan did) the earlier one
    in the target list. Inside a group the weight is common, so the order is
    (load, total, index). The heap keeps those three integers in parallel int64
    arrays (compared in C when compiled; a target's load is a sum of zcrypt
    weights, too large to pack into one machine word with the rest). Entries go
    stale when a target's load or total changes, and every change pushes a new
    entry; a (load, total) pair never repeats for a target (total only grows, and
    load strictly falls between two dispatches), so an entry is current exactly
    when it matches its target's load and total now.

    Stale entries are dropped when they reach the top; those of a load higher
    than the group ever falls back to would stay forever, so when the heap holds
    more than four entries per member it is rebuilt from the members' current
    entries (the top, the least current entry, is the same before and after).
    """

    __slots__ = ("weights", "members", "_n", "_cap", "_load", "_total", "_idx")

    def __init__(self, weights: tuple[int, ...]) -> None:
        self.weights = weights
        self.members: list[Target] = []  # the group's active targets (set by refresh_targets)
        self._n = 0
        self._cap = 16
        self._load = _widened((), self._cap)
        self._total = _widened((), self._cap)
        self._idx = _widened((), self._cap)

    def __len__(self) -> int:
        return self._n

    def _grow(self) -> None:
        cap = self._cap * 2
        self._load = _widened(self._load, cap)
        self._total = _widened(self._total, cap)
        self._idx = _widened(self._idx, cap)
        self._cap = cap

    def push(self, load: int, total: int, idx: int) -> None:
        """Add the entry (load, total, idx)."""
        if self.members and self._n >= 4 * len(self.members) + 64:
            self._compact()
        self._push(load, total, idx)

    def _compact(self) -> None:
        """Keep only the members' current entries."""
        self._n = 0
        for t in self.members:
            self._push(t.load, t.total, t.idx)

    def _push(self, load: int, total: int, idx: int) -> None:
        if self._n == self._cap:
            self._grow()
        la = self._load
        ta = self._total
        ia = self._idx
        i = self._n
        self._n = i + 1
        while i > 0:
            p = (i - 1) >> 1
            pl = la[p]
            if load < pl or (load == pl and (total < ta[p] or (total == ta[p] and idx < ia[p]))):
                la[i] = pl
                ta[i] = ta[p]
                ia[i] = ia[p]
                i = p
            else:
                break
        la[i] = load
        ta[i] = total
        ia[i] = idx

    def _pop(self) -> None:
        la = self._load
        ta = self._total
        ia = self._idx
        n = self._n - 1
        self._n = n
        load = la[n]
        total = ta[n]
        idx = ia[n]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= n:
                break
            r = c + 1
            if r < n and (la[r] < la[c] or (la[r] == la[c] and (
                    ta[r] < ta[c] or (ta[r] == ta[c] and ia[r] < ia[c])))):
                c = r
            cl = la[c]
            if cl < load or (cl == load and (ta[c] < total or (ta[c] == total and ia[c] < idx))):
                la[i] = cl
                ta[i] = ta[c]
                ia[i] = ia[c]
                i = c
            else:
                break
        if n:
            la[i] = load
            ta[i] = total
            ia[i] = idx

    def top(self, active: list[Target]) -> Target:
        """The group's least-loaded target (stale entries on top are dropped)."""
        while True:
            t = active[self._idx[0]]
            if t.load == self._load[0] and t.total == self._total[0]:
                return t
            self._pop()

    def entries(self) -> list[tuple[int, int, int]]:
        """Every entry (load, total, index), current or stale, in no particular order."""
        return [(int(self._load[i]), int(self._total[i]), int(self._idx[i])) for i in range(self._n)]

