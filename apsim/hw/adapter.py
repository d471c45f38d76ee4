"""A Crypto Express adapter: engines shared by all its domains, and its queues.

Every accepted request waits for one of the adapter's engines; all domains of the
adapter — across LPARs and guests — contend for the same engines. Which waiting
request an engine takes next is the arbitration policy: ``fifo`` (oldest request on
the adapter first) or ``round_robin`` (one request per APQN in turn). The firmware's
real policy is not public, so both are offered and the choice is documented in
``docs/hardware.md``.

The adapter is a state machine driven by callbacks: starting a request schedules
exactly one SimPy event (its completion); nothing else on the request path needs
an event of its own.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from apsim.core import _Call
from apsim.hw.cards import CardSpec
from apsim.hw.queue import APQueue
from apsim.hw.request import QUEUED, SERVICE, Ledger, Request

if TYPE_CHECKING:
    import simpy

    from apsim.hw.timing import ServiceSampler

ARBITRATION_POLICIES = ("fifo", "round_robin")


class _Fifo:
    """Oldest request on the adapter first."""

    __slots__ = ("q",)

    def __init__(self) -> None:
        self.q: deque[Request] = deque()

    def push(self, req: Request) -> None:
        self.q.append(req)

    def pop(self) -> Request | None:
        q = self.q
        while q:
            req = q.popleft()
            if req.state == QUEUED:
                return req
        return None

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

    def __len__(self) -> int:
        return sum(1 for d in self.per_queue.values() for r in d if r.state == QUEUED)


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
        self.free = spec.engines
        self.checkstopped = False
        self.busy_until = 0
        self.queues: dict[int, APQueue] = {}  # APQI -> queue
        self.busy_ns = 0  # engine time spent on finished or aborted requests
        self.completed = 0
        self.on_engine: set[Request] = set()

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
        """A queue accepted *req*: start it on a free engine or let it wait."""
        if self.free > 0:
            self._start(req)
        else:
            self.waiting.push(req)

    def _start(self, req: Request) -> None:
        self.free -= 1
        req.state = SERVICE
        req.t_start = self.env._now  # type: ignore[attr-defined]
        self.on_engine.add(req)
        _Call(self.env, req.service_ns, self._complete, req)

    def _complete(self, ev) -> None:  # noqa: ANN001 - SimPy event
        req: Request = ev._value
        if req.state != SERVICE:
            return  # dropped while on the engine; abort() already freed the engine
        self.on_engine.discard(req)
        self.busy_ns += req.service_ns
        self.completed += 1
        req.queue.reply_ready(req)
        nxt = self.waiting.pop()
        if nxt is None:
            self.free += 1
        else:
            self.free += 1
            self._start(nxt)

    def abort(self, req: Request) -> None:
        """A request on an engine was dropped: free its engine for the next one."""
        if req not in self.on_engine:
            return
        self.on_engine.discard(req)
        self.busy_ns += self.env._now - req.t_start  # type: ignore[attr-defined]
        self.free += 1
        nxt = self.waiting.pop()
        if nxt is not None:
            self._start(nxt)

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
        running = sum(now - r.t_start for r in self.on_engine)
        return (self.busy_ns + running) / (now * self.spec.engines)

    def waiting_count(self) -> int:
        """Requests waiting for an engine."""
        return len(self.waiting)

    def __repr__(self) -> str:
        return f"Adapter({self.apid:02x} {self.spec.type_name}, free={self.free}/{self.spec.engines})"
