"""The reference adapter: engines shared by all domains of the adapter, and arbitration.

Rules (docs/hardware.md, :mod:`apsim.engine.adapter`, :mod:`apsim.engine.arbitration`):

* **Engines.** An adapter has ``card.engines`` engines. Every accepted request of any
  of its queues — whatever LPAR or guest owns the queue — waits for one of them.
* **Service time.** Drawn when NQAP accepts the request, in acceptance order, from the
  adapter's sampler (``sampler.draw(rt_index)``): a model input, not a rule here.
* **Arbitration.** When an engine is idle and requests wait, it takes one:
  ``fifo`` — the oldest request on the adapter (acceptance order); ``round_robin`` —
  one request per APQN in turn: APQNs with waiting requests stand in a ring in the
  order they got their first waiting request; the engine serves the oldest request of
  the APQN at the head, which goes to the end of the ring if it still has waiting
  requests and leaves the ring otherwise (also when a drop empties it).
* **Completion.** An engine finishes its request ``service_ns`` after it started. It
  takes the next waiting request first, then the reply is posted to its queue (so an
  interruption handler that runs at once already sees the engine busy again).
* **Drops.** A dropped request leaves the waiting line or its engine; an engine it
  held takes the next waiting request at once (after all of a reset's victims are
  dropped, so none of them can take it).
* **Utilization.** Engine time of finished and aborted requests plus the running
  time of requests on engines, over ``now × engines``.

**Order at one instant.** Events run in SimPy's order (time, then scheduling order). A
completion is scheduled when its request starts, so completions at one instant
happen in the order their requests started (on a FIFO adapter, acceptance order),
and an instruction issued at exactly ``t_done`` from outside a running simulation
(after ``env.run(until=t_done)``) comes before the completion. (The engine's planned
FIFO adapter posts a reply at the start of its instant instead, so such an
instruction sees it there: a known difference, an expected failure in
tests/engine/test_reference_firmware.py.)
"""

from __future__ import annotations

from collections import deque
from typing import Any

from apsim.engine.reference.ledger import DONE, DROPPED, REPLY, SERVICE, WAITING, RefLedger
from apsim.engine.reference.queue import RefQueue

POLICIES = ("fifo", "round_robin")


class Job:
    """One accepted request as the reference tracks it; its times are mirrored onto ``req``."""

    def __init__(self, req: Any, queue: RefQueue, order: int, service_ns: int, ledger: RefLedger) -> None:
        self.req = req
        self.queue = queue
        self.order = order
        self.service_ns = service_ns
        self.ledger = ledger
        self.t_start = -1
        self.t_done = -1
        req.apqn = queue.apqn
        req.queue = queue
        req.service_ns = service_ns
        self._set(WAITING)

    def _set(self, state: int) -> None:
        self.state = state
        self.req.state = state
        self.req.t_start = self.t_start
        self.req.t_done = self.t_done

    def start(self, now: int) -> None:
        """The request goes on an engine."""
        self.t_start = now
        self._set(SERVICE)

    def finish(self, now: int) -> None:
        """The engine finished it: its reply is ready."""
        self.t_done = now
        self._set(REPLY)

    def dequeued(self) -> None:
        """DQAP took its reply: completed in the ledger."""
        self._set(DONE)
        self.ledger.complete()

    def drop(self, cause: str) -> None:
        """Lost to *cause* (the ledger tells the issuer)."""
        self.state = DROPPED
        self.ledger.drop(self.req, cause)


class RefAdapter:
    """One installed adapter (APID): its engines, its waiting line and its queues."""

    def __init__(self, env: Any, apid: int, card: Any, sampler: Any, ledger: RefLedger, *,
                 arbitration: str = "fifo", reset_ns: int = 20_000) -> None:
        if arbitration not in POLICIES:
            raise ValueError(f"unknown arbitration policy {arbitration!r} (one of {', '.join(POLICIES)})")
        self.env = env
        self.apid = apid
        self.card = card
        self.sampler = sampler
        self.ledger = ledger
        self.arbitration = arbitration
        self.reset_ns = reset_ns
        self.busy_until = 0
        self.checkstopped = False
        self.queues: dict[int, RefQueue] = {}
        self.engines: list[Job | None] = [None] * card.engines
        self.fifo: list[Job] = []  # fifo: waiting requests, oldest first
        self.ring: deque[RefQueue] = deque()  # round_robin: APQNs with waiting requests
        self.per_queue: dict[RefQueue, deque[Job]] = {}
        self.accepted = 0
        self.completed = 0
        self.busy_ns = 0  # engine time of finished and aborted requests

    def queue(self, apqi: int, owner: Any) -> RefQueue:
        """The queue of usage domain *apqi*, created on first use for *owner*."""
        q = self.queues.get(apqi)
        if q is None:
            q = self.queues[apqi] = RefQueue(self, apqi, owner)
            if self.checkstopped:
                q.cfg_rc = 4
        return q

    # --- the waiting line ------------------------------------------------------------------
    def waiting_of(self, q: RefQueue) -> list[Job]:
        """The waiting requests of one queue, oldest first."""
        if self.arbitration == "fifo":
            return [j for j in self.fifo if j.queue is q]
        return list(self.per_queue.get(q, ()))

    def serving_of(self, q: RefQueue) -> list[Job]:
        """The requests of one queue on an engine."""
        return [j for j in self.engines if j is not None and j.queue is q]

    def _push(self, job: Job) -> None:
        if self.arbitration == "fifo":
            self.fifo.append(job)
            return
        d = self.per_queue.setdefault(job.queue, deque())
        if not d:
            self.ring.append(job.queue)
        d.append(job)

    def _pop(self) -> Job | None:
        if self.arbitration == "fifo":
            return self.fifo.pop(0) if self.fifo else None
        if not self.ring:
            return None
        q = self.ring.popleft()
        d = self.per_queue[q]
        job = d.popleft()
        if d:
            self.ring.append(q)
        return job

    # --- engines ---------------------------------------------------------------------------
    def accept(self, req: Any, queue: RefQueue) -> Job:
        """NQAP accepted *req* on *queue*: draw its service time now, then it waits."""
        self.accepted += 1
        job = Job(req, queue, self.accepted, int(self.sampler.draw(req.rtype)), self.ledger)
        self._push(job)
        self.dispatch()
        return job

    def dispatch(self) -> None:
        """Idle engines take waiting requests, by the arbitration policy."""
        for i, running in enumerate(self.engines):
            if running is None:
                job = self._pop()
                if job is None:
                    return
                self._start(i, job)

    def _start(self, i: int, job: Job) -> None:
        now = self.env.now
        self.engines[i] = job
        job.start(now)
        self.env.timeout(job.service_ns).callbacks.append(lambda _ev, job=job: self._complete(job))

    def _complete(self, job: Job) -> None:
        if job.state != SERVICE:
            return  # dropped while on the engine; the engine went to the next request then
        i = self.engines.index(job)
        self.engines[i] = None
        self.busy_ns += job.service_ns
        self.completed += 1
        job.finish(self.env.now)
        self.dispatch()
        job.queue.post(job)

    def remove(self, jobs: list[Job]) -> None:
        """Take dropped requests off the waiting line and the engines (no dispatch yet)."""
        now = self.env.now
        gone = set(map(id, jobs))
        self.fifo = [j for j in self.fifo if id(j) not in gone]
        for q in list(self.per_queue):
            d = self.per_queue[q]
            keep = deque(j for j in d if id(j) not in gone)
            self.per_queue[q] = keep
            if d and not keep:
                self.ring.remove(q)
        for i, j in enumerate(self.engines):
            if j is not None and id(j) in gone:
                self.busy_ns += now - j.t_start
                self.engines[i] = None

    # --- physical state --------------------------------------------------------------------
    def set_checkstop(self, on: bool, lpar_rc: dict[Any, int]) -> int:
        """Checkstop every queue (0x04, drops) or recover each to its LPAR's code."""
        self.checkstopped = on
        dropped = 0
        for q in self.queues.values():
            dropped += q.set_config_rc(4 if on else lpar_rc.get(q.owner, 0), "checkstop")
        return dropped

    def utilization(self, now: int) -> float:
        """Fraction of engine capacity used from 0 to *now*."""
        if now <= 0:
            return 0.0
        running = sum(now - j.t_start for j in self.engines if j is not None)
        return (self.busy_ns + running) / (now * len(self.engines))
