"""The reference workload's cold half: life cycle, target set, refusals, resends, drops, reports.

:class:`RefControl` is the base of :class:`apsim.engine.reference.zcrypt.RefWorkload`, which
holds the state (its ``__init__``) and the per-request rules (arrival, dispatch, NQAP, pickup)
this half calls: ``new_request``, ``dispatch``, ``send``, ``discharge``, ``enable_irq``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from apsim.engine.reference.zcrypt_parts import RefTarget
from apsim.engine.request import Request
from apsim.errors import ProgramException

WRITE_WAIT_RCS = (0x02, 0x10)
"""NQAP codes after which ap_sm_write keeps the queue in use (reset in progress, queue full)."""
MESSAGE_RCS = (0x42, 0x15, 0x16)
"""NQAP codes ap_sm_write answers with -EINVAL for that message only (the caller's error):
invalid domain, message too big, requested facility not installed."""
RESEND_RC = 0x02
"""NQAP's "reset in progress": ap_sm_write keeps the message for a resend (RESET_WAIT)."""
RESET_WAIT_RCS = (0x02, 0x05)
"""TAPQ codes after which ap_sm_reset_wait waits another low-rate poll."""
POLL_LOW_NS = 40_000_000
"""``AP_SM_WAIT_LOW_TIMEOUT``: the poll timer's low rate."""


class RefControl:
    """A reference workload's life cycle, target set and failure handling (see the module docstring)."""

    env: Any
    port: Any
    spec: Any
    running: bool
    targets: list[int]
    tgt: dict[int, RefTarget]

    # --- timed steps ---------------------------------------------------------------------
    @property
    def now(self) -> int:
        """The simulated time (ns)."""
        return self.env.now

    def after(self, delay: int, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` *delay* ns from now (one SimPy timeout)."""
        self.env.timeout(delay).callbacks.append(lambda _ev: fn(*args))

    # --- life cycle --------------------------------------------------------------------
    def start(self) -> None:
        """Begin issuing: read the targets, then an open loop schedules its first arrival
        (unless a stopped chain's arrival is still pending: it goes on) and a closed loop
        sends ``concurrency`` requests (per target for ``per: apqn``) at once."""
        if self.running or self.spec.kind == "none":
            return
        self.running = True
        self.refresh_targets()
        if self.spec.kind == "open":
            if not self.arrival_pending:
                self.schedule_arrival()
        else:
            n = self.spec.concurrency * (len(self.targets) if self.spec.per == "apqn" else 1)
            for _ in range(n):
                self.new_request()

    def stop(self) -> None:
        """Stop creating requests; outstanding ones finish or are dropped."""
        self.running = False

    def retry(self) -> None:
        """A closed loop's delayed next request (after thinking, a rejection or a drop)."""
        if self.running:
            self.new_request()

    def refused(self, tg: RefTarget, req: Request, rc: int) -> None:
        """NQAP answered *rc*. 0x02 on a target: kept for a resend (:meth:`wait_reset`). Else
        the request ends rejected; codes of :data:`MESSAGE_RCS` count as EINVAL, codes
        ap_sm_write has no case for retire the queue (:meth:`queue_error`), and a running
        closed loop sends its next request one poll interval later."""
        if rc == RESEND_RC and tg.active:
            self.wait_reset(tg, req)
            return
        self.discharge(tg, req.rtype, sent=True)
        self.rejected += 1
        self.last_rejections = (self.last_rejections + [(self.now, tg.apqn, rc)])[-3:]
        if rc in MESSAGE_RCS:
            self.einval += 1
        elif rc not in WRITE_WAIT_RCS:
            self.queue_error(tg, rc, "ap_sm_write")
        if self.running and self.spec.kind == "closed":
            self.after(self.port.poll_ns(), self.retry)

    def queue_error(self, tg: RefTarget, rc: int, fn: str) -> None:
        """*fn*'s ``default:`` branch met *rc*: the port marks the queue in error, and zcrypt stops
        using it (its held requests are taken back, and stalled until the next target refresh)."""
        self.port.queue_error(tg.apqn, rc, fn)
        if tg.active:
            self.set_targets([q for q in self.targets if q != tg.apqn])
            self.take_back_held(tg)

    def take_back(self, tg: RefTarget, req: Request) -> None:
        """*req* was dispatched to *tg*, which zcrypt stopped using, and never sent (held, or
        waiting for a resend): its weight leaves *tg*'s load and it waits for dispatch (stalled)."""
        self.discharge(tg, req.rtype, sent=False)
        self.stalled.append(req)

    def take_back_held(self, tg: RefTarget) -> None:
        """Every request held for *tg* is taken back, oldest first."""
        while tg.held:
            self.take_back(tg, tg.held.popleft())

    # --- resend after "reset in progress" (ap_sm_write -> AP_SM_STATE_RESET_WAIT) ------------
    def wait_reset(self, tg: RefTarget, req: Request) -> None:
        """Keep *req*: the ledger's rejection is withdrawn, the slot is given back (the weight stays
        on the load), and the first request waiting on the APQN starts the low-rate poll."""
        ledger = getattr(self.port, "ledger", None)
        if ledger is not None:
            ledger.withdraw(RESEND_RC)
        tg.outstanding -= 1
        waiting = self.backlog.waiting
        if tg.apqn not in waiting:
            waiting[tg.apqn] = deque()
            self.after(POLL_LOW_NS, self.reset_wait_poll, tg)
        waiting[tg.apqn].append(req)

    def reset_wait_poll(self, tg: RefTarget) -> None:
        """ap_sm_reset_wait: TAPQ (where the port has it) says 0x02/0x05: wait again. Else the
        waiting requests go back to dispatch if the APQN is no target, or else interruptions are
        enabled again (a reset switched them off) and the same requests are NQAP'd again."""
        tapq = getattr(self.port, "tapq", None)
        if tapq is not None:
            try:
                rc = tapq(tg.apqn)
            except ProgramException:
                rc = None
            if rc in RESET_WAIT_RCS:
                self.backlog.waits += 1
                self.after(POLL_LOW_NS, self.reset_wait_poll, tg)
                return
        reqs = self.backlog.waiting.pop(tg.apqn, [])
        if not tg.active:
            for req in reqs:
                self.take_back(tg, req)
            self.refresh_targets()
            return
        if self.spec.reply == "interrupt":
            self.enable_irq(tg)
        for req in reqs:
            self.backlog.resent += 1
            self.send(tg, req)

    # --- drops ------------------------------------------------------------------------------
    def on_dropped(self, req: Request, cause: str) -> None:
        """The hardware dropped one of our requests (called inside the queue's flush): it ends
        dropped now; the freed slot and a closed loop's replacement are handled 0 ns later."""
        self.dropped += 1
        self.discharge(self.tgt[req.apqn], req.rtype, sent=True)
        self.after(0, self.after_drop, self.tgt[req.apqn])

    def after_drop(self, tg: RefTarget) -> None:
        """After a drop: the APQN's next held request is sent if it is still a target with a free
        slot; a running closed loop sends its next request one poll interval later."""
        if tg.held and tg.has_free_slot and tg.active:
            self.send(tg, tg.held.popleft())
        if self.running and self.spec.kind == "closed":
            self.after(self.port.poll_ns(), self.retry)

    # --- the target set ---------------------------------------------------------------------
    def refresh_targets(self) -> None:
        """Re-read the usable APQNs (the spec's list filtered by what the port offers). A new
        target gets its depth from the port (a known one is updated) and, for interrupt pickup,
        AQIC on. Held requests of APQNs that left are taken back; then, if any target is left,
        the stalled requests are dispatched again in order while a target remains."""
        avail = self.port.targets()
        if self.spec.targets == "all":
            new = list(avail)
        else:
            new = [q for q in self.spec.targets if q in set(avail)]
        old = set(self.targets)
        for q in new:
            if q in old:
                continue
            if q in self.tgt:
                self.tgt[q].depth = self.port.queue_depth(q)
            else:
                self.tgt[q] = RefTarget(q, self.port.queue_depth(q))
            if self.spec.reply == "interrupt":
                self.enable_irq(self.tgt[q])
        self.set_targets(new)
        for q in sorted(old - set(new)):
            self.take_back_held(self.tgt[q])
        if self.targets:
            while self.stalled and self.targets:
                self.dispatch(self.stalled.pop(0))

    def set_targets(self, new: list[int]) -> None:
        """Install the target list (each target's position is its tie-break in least-loaded)."""
        for q in self.targets:
            self.tgt[q].idx = -1
        self.targets = list(new)
        for i, q in enumerate(self.targets):
            self.tgt[q].idx = i

    # --- state and reports ------------------------------------------------------------------
    def target(self, apqn: int) -> RefTarget | None:
        """The driver state of one APQN (None if never targeted)."""
        return self.tgt.get(apqn)

    @property
    def live(self) -> int:
        """Requests created and not finished (held, stalled, waiting, queued or outstanding)."""
        return self.seq - self.completed - self.rejected - self.dropped

    def in_software_queues(self) -> int:
        """Requests the driver holds that are not in a hardware queue."""
        return sum(len(t.held) for t in self.tgt.values()) + len(self.stalled) + len(self.backlog)

    def state(self) -> dict[str, Any]:
        """Counters for reports and debugging (the engine's keys)."""
        return {"completed": self.completed, "dropped": self.dropped, "rejected": self.rejected,
                "live": self.live, "held": self.in_software_queues(), "seq": self.seq}
