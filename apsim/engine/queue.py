"""One AP queue: the firmware side of an APQN (adapter, usage domain).

The queue holds up to ``depth`` entries — requests waiting for an engine, requests
on an engine, and replies not yet dequeued — as the architecture counts them.
It answers the state-dependent part of every AP instruction (checkstopped 0x04,
deconfigured 0x03, busy 0x05, reset in progress 0x02, queue full 0x10, ...); the
register and configuration checks are made before it by :mod:`apsim.engine.instructions`.
A reset (RAPQ) or reset-and-zeroize (ZAPQ) drops every request the queue holds,
each accounted in the ledger with its cause, disables interruptions and leaves the
queue answering "reset in progress" for the profile's reset duration.

Planned requests (FIFO adapters, see :mod:`apsim.engine.adapter`): the engine
schedule of a request is fixed when it is accepted, so the moment its reply is
ready needs no event of its own. The queue keeps such requests in its plan and
*settles* them — moves every request whose ``t_done`` has passed into the reply
list, in completion order — whenever anything looks at the replies (DQAP, the
status word, ``replies``, a reset). An interruption target that only picks
replies up a fixed latency after the interruption (a workload's driver, see
``pickup_ns`` below) gets one event per request at ``t_done + pickup_ns`` that
settles and drains; any other target gets an event at ``t_done`` that settles
and calls it, exactly when an engine-by-engine simulation would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apsim.engine import codes
from apsim.engine.codes import RC
from apsim.engine.request import DONE, PLANNED, QUEUED, REPLY, SERVICE, Request
from apsim.engine.simpy_internals import clock

if TYPE_CHECKING:
    from apsim.engine.adapter import Adapter

GENERIC = object()
"""``Request.sink`` marker: interruptions go to a plain target, called at ``t_done``."""

_FOREVER = 1 << 62  # a time after every simulation


def deferrable(target: Any) -> bool:
    """Whether an interruption target only picks replies up ``pickup_ns`` after the interruption.

    Such a target has ``pickup_ns`` (int) and ``pickup(queue)``; calling it with the queue
    (the plain interruption) must be equivalent to calling ``pickup(queue)`` ``pickup_ns``
    later unless a pickup is pending (up to the order of events at one nanosecond, see
    docs/performance.md). The planned adapter records the target's pickups in ``picked_at``
    (an attribute it sets). A workload's :class:`~apsim.engine.targets.Target` is one.
    """
    return target is not None and getattr(target, "pickup_ns", None) is not None \
        and callable(getattr(target, "pickup", None))


class APQueue:
    """Firmware state of one APQN."""

    __slots__ = ("adapter", "apqn", "apid", "apqi", "owner_lpar", "env", "ledger", "depth",
                 "count", "_rh", "_rt", "_nr", "_cfg_rc", "_reset_until", "_irq", "isc", "nib",
                 "gisa", "_irq_target", "bound_by", "_assoc_until", "assoc_index", "associated",
                 "async_rc", "assoc_fail", "touched", "nqap_count", "dqap_count", "_occ_sum",
                 "_irq_count", "_ph", "_pt", "_np", "_sink", "_gate", "_fault")

    def __init__(self, adapter: Adapter, apqi: int, owner_lpar: object) -> None:
        self.adapter = adapter
        self.apid = adapter.apid
        self.apqi = apqi
        self.apqn = (adapter.apid << 8) | apqi
        self.owner_lpar = owner_lpar
        self.env = adapter.env
        self.ledger = adapter.ledger
        self.depth = adapter.spec.queue_depth
        self.count = 0
        # Replies waiting, oldest first, and planned requests whose reply is not settled
        # yet, in acceptance order: each a chain through the requests' _next links with
        # its head, tail and length here. Two list objects per queue would be two more
        # cache lines per request, cold ones with 65,536 queues.
        self._rh: Request | None = None
        self._rt: Request | None = None
        self._nr = 0
        self._ph: Request | None = None
        self._pt: Request | None = None
        self._np = 0
        self._cfg_rc = 0  # 0 operational, 3 deconfigured (standby), 4 checkstopped
        self._reset_until = 0
        self._assoc_until = 0
        # The hot path's one state test: no instruction is answered from the queue's
        # state alone before this time (cfg_rc, reset, association, adapter busy).
        self._gate = 0
        self._irq = False
        self.isc = 0
        self.nib = 0
        self.gisa = 0
        self._irq_target = None  # callable(queue) receiving adapter interruptions
        self.bound_by = None  # SE configuration that bound the queue (BAPQ)
        self.associated = False
        self.assoc_index = -1
        self.async_rc = 0
        self.assoc_fail = False
        self.touched = 0  # instructions that reached this queue (isolation checks)
        self.nqap_count = 0
        self.dqap_count = 0
        self._irq_count = 0  # interruptions raised (see irq_count)
        # Occupancy integral without per-event bookkeeping: every entry subtracts its
        # time, every exit adds it, so the area up to `now` is _occ_sum + count * now.
        self._occ_sum = 0
        self._sink: Any = None  # what new planned requests interrupt: None, GENERIC or a target
        self._fault: Any = None  # injected faults (apsim.hw.faults.QueueFaults) while any is armed
        self._regate()

    # --- state that can refuse instructions (setters keep the hot path's gate current) ----
    @property
    def cfg_rc(self) -> int:
        """0 operational, 3 deconfigured (standby), 4 checkstopped."""
        return self._cfg_rc

    @cfg_rc.setter
    def cfg_rc(self, rc: int) -> None:
        self._cfg_rc = rc
        self._regate()

    @property
    def reset_until(self) -> int:
        """The queue answers "reset in progress" before this time."""
        return self._reset_until

    @reset_until.setter
    def reset_until(self, t: int) -> None:
        self._reset_until = t
        self._regate()

    @property
    def assoc_until(self) -> int:
        """An SE association runs until this time (NQAP answers 0x0A meanwhile)."""
        return self._assoc_until

    @assoc_until.setter
    def assoc_until(self, t: int) -> None:
        self._assoc_until = t
        self._regate()

    @property
    def fault(self) -> Any:
        """The faults injected on this queue (apsim.hw.faults.QueueFaults), or None."""
        return self._fault

    @fault.setter
    def fault(self, table: Any) -> None:
        # A live fault keeps the gate shut so that every instruction meets it.
        self._fault = table
        self._regate()

    def _regate(self) -> None:
        self._gate = _FOREVER if self._cfg_rc or self._fault is not None else max(self._reset_until, self._assoc_until,
                                                        self.adapter.busy_until)

    # --- interruption state (setters keep planned requests consistent) -------------------
    @property
    def irq(self) -> bool:
        """Whether adapter interruptions are enabled (AQIC)."""
        return self._irq

    @irq.setter
    def irq(self, on: bool) -> None:
        self._irq = bool(on)
        self._irq_changed()

    @property
    def irq_target(self):  # noqa: ANN201
        """``callable(queue)`` receiving the queue's adapter interruptions (or None)."""
        return self._irq_target

    @irq_target.setter
    def irq_target(self, target) -> None:  # noqa: ANN001
        self._irq_target = target
        self._irq_changed()

    def _sink_now(self) -> Any:
        t = self._irq_target
        if not self._irq or t is None:
            return None
        return t if deferrable(t) else GENERIC

    def _irq_changed(self) -> None:
        """Interruptions were switched or re-targeted: re-plan the replies not ready yet.

        Replies already ready keep the pickup their interruption scheduled, as they
        would after a real interruption; only requests still waiting or on an engine
        follow the new setting.
        """
        new = self._sink_now()
        if new is self._sink:
            return
        self._sink = new
        if self._np:
            now = clock(self.env)
            self._settle(now)
            for req in self._plan:
                self.adapter._arm(req, new)

    # --- state ----------------------------------------------------------------------
    @property
    def irq_count(self) -> int:
        """Adapter interruptions raised up to now: settled first, like :attr:`replies` (a planned
        queue posts replies, and counts interruptions to a deferrable target, when looked at)."""
        if self._np:
            self._settle(clock(self.env))
        return self._irq_count

    @property
    def replies(self) -> list[Request]:
        """Replies waiting to be dequeued, oldest first (settled to the current time; a copy)."""
        if self._np:
            self._settle(clock(self.env))
        return self._replies

    # --- the two chains ---------------------------------------------------------------
    @property
    def _plan(self) -> list[Request]:
        """The planned requests, in acceptance order (a copy)."""
        return _chain(self._ph)

    @property
    def _replies(self) -> list[Request]:
        """The replies waiting, oldest first, as they stand (a copy; not settled)."""
        return _chain(self._rh)

    def _plan_add(self, req: Request) -> None:
        """Append *req* to the planned requests."""
        req._next = None
        if self._pt is None:
            self._ph = req
        else:
            self._pt._next = req
        self._pt = req
        self._np += 1

    def _reply_add(self, req: Request) -> None:
        """Append *req* to the replies waiting."""
        req._next = None
        if self._rt is None:
            self._rh = req
        else:
            self._rt._next = req
        self._rt = req
        self._nr += 1

    def _reply_pop(self) -> Request:
        """Take the oldest reply out (there is one)."""
        req = self._rh
        nxt = req._next
        self._rh = nxt
        if nxt is None:
            self._rt = None
        req._next = None
        self._nr -= 1
        return req

    def _append_plan(self, req: Request) -> None:
        """:meth:`_plan_add` for Python callers (export.py); it is C-only when compiled."""
        self._plan_add(req)

    def _append_reply(self, req: Request) -> None:
        """:meth:`_reply_add` for Python callers (export.py)."""
        self._reply_add(req)

    def _take_all(self) -> None:
        """Empty both chains, clearing every link."""
        _unlink(self._ph)
        _unlink(self._rh)
        self._ph = self._pt = self._rh = self._rt = None
        self._np = self._nr = 0

    def _set_replies(self, reqs: list[Request]) -> None:
        """Replace the replies waiting by *reqs* (in that order)."""
        _unlink(self._rh)
        self._rh = self._rt = None
        self._nr = 0
        for r in reqs:
            self._reply_add(r)

    @property
    def occ_area(self) -> int:
        """Integral of ``count`` over time from 0 to now (entries × ns)."""
        return self._occ_sum + self.count * clock(self.env)

    def state_rc(self) -> int:
        """The response code every instruction would get from the queue's state alone."""
        if self.cfg_rc:
            return self.cfg_rc
        now = clock(self.env)
        if self.adapter.busy_until > now:
            return RC.BUSY
        if self.reset_until > now:
            return RC.RESET_IN_PROGRESS
        return 0

    def status(self, rc: int = 0) -> int:
        """The AP queue status word with the queue's E/R/F/I bits and *rc*."""
        return codes.make_status(
            rc, empty=self.count == 0, replies=bool(self.replies), full=self.count >= self.depth,
            irq=self._irq, async_=bool(self.async_rc))

    def _settle(self, now: int) -> None:
        """Move every planned request whose reply is ready by *now* to the reply list.

        Completion order is (t_done, acceptance order): the order in which an
        engine-by-engine simulation posts the replies.
        """
        n = self._np
        if n == 1:
            req = self._ph
            if req.t_done <= now:
                self._post_only(req)
            return
        ready = []
        later = []
        req = self._ph
        while req is not None:
            if req.t_done <= now:
                ready.append(req)
            else:
                later.append(req)
            req = req._next
        if not ready:
            return
        self._ph = self._pt = None
        self._np = 0
        for i in range(len(later)):
            self._plan_add(later[i])
        if len(ready) == 2:
            a = ready[0]
            b = ready[1]
            if b.t_done < a.t_done or (b.t_done == a.t_done and b.order < a.order):
                ready[0] = b
                ready[1] = a
        elif len(ready) > 2:
            ready.sort(key=_done_order)
        for i in range(len(ready)):
            req = ready[i]
            req._state = REPLY
            self._reply_add(req)
            if req.sink is not None and req.sink is not GENERIC:
                self._irq_count += 1

    def _post_only(self, req: Request) -> None:
        """*req*, the one planned request, is done: post its reply (the plan is empty after)."""
        self._ph = self._pt = None
        self._np = 0
        req._state = REPLY
        self._reply_add(req)
        # Interruptions to a deferrable target are counted here; a plain target's
        # are counted by the event at t_done that calls it.
        if req.sink is not None and req.sink is not GENERIC:
            self._irq_count += 1

    def reply_ready(self, req: Request) -> None:
        """An engine finished *req* (engine-by-engine adapters): queue its reply and raise
        an interruption if enabled. Planned adapters post replies in :meth:`_settle`."""
        req._state = REPLY
        req.t_done = clock(self.env)
        self._reply_add(req)
        if self._irq and self._irq_target is not None:
            self._irq_count += 1
            self._irq_target(self)

    # --- the requests the queue holds ------------------------------------------------------
    @property
    def live(self) -> set[Request]:
        """Every request the queue holds: waiting for an engine, on one, or replied.

        Computed on demand from where the requests are (the plan or the adapter's
        waiting line and engines, and this queue's reply list) instead of being
        maintained per request on the hot path; ``count`` is the same number.
        """
        return set(self._held())

    def _held(self) -> list[Request]:
        if self._np:
            self._settle(clock(self.env))
        out = self._plan
        adapter = self.adapter
        if not adapter.planned:
            out.extend(adapter.waiting.of_queue(self))
            out.extend(e.req for e in adapter.engines if e.req is not None and e.req.queue is self)
        out.extend(self._replies)
        return out

    # --- resets and state changes ------------------------------------------------------
    def flush(self, cause: str) -> int:
        """Drop every request the queue holds, accounting each with *cause*."""
        if not self.count:
            return 0
        now = clock(self.env)
        adapter = self.adapter
        # Deterministic order (submit time, PSMID) so drop listeners see a stable sequence.
        victims = sorted(self._held(), key=_req_order)
        planned = adapter.planned
        on_engine = [] if planned else [r for r in victims if r._state == SERVICE]
        for req in victims:
            if req._state == PLANNED:
                # Undo the parts of the plan that have not happened.
                adapter._n_lost += 1
                if req.t_start > now:
                    adapter._svc_sum -= req.service_ns
                    req.t_start = -1
                else:
                    adapter._svc_sum -= req.service_ns - (now - req.t_start)
                req.t_done = -1
                req._state = QUEUED
        dropped = 0
        for req in victims:
            if req._state != DONE:
                self.ledger.drop(req, cause)
                dropped += 1
        self._take_all()
        self._occ_sum += self.count * now
        self.count = 0
        # Free engines only after every victim is marked, so the dispatcher cannot
        # hand a freed engine to another request of this very queue.
        if planned:
            adapter.replan(now)
        else:
            for req in on_engine:
                adapter.abort(req)
        return dropped

    def reset(self, *, zeroize: bool, cause: str | None = None, unbind: bool = False) -> int:
        """RAPQ / ZAPQ: drop all requests, disable interruptions, start the reset period."""
        dropped = self.flush(cause or ("zeroize" if zeroize else "reset"))
        self._disable_irq()
        self.reset_until = clock(self.env) + self.adapter.profile_reset_ns
        self.async_rc = 0
        self.associated = False
        self.assoc_until = 0
        self.assoc_index = -1
        if unbind and self.bound_by is not None:
            self.bound_by.se_bound -= 1
            self.bound_by = None
        return dropped

    def _disable_irq(self) -> None:
        self._irq = False
        self.isc = 0
        self.nib = 0
        self.gisa = 0
        self._irq_target = None
        self._irq_changed()

    def set_config_rc(self, rc: int, cause: str) -> int:
        """Enter or leave standby (0x03) / checkstop (0x04); entering drops all requests."""
        dropped = 0
        if rc and not self.cfg_rc:
            dropped = self.flush(cause)
            self._disable_irq()
        elif not rc and self.cfg_rc:
            # Back online: the queue comes up empty, as after a reset.
            self.flush(cause)
            self._disable_irq()
            self.reset_until = 0
        self.cfg_rc = rc
        return dropped

    def live_count(self) -> int:
        """Requests accepted and not yet dequeued or dropped."""
        return self.count

    def mean_occupancy(self, now: int) -> float:
        """Time-average number of entries from 0 to *now*."""
        return (self._occ_sum + self.count * now) / now if now > 0 else 0.0

    def __repr__(self) -> str:
        return f"APQueue({self.apid:02x}.{self.apqi:04x}, count={self.count})"


def _chain(head: Request | None) -> list[Request]:
    """The requests of a queue's chain from *head* on, following their _next links."""
    out = []
    r = head
    while r is not None:
        out.append(r)
        r = r._next
    return out


def _unlink(head: Request | None) -> None:
    """Clear the _next links of a chain from *head* on (its requests leave it)."""
    r = head
    while r is not None:
        nxt = r._next
        r._next = None
        r = nxt


def _req_order(req: Request) -> tuple[int, int]:
    return (req.t_submit, req.psmid)


def _done_order(req: Request) -> tuple[int, int]:
    return (req.t_done, req.order)
