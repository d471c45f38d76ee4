"""A Crypto Express adapter: engines shared by all its domains, and its queues.

Every accepted request waits for one of the adapter's engines; all domains of the
adapter — across LPARs and guests — contend for the same engines. Which waiting
request an engine takes next is the arbitration policy: ``fifo`` (oldest request on
the adapter first) or ``round_robin`` (one request per APQN in turn). The firmware's
real policy is not public, so both are offered and the choice is documented in
``docs/hardware.md``.

The adapter is a state machine driven by callbacks: starting a request schedules
exactly one SimPy event (its completion); nothing else on the request path needs
an event of its own. Each engine is a :class:`~apsim.core.Hook` — the engine
object itself is what sits on SimPy's heap until its request completes, so an
engine start allocates nothing but the heap entry.
"""

from __future__ import annotations

from collections import deque
from heapq import heappush
from typing import TYPE_CHECKING

from apsim.core import Hook, disarm
from apsim.hw.cards import CardSpec
from apsim.hw.queue import APQueue
from apsim.hw.request import QUEUED, REPLY, SERVICE, Ledger, Request

if TYPE_CHECKING:
    import simpy

    from apsim.hw.timing import ServiceSampler

ARBITRATION_POLICIES = ("fifo", "round_robin")

_NORMAL = 1  # SimPy's NORMAL priority


class _Fifo:
    """Oldest request on the adapter first.

    Dropped requests are not removed from the deque (that would cost a search);
    ``pop`` skips anything no longer QUEUED.
    """

    __slots__ = ("q", "push")

    def __init__(self) -> None:
        self.q: deque[Request] = deque()
        self.push = self.q.append  # bound C method: the cheapest possible push

    def pop(self) -> Request | None:
        q = self.q
        while q:
            req = q.popleft()
            if req.state == QUEUED:
                return req
        return None

    def of_queue(self, queue: APQueue) -> list[Request]:
        """The waiting requests of one APQN, oldest first."""
        return [r for r in self.q if r.queue is queue and r.state == QUEUED]

    def items(self) -> list[Request]:
        """Every waiting request, in the order engines will take them."""
        return [r for r in self.q if r.state == QUEUED]

    def __len__(self) -> int:
        return sum(1 for r in self.q if r.state == QUEUED)


class _RoundRobin:
    """One request per APQN in turn, each APQN's own requests in order."""

    __slots__ = ("ring", "per_queue")

    def __init__(self) -> None:
        self.ring: deque[APQueue] = deque()
        self.per_queue: dict[APQueue, deque[Request]] = {}

    def push(self, req: Request) -> None:
        q = req.queue
        d = self.per_queue.get(q)
        if d is None:
            d = self.per_queue[q] = deque()
        if not d:
            self.ring.append(q)
        d.append(req)

    def pop(self) -> Request | None:
        ring = self.ring
        while ring:
            q = ring.popleft()
            d = self.per_queue[q]
            while d:
                req = d.popleft()
                if req.state == QUEUED:
                    if d:
                        ring.append(q)
                    return req
        return None

    def of_queue(self, queue: APQueue) -> list[Request]:
        """The waiting requests of one APQN, oldest first."""
        return [r for r in self.per_queue.get(queue, ()) if r.state == QUEUED]

    def items(self) -> list[Request]:
        """Every waiting request (ring order, then per-APQN order)."""
        return [r for d in self.per_queue.values() for r in d if r.state == QUEUED]

    def __len__(self) -> int:
        return sum(1 for d in self.per_queue.values() for r in d if r.state == QUEUED)


class Engine(Hook):
    """One engine of an adapter; while busy it is on SimPy's heap until ``req`` completes."""

    __slots__ = ("req", "index")

    def __init__(self, index: int) -> None:
        self.callbacks = None
        self.req: Request | None = None
        self.index = index

    def __repr__(self) -> str:
        return f"Engine({self.index}, req={self.req!r})"


class Adapter:
    """One installed adapter (APID) with its engines and per-domain queues."""

    def __init__(self, env: simpy.Environment, apid: int, spec: CardSpec, sampler: ServiceSampler,
                 ledger: Ledger, *, arbitration: str = "fifo", reset_ns: int = 20_000) -> None:
        if arbitration not in ARBITRATION_POLICIES:
            raise ValueError(f"unknown arbitration policy {arbitration!r} "
                             f"(one of {', '.join(ARBITRATION_POLICIES)})")
        self.env = env
        self.apid = apid
        self.spec = spec
        self.sampler = sampler
        self.ledger = ledger
        self.arbitration = arbitration
        self.profile_reset_ns = reset_ns
        self.waiting = _Fifo() if arbitration == "fifo" else _RoundRobin()
        self.checkstopped = False
        self.busy_until = 0
        self.queues: dict[int, APQueue] = {}  # APQI -> queue
        self.busy_ns = 0  # engine time spent on finished or aborted requests
        self.completed = 0
        # Engines: all of them, and a stack of the idle ones (pop/append are C calls).
        self.engines: list[Engine] = [Engine(i) for i in range(spec.engines)]
        self._idle: list[Engine] = list(reversed(self.engines))
        # Constants the hot path reads without property calls or nested lookups.
        self.max_msg = spec.max_msg_size
        self.mean_ns: list[int] = sampler.mean_ns
        self.draw = sampler.draw
        self._done_cbs = (self._complete,)
        self._heap = env._queue  # type: ignore[attr-defined]
        self._eid = env._eid  # type: ignore[attr-defined]

    # --- views ------------------------------------------------------------------------
    @property
    def free(self) -> int:
        """Idle engines."""
        return len(self._idle)

    @property
    def on_engine(self) -> set[Request]:
        """Requests being served right now."""
        return {e.req for e in self.engines if e.req is not None}

    # --- queues -----------------------------------------------------------------------
    def queue(self, apqi: int, owner_lpar: object) -> APQueue:
        """The queue of usage domain *apqi*, created on first use for *owner_lpar*."""
        q = self.queues.get(apqi)
        if q is None:
            q = self.queues[apqi] = APQueue(self, apqi, owner_lpar)
            if self.checkstopped:
                q.cfg_rc = 4
        return q

    # --- engines (hot path) -------------------------------------------------------------
    def submit(self, req: Request) -> None:
        """A queue accepted *req* (service time drawn): start it on a free engine or let it wait."""
        idle = self._idle
        if idle:
            eng = idle.pop()
            eng.req = req
            now = self.env._now  # type: ignore[attr-defined]
            req.state = SERVICE
            req.t_start = now
            eng.callbacks = self._done_cbs
            heappush(self._heap, (now + req.service_ns, _NORMAL, next(self._eid), eng))
        else:
            self.waiting.push(req)

    def _start_on(self, eng: Engine, req: Request, now: int) -> None:
        eng.req = req
        req.state = SERVICE
        req.t_start = now
        eng.callbacks = self._done_cbs
        heappush(self._heap, (now + req.service_ns, _NORMAL, next(self._eid), eng))

    def _complete(self, eng: Engine) -> None:
        """SimPy callback: *eng* finished its request.

        The engine takes the next waiting request before the reply is posted, so an
        interruption handler that runs synchronously already sees the engine busy
        again (both happen at the same instant either way).
        """
        req = eng.req
        now = self.env._now  # type: ignore[attr-defined]
        self.busy_ns += req.service_ns
        self.completed += 1
        nxt = self.waiting.pop()
        if nxt is None:
            eng.req = None
            self._idle.append(eng)
        else:
            eng.req = nxt
            nxt.state = SERVICE
            nxt.t_start = now
            eng.callbacks = self._done_cbs
            heappush(self._heap, (now + nxt.service_ns, _NORMAL, next(self._eid), eng))
        # APQueue.reply_ready, inlined (the hot path's most frequent call).
        q = req.queue
        req.state = REPLY
        req.t_done = now
        q.replies.append(req)
        if q.irq and q.irq_target is not None:
            q.irq_count += 1
            q.irq_target(q)

    def abort(self, req: Request) -> None:
        """A request on an engine was dropped: free its engine for the next one.

        The engine's completion entry stays on SimPy's heap, so the engine object
        is retired (its entry fires as a no-op) and a fresh one takes its place.
        """
        for i, eng in enumerate(self.engines):
            if eng.req is req:
                break
        else:
            return
        now = self.env._now  # type: ignore[attr-defined]
        self.busy_ns += now - req.t_start
        disarm(eng)
        eng.req = None
        fresh = Engine(eng.index)
        self.engines[i] = fresh
        nxt = self.waiting.pop()
        if nxt is not None:
            self._start_on(fresh, nxt, now)
        else:
            self._idle.append(fresh)

    # --- physical state -------------------------------------------------------------------
    def set_checkstop(self, on: bool, lpar_rc: dict[object, int]) -> int:
        """Checkstop (or recover) the adapter; *lpar_rc* gives each LPAR's config rc on recovery."""
        self.checkstopped = on
        dropped = 0
        for q in self.queues.values():
            if on:
                dropped += q.set_config_rc(4, "checkstop")
            else:
                dropped += q.set_config_rc(lpar_rc.get(q.owner_lpar, 0), "checkstop")
        return dropped

    def utilization(self, now: int) -> float:
        """Fraction of engine capacity used from 0 to *now*."""
        if now <= 0:
            return 0.0
        running = sum(now - e.req.t_start for e in self.engines if e.req is not None)
        return (self.busy_ns + running) / (now * self.spec.engines)

    def waiting_count(self) -> int:
        """Requests waiting for an engine."""
        return len(self.waiting)

    def __repr__(self) -> str:
        return f"Adapter({self.apid:02x} {self.spec.type_name}, free={self.free}/{self.spec.engines})"
