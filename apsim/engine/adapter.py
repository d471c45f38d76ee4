"""A Crypto Express adapter: engines shared by all its domains, and its queues.

Every accepted request waits for one of the adapter's engines; all domains of the
adapter — across LPARs and guests — contend for the same engines. Which waiting
request an engine takes next is the arbitration policy: ``fifo`` (oldest request on
the adapter first) or ``round_robin`` (one request per APQN in turn). The firmware's
real policy is not public, so both are offered and the choice is documented in
``docs/hardware.md``.

The adapter is a state machine driven by callbacks, in one of two ways:

* **Planned (``fifo``).** With FIFO arbitration and the service time drawn at
  acceptance, when a request starts and ends is known the moment it is accepted:
  it starts when it arrives if an engine is idle, else when the earliest engine
  frees (the Kiefer–Wolfowitz earliest-free-server recursion over the engines'
  free times). So nothing happens at engine start or completion that needs an
  event: the queue *settles* replies lazily (see :mod:`apsim.engine.queue`) and the
  request's only event is its interruption — at ``t_done`` for a plain
  interruption target, or folded with the pickup at ``t_done + pickup_ns`` for a
  workload's driver. A reset that drops requests re-plans the ones behind them.
* **Engine by engine (``round_robin``).** Which request an engine takes next
  depends on the state when it frees, so each engine is a
  :class:`~apsim.engine.core.Hook` on SimPy's heap until its request completes, and the
  completion hands the engine to the next request.

Both give the same start and completion times for FIFO (the planned form is what
``fifo`` uses); ``docs/performance.md`` has the argument.
"""

from __future__ import annotations

from heapq import heapify, heapreplace
from typing import TYPE_CHECKING, Any

from apsim.engine.calendar import calendar
from apsim.engine.core import Hook, Pickup, disarm
from apsim.engine.arbitration import ARBITRATION_POLICIES, _accept_order, _Fifo, _PlannedWaiting, _RoundRobin
from apsim.engine.queue import GENERIC, APQueue
from apsim.engine.request import DROPPED, ITSELF, PLANNED, SERVICE, Ledger, Request
from apsim.engine.simpy_internals import clock

_COMPILED = not __file__.endswith(".py")  # a Cython build: service-time rows are read as C arrays

if TYPE_CHECKING:
    import simpy

    from apsim.engine.api import CardShape, Sampler


class _Rearm(Hook):
    """A re-planned request's event (its own heap entry went stale when it was re-planned)."""

    __slots__ = ("req",)

    def __init__(self, req: Request) -> None:
        self.callbacks = None
        self.req = req


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

    def __init__(self, env: simpy.Environment, apid: int, spec: CardShape, sampler: Sampler,
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
        self.planned = arbitration == "fifo"
        self.checkstopped = False
        self._busy_until = 0
        self.queues: dict[int, APQueue] = {}  # APQI -> queue
        # Engine by engine: completed requests and the engine time of completed and
        # aborted ones. Planned: accepted requests (_order), their total service
        # (_svc_sum, cut back for drops) and the drops before completion (_n_lost);
        # what has completed by `now` follows from those and the plans.
        self._n_done = 0
        self._busy_done = 0
        self._svc_sum = 0
        self._n_lost = 0
        # Engine by engine: all engines, and a stack of the idle ones (C-level pop/append).
        self.engines: list[Engine] = [Engine(i) for i in range(spec.engines)]
        self._idle: list[Engine] = list(reversed(self.engines))
        self._rr_waiting = _RoundRobin() if not self.planned else None
        # Planned: each engine's free time (a heap), and an acceptance counter.
        self._free_at: list[int] = [0] * spec.engines
        self._order = 0
        # Constants the hot path reads without property calls or nested lookups.
        self.max_msg = spec.max_msg_size
        self.mean_ns: list[int] = sampler.mean_ns
        self.draw = sampler.draw
        # The NQAP hot path reads the sampler's block state (api.Sampler: pos, n, rows)
        # directly when the sampler has it; else it calls draw().
        self._sampler_blocks = all(hasattr(sampler, a) for a in ("pos", "n", "rows"))
        self._done_cbs = (self._complete,)
        self._reply_cbs = (self._reply_event,)
        self._ready_cbs = (self._ready_event,)
        self._rearm_reply_cbs = (self._rearm_reply,)
        self._rearm_ready_cbs = (self._rearm_ready,)
        self._cal = calendar(env)

    def use_engine_events(self) -> None:
        """Simulate FIFO engine by engine instead of planned (validation only).

        Must be called before the adapter takes its first request. The sample path
        is the same; this form costs one more event per request.
        """
        if self.arbitration != "fifo" or self._order or self._n_done:
            raise RuntimeError("engine-by-engine FIFO must be chosen before any request")
        self.planned = False
        self._rr_waiting = _Fifo()

    @property
    def busy_until(self) -> int:
        """Every queue of the adapter answers BUSY (0x05) before this time (fault injection)."""
        return self._busy_until

    @busy_until.setter
    def busy_until(self, t: int) -> None:
        self._busy_until = t
        for q in self.queues.values():
            q._regate()

    # --- views ------------------------------------------------------------------------
    @property
    def waiting(self) -> Any:
        """The requests waiting for an engine (``len()``, ``items()``, ``of_queue(q)``)."""
        return self._rr_waiting if self._rr_waiting is not None else _PlannedWaiting(self)

    @property
    def free(self) -> int:
        """Idle engines."""
        if self.planned:
            now = clock(self.env)
            return sum(1 for f in self._free_at if f <= now)
        return len(self._idle)

    def _planned_requests(self) -> list[Request]:
        return [r for q in self.queues.values() for r in q._plan]

    @property
    def on_engine(self) -> set[Request]:
        """Requests being served right now."""
        if self.planned:
            now = clock(self.env)
            return {r for r in self._planned_requests() if r.t_start <= now < r.t_done}
        return {e.req for e in self.engines if e.req is not None}

    @property
    def completed(self) -> int:
        """Requests whose service finished (replied, dequeued or dropped after)."""
        if not self.planned:
            return self._n_done
        now = clock(self.env)
        return self._order - self._n_lost - sum(1 for r in self._planned_requests() if r.t_done > now)

    @property
    def busy_ns(self) -> int:
        """Engine time spent on finished or aborted requests."""
        if not self.planned:
            return self._busy_done
        now = clock(self.env)
        return self._svc_sum - sum(r.service_ns for r in self._planned_requests() if r.t_done > now)

    # --- queues -----------------------------------------------------------------------
    def queue(self, apqi: int, owner_lpar: object) -> APQueue:
        """The queue of usage domain *apqi*, created on first use for *owner_lpar*."""
        q = self.queues.get(apqi)
        if q is None:
            q = self.queues[apqi] = APQueue(self, apqi, owner_lpar)
            if self.checkstopped:
                q.cfg_rc = 4
        return q

    # --- planned engines (hot path) -----------------------------------------------------
    def _draw(self, rt: int) -> int:
        """One service time for a type-*rt* request, as the sampler's ``draw`` gives it.

        When the sampler exposes its block state (:class:`apsim.engine.api.Sampler`),
        a draw the current block holds is read here, without a call; the protocol
        says that is the value ``draw`` returns.
        """
        smp = self.sampler
        if self._sampler_blocks:
            pos = smp.pos
            if pos < smp.n:
                row = smp.rows[rt]
                if row is not None:
                    smp.pos = pos + 1
                    if _COMPILED:
                        return row.data.as_longlongs[pos]  # the int64 array's element, no Python int
                    return row[pos]
        return self.draw(rt)

    def submit(self, req: Request) -> None:
        """A queue accepted *req* (service time drawn): schedule it on the engines.

        Planned: start at max(now, earliest engine free time); the request's only
        event is its interruption (see the module docstring). Engine by engine:
        start on an idle engine or wait.
        """
        self._submit(req, clock(self.env))

    def _submit(self, req: Request, now: int) -> None:
        """The body of :meth:`submit`, a C-level method when compiled.

        NQAP calls it directly (so NQAP does not see a subclass's ``submit``):
        calling the overridable form on an adapter first checks the adapter's
        ``__dict__`` for an override, and with hundreds of adapters that check
        misses its cache and becomes a full attribute lookup. *now*: the caller's clock
        reading (NQAP has just read it).
        """
        if self.planned:
            fa = self._free_at
            f = fa[0]
            start = f if f > now else now
            done = start + req.service_ns
            heapreplace(fa, done)
            req.t_start = start
            req.t_done = done
            req._state = PLANNED
            self._order += 1
            req.order = self._order
            self._svc_sum += req.service_ns
            q = req.queue
            q._plan_add(req)
            sink = q._sink
            req.sink = sink
            if sink is None:
                req.hook = None
            elif sink is GENERIC:
                req.hook = ITSELF
                req.callbacks = self._ready_cbs
                self._cal.push(done, req)
            else:
                req.hook = ITSELF
                req.callbacks = self._reply_cbs
                self._cal.push(done + sink.pickup_ns, req)
            return
        idle = self._idle
        if idle:
            self._start_on(idle.pop(), req, now)
        else:
            self._rr_waiting.push(req)  # type: ignore[union-attr]

    def _reply_event(self, req: Request) -> None:
        """SimPy callback at ``t_done + pickup_ns``: the deferred pickup of *req*'s reply.

        *req*'s interruption was raised at ``t_done`` unless a reset dropped the request
        before its reply was ready. The target picks up now unless a pickup of its own
        was pending at ``t_done`` (it picked up at or after ``t_done``: that pickup took
        this reply, or found it gone), as the target coalesces interruptions engine by
        engine. Whether the reply is still there does not matter: a DQAP by anyone else
        in between does not cancel the pickup, and a reply dropped after its
        interruption still gets the pickup, whose DQAP answers the queue's state.
        """
        st = req._state
        q = req.queue
        if st == PLANNED:
            if q._np == 1:
                q._post_only(req)  # the common case: the one planned request is this one
            else:
                q._settle(clock(self.env))
        elif st == DROPPED and req.t_done < 0:
            return
        sink = req.sink
        # Now is t_done + pickup_ns: the time this event was scheduled for (_submit, _arm).
        if isinstance(sink, Pickup):
            pk = sink  # C-level field access and call when compiled (typed in adapter.pxd)
            if pk.picked_at >= req.t_done:
                return
            pk.picked_at = req.t_done + pk.pickup_ns
            pk.pickup(q)
        else:
            if getattr(sink, "picked_at", -1) >= req.t_done:
                return
            sink.picked_at = req.t_done + sink.pickup_ns
            sink.pickup(q)

    def _ready_event(self, req: Request) -> None:
        """SimPy callback at ``t_done`` for a plain interruption target: post and interrupt."""
        st = req._state
        if st == DROPPED:
            return
        q = req.queue
        if st == PLANNED:
            q._settle(clock(self.env))
        if q._irq and q._irq_target is not None:
            q._irq_count += 1
            q._irq_target(q)

    def _rearm_reply(self, hook: _Rearm) -> None:
        self._reply_event(hook.req)

    def _rearm_ready(self, hook: _Rearm) -> None:
        self._ready_event(hook.req)

    def _arm(self, req: Request, sink: Any) -> None:
        """(Re)schedule the event of a planned request whose reply is not ready yet."""
        h = req.hook
        if h is ITSELF:
            disarm(req)  # its heap entry stays and fires as a no-op
        elif h is not None:
            disarm(h)
        req.sink = sink
        if sink is None:
            req.hook = None
            return
        w = _Rearm(req)
        req.hook = w
        if sink is GENERIC:
            w.callbacks = self._rearm_ready_cbs
            at = req.t_done
        else:
            w.callbacks = self._rearm_reply_cbs
            at = req.t_done + sink.pickup_ns
        self._cal.push(at, w)

    def replan(self, now: int) -> None:
        """Re-plan after requests were dropped: the engines they held free up now.

        Requests on an engine keep it until their ``t_done``; waiting ones take the
        engines again in acceptance order, as an engine-by-engine adapter hands a
        freed engine to the oldest waiting request.
        """
        if not self.planned:
            return
        plan = self._planned_requests()
        running = [r.t_done for r in plan if r.t_start <= now < r.t_done]
        waiting = sorted((r for r in plan if r.t_start > now), key=_accept_order)
        fa = running + [now] * (self.spec.engines - len(running))
        heapify(fa)
        for r in waiting:
            f = fa[0]
            start = f if f > now else now
            done = start + r.service_ns
            heapreplace(fa, done)
            if start != r.t_start:
                r.t_start = start
                r.t_done = done
                self._arm(r, r.sink)
        self._free_at = fa

    # --- engine by engine -----------------------------------------------------------------
    def _start_on(self, eng: Engine, req: Request, now: int) -> None:
        eng.req = req
        req._state = SERVICE
        req.t_start = now
        eng.callbacks = self._done_cbs
        self._cal.push(now + req.service_ns, eng)

    def _complete(self, eng: Engine) -> None:
        """SimPy callback: *eng* finished its request (engine-by-engine adapters).

        The engine takes the next waiting request before the reply is posted, so an
        interruption handler that runs synchronously already sees the engine busy
        again (both happen at the same instant either way).
        """
        req = eng.req
        now = clock(self.env)
        self._busy_done += req.service_ns
        self._n_done += 1
        nxt = self._rr_waiting.pop()  # type: ignore[union-attr]
        if nxt is None:
            eng.req = None
            self._idle.append(eng)
        else:
            self._start_on(eng, nxt, now)
        req.queue.reply_ready(req)

    def abort(self, req: Request) -> None:
        """A request on an engine was dropped: free its engine for the next one.

        Engine by engine: the engine's completion entry stays on SimPy's heap, so
        the engine object is retired (its entry fires as a no-op) and a fresh one
        takes its place. Planned: the engines are re-planned.
        """
        now = clock(self.env)
        if self.planned:
            self.replan(now)
            return
        i = next((k for k, e in enumerate(self.engines) if e.req is req), -1)
        if i < 0:
            return
        eng = self.engines[i]
        self._busy_done += now - req.t_start
        disarm(eng)
        eng.req = None
        fresh = Engine(eng.index)
        self.engines[i] = fresh
        nxt = self._rr_waiting.pop()  # type: ignore[union-attr]
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
        if self.planned:
            plan = self._planned_requests()
            running = sum(now - r.t_start for r in plan if r.t_start <= now < r.t_done)
        else:
            running = sum(now - e.req.t_start for e in self.engines if e.req is not None)
        return (self.busy_ns + running) / (now * self.spec.engines)

    def waiting_count(self) -> int:
        """Requests waiting for an engine."""
        return len(self.waiting)

    def __repr__(self) -> str:
        return f"Adapter({self.apid:02x} {self.spec.type_name}, free={self.free}/{self.spec.engines})"
