# cython: boundscheck=False, wraparound=False
"""The request path's future-event list: hooks run in SimPy's order behind one SimPy entry.

Every timed step of a request (a workload's next arrival, a reply's folded
interruption and pickup, an engine's completion, a target's pickup timer) is a
:class:`~apsim.engine.core.Hook` that fires at a known time. Putting each firing on
SimPy's own heap costs a Python tuple, a heap of Python-level comparisons whose
depth grows with the model (one pending arrival per issuer, one reply per busy
engine), and a pass through ``Environment.step``. The :class:`Calendar` keeps
those firings in a heap of C integers instead and stands on SimPy's heap with
one entry: that of its earliest firing.

**Order is SimPy's.** Every firing takes its event id from SimPy's own counter
when it is scheduled and is keyed ``(time, priority, event id)``, exactly the
key SimPy would have given it. When SimPy pops the calendar's entry, the calendar
runs its firings one after another, setting the clock to each one's time, for
as long as its next key is smaller than the key at the head of SimPy's heap;
then it puts itself back on SimPy's heap under its new earliest key. So every
event — the calendar's and every other SimPy event, processes and timeouts
included — runs in the same order as if each firing had been its own SimPy
event, and a run is the same sample path either way (``APSIM_PURE=1`` runs the
source as Python, where :meth:`Calendar.push` puts each firing on SimPy's heap
itself, and the reports are byte-identical).

**On SimPy's heap.** When a firing is scheduled from outside the calendar's own
run (a timeline action, a SimPy process) with a key smaller than the one the
calendar stands under, the calendar pushes a second entry under the new key; the
older one stays and fires later with nothing due, like a disarmed hook. Entries
are always popped smallest first, so the keys the calendar stands under form a
stack (:attr:`Calendar.armed`).

Cost per firing: one C heap push and pop, a clock update and the hook's callback;
no allocation except the clock's int.
"""

from __future__ import annotations

from heapq import heapify, heappush
from typing import Any

import numpy as np
import simpy

from apsim.engine.core import Hook
from apsim.engine.simpy_internals import clock, heap, id_counter, set_clock

try:
    import cython  # only the compiled form uses it (casts in _warm_next)
except ImportError:  # pure Python without Cython installed
    cython = None

_COMPILED = not __file__.endswith(".py")  # a Cython build: the C heap; else heapq on SimPy's heap
WARM_MIN = 64  # pending firings from which the calendar prefetches ahead (_warm_next)
_PRIO_SHIFT = 56  # key = priority << 56 | event id (SimPy's ids stay far below 2**56)
_EID_MASK = 0xFFFFFFFFFFFFFF  # the low 56 bits
_NORMAL = 1


class Calendar(Hook):
    """Hooks scheduled on *env* in SimPy's order, kept in a C heap behind one SimPy heap entry.

    Use :func:`calendar` to get the one calendar of an environment.
    """

    __slots__ = ("env", "own_heap", "_sq", "_eid", "_n", "_cap", "_h", "_oo",
                 "_free", "_nfree", "armed", "_running", "_cbs", "fired", "warm_min")

    def __init__(self, env: simpy.Environment, own_heap: bool | None = None) -> None:
        self.callbacks = None
        self.env = env
        # Whether firings wait in the calendar's own heap (default: when compiled) or
        # go straight onto SimPy's heap, one entry each (the same order either way).
        self.own_heap = _COMPILED if own_heap is None else bool(own_heap)
        # With fewer firings pending, what they touch stays in the caches anyway; the
        # pure-Python form has no prefetch at all.
        self.warm_min = WARM_MIN if _COMPILED else 1 << 62
        self._sq: list = heap(env)
        self._eid = id_counter(env)
        self._n = 0
        self._cap = 64
        # The heap orders (time, key, slot) rows; the hooks stay put in _oo[slot].
        # Moving only integers while sifting matters: moving the hooks themselves would
        # touch each one's reference count, a cache miss per level with many issuers.
        # Rows are 32 bytes, the root is row 1 and the array starts on a cache line,
        # so a node's two children (rows 2i, 2i + 1) share one line.
        self._h = _rows(self._cap + 1)
        self._oo: list[Any] = [None] * self._cap
        # Free slots, a stack (the slot freed last is reused first: it is in cache).
        self._free = np.arange(self._cap - 1, -1, -1, dtype=np.longlong)
        self._nfree = self._cap
        # (time, key) of every entry the calendar has on SimPy's heap, smallest last.
        self.armed: list[tuple[int, int]] = []
        self._running = False
        self._cbs = (self._fire,)
        self.fired = 0  # firings run (statistics)

    # --- scheduling ------------------------------------------------------------------------
    def push(self, at: int, hook: Hook, priority: int = _NORMAL) -> None:
        """Fire *hook* (its ``callbacks`` already set) at absolute time *at* (``>= env.now``).

        The hook must not be pending (see :class:`~apsim.engine.core.Hook`).
        """
        e = next(self._eid)
        if not self.own_heap:
            heappush(self._sq, (at, priority, e, hook))
            return
        k = (priority << _PRIO_SHIFT) | e
        self._hpush(at, k, hook)
        if not self._running:
            self._arm_if_earlier(at, k)

    def _arm_if_earlier(self, t: int, k: int) -> None:
        """Stand on SimPy's heap under (t, k) unless an entry at least as early stands there."""
        armed = self.armed
        if armed:
            top = armed[len(armed) - 1]
            if t > top[0] or (t == top[0] and k >= top[1]):
                return
        self._arm(t, k)

    def _arm(self, t: int, k: int) -> None:
        """Stand on SimPy's heap under key (t, k)."""
        t = int(t)
        k = int(k)
        self.armed.append((t, k))
        self.callbacks = self._cbs
        heappush(self._sq, (t, k >> _PRIO_SHIFT, k & _EID_MASK, self))

    # --- running -----------------------------------------------------------------------------
    def _fire(self, _ev: object) -> None:
        """SimPy popped one of the calendar's entries: run every firing due before SimPy's head."""
        # SimPy pops the smallest entry first: the top of the stack. (clear(), not pop(),
        # for the last one: CPython re-allocates a list emptied by pop() with malloc.)
        if len(self.armed) == 1:
            self.armed.clear()
        else:
            self.armed.pop()
        env = self.env
        sq = self._sq
        self._running = True
        try:
            while self._n:
                # Read through self: a callback's push may have grown (replaced) the arrays.
                t = self._h[1, 0]
                k = self._h[1, 1]
                if sq:
                    h = sq[0]
                    ht = h[0]
                    if type(ht) is int:
                        hv = ht
                        if t > hv:
                            break
                        if t == hv:
                            p = k >> _PRIO_SHIFT
                            hp = h[1]
                            he = h[2]
                            if p > hp or (p == hp and (k & _EID_MASK) > he):
                                break
                    elif (t, k >> _PRIO_SHIFT, k & _EID_MASK) > (ht, h[1], h[2]):
                        break
                hook = self._hpop()
                if self._n >= self.warm_min:
                    self._warm_next()
                set_clock(env, int(t))
                self.fired += 1
                cbs = hook.callbacks
                hook.callbacks = None
                for cb in cbs:
                    cb(hook)
        finally:
            self._running = False
            if self._n:
                self._arm_if_earlier(self._h[1, 0], self._h[1, 1])
            if self.armed:
                self.callbacks = self._cbs

    # --- the C heap (compiled form) -------------------------------------------------------------
    def _grow(self) -> None:
        old = self._cap
        cap = old * 2
        h = _rows(cap + 1)
        h[:old + 1] = np.asarray(self._h)
        free = np.zeros(cap, dtype=np.longlong)
        # Only called when every slot is taken: the new slots are all free.
        free[:old] = np.arange(cap - 1, old - 1, -1, dtype=np.longlong)
        self._h = h
        self._free = free
        self._nfree = old
        self._oo.extend([None] * old)
        self._cap = cap

    def _hpush(self, t: int, k: int, o: Hook) -> None:
        n = self._n
        if n == self._cap:
            self._grow()
        nf = self._nfree - 1
        self._nfree = nf
        slot = self._free[nf]
        self._oo[slot] = o
        h = self._h
        i = n + 1
        while i > 1:
            p = i >> 1
            pt = h[p, 0]
            if t < pt or (t == pt and k < h[p, 1]):
                h[i, 0] = pt
                h[i, 1] = h[p, 1]
                h[i, 2] = h[p, 2]
                i = p
            else:
                break
        h[i, 0] = t
        h[i, 1] = k
        h[i, 2] = slot
        self._n = n + 1

    def _hpop(self) -> Hook:
        h = self._h
        n = self._n
        slot = h[1, 2]
        top = self._oo[slot]
        self._oo[slot] = None
        self._free[self._nfree] = slot
        self._nfree += 1
        t = h[n, 0]
        k = h[n, 1]
        s = h[n, 2]
        n -= 1
        self._n = n
        if n:
            i = 1
            while True:
                c = 2 * i
                if c > n:
                    break
                ct = h[c, 0]
                ck = h[c, 1]
                if c < n:
                    rt = h[c + 1, 0]
                    if rt < ct or (rt == ct and h[c + 1, 1] < ck):
                        c += 1
                        ct = rt
                        ck = h[c, 1]
                if ct < t or (ct == t and ck < k):
                    h[i, 0] = ct
                    h[i, 1] = ck
                    h[i, 2] = h[c, 2]
                    i = c
                else:
                    break
            h[i, 0] = t
            h[i, 1] = k
            h[i, 2] = s
        return top

    def _warm_next(self) -> None:
        """Prefetch for the next two firings while this one runs (compiled form only).

        With many requests in flight, each firing meets a request, a queue and a
        target that left the caches since they were last used, and waits for them
        one pointer after the other. The next firing's hook is the heap's top; the
        one after is, unless a callback pushes an earlier one, the smaller of the
        top's children. So: start loading the hook two ahead, and ask the next hook
        (loaded one firing ago) to start loading what it points to. Only hints:
        nothing is read that decides anything.
        """
        if not _COMPILED or not self._n:
            return  # Python has no prefetch; an empty heap has no next hook
        if self._n >= 3:
            c = 2
            if self._h[3, 0] < self._h[2, 0] or (self._h[3, 0] == self._h[2, 0]
                                                 and self._h[3, 1] < self._h[2, 1]):
                c = 3
            apsim_prefetch(PyList_GET_ITEM(self._oo, self._h[c, 2]), 160)  # noqa: F821 - C (core.pxd)
        cython.cast(Hook, PyList_GET_ITEM(self._oo, self._h[1, 2]))._warm()  # noqa: F821

    # --- inspection and surgery (the bulk mode) ---------------------------------------------------
    def __len__(self) -> int:
        return self._n

    def entries(self) -> list[tuple[int, int, int, Hook]]:
        """Every pending firing as SimPy would key it: (time, priority, event id, hook)."""
        h = self._h
        return [(int(h[i, 0]), int(h[i, 1]) >> _PRIO_SHIFT, int(h[i, 1]) & _EID_MASK,
                 self._oo[h[i, 2]]) for i in range(1, self._n + 1)]

    def remove(self, drop: Any) -> list[tuple[int, int, int, Hook]]:
        """Take out every pending firing whose hook satisfies ``drop(hook)``; return them.

        The calendar's own entries on SimPy's heap are replaced by one under its
        new earliest key.
        """
        keep: list[tuple[int, int, Hook]] = []
        out = []
        h = self._h
        for i in range(1, self._n + 1):
            t = int(h[i, 0])
            k = int(h[i, 1])
            o = self._oo[h[i, 2]]
            if drop(o):
                out.append((t, k >> _PRIO_SHIFT, k & _EID_MASK, o))
            else:
                keep.append((t, k, o))
        self._n = 0
        self._oo[:] = [None] * self._cap
        self._free = np.arange(self._cap - 1, -1, -1, dtype=np.longlong)
        self._nfree = self._cap
        for t, k, o in sorted(keep, key=_tk):
            self._hpush(t, k, o)
        self._rearm()
        return out

    def _rearm(self) -> None:
        """Replace the calendar's entries on SimPy's heap by one under its earliest key."""
        sq = self._sq
        if self.armed:
            sq[:] = [e for e in sq if e[3] is not self]
            heapify(sq)
            self.armed = []
        self.callbacks = None
        if self._n and not self._running:
            self._arm(int(self._h[1, 0]), int(self._h[1, 1]))

    def __repr__(self) -> str:
        return f"Calendar(pending={self._n}, armed={len(self.armed)}, fired={self.fired})"


def _rows(n: int) -> np.ndarray:
    """An (n, 4) int64 array whose first row starts on a 64-byte boundary."""
    buf = np.zeros(n * 4 + 8, dtype=np.longlong)
    off = (-buf.ctypes.data % 64) // 8
    return buf[off:off + n * 4].reshape(n, 4)


def _tk(e: tuple[int, int, Any]) -> tuple[int, int]:
    return (e[0], e[1])


def calendar(env: simpy.Environment) -> Calendar:
    """The calendar of *env* (created on first use)."""
    cal = getattr(env, "_apsim_calendar", None)
    if cal is None:
        cal = Calendar(env)
        env._apsim_calendar = cal  # type: ignore[attr-defined]
    return cal


def pending(env: simpy.Environment) -> list[tuple[Any, int, int, Any]]:
    """Every scheduled event of *env*: SimPy's heap entries and the calendar's firings.

    SimPy's entries that only stand for the calendar are left out (its firings are
    listed instead); the list is in no particular order.
    """
    cal = getattr(env, "_apsim_calendar", None)
    out = [e for e in heap(env) if e[3] is not cal]
    if cal is not None:
        out.extend(cal.entries())
    return out
