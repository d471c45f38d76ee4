"""The cold half of a workload: life cycle, target set, rejections, drops, resends, reports.

:class:`WorkloadControl` is the base of :class:`apsim.engine.workload.Workload`;
what runs once per request (arrival, dispatch, NQAP, pickup) lives there, what
runs when the target set changes, a queue fails or a report is taken lives here.
The few hot methods this half calls (dispatch, enqueue, the load bookkeeping,
request creation) are declared here and implemented by the workload, so the
compiled form calls them through its vtable as before.
"""

from __future__ import annotations

from typing import Any

from apsim.engine.codes import RC
from apsim.engine.core import call_at
from apsim.engine.request import Request
from apsim.engine.simpy_internals import clock
from apsim.engine.targets import Driver, Target, _LLGroup

# RESET_IN_PROGRESS, Q_FULL: ap_sm_write keeps the message and waits, the queue stays in
# use. Any other code but the _MESSAGE_RCS (0x05 BUSY too) is its `default:` branch.
_WRITE_WAIT_RCS = (0x02, 0x10)
# INVALID_DOMAIN, MESSAGE_TOO_BIG, REQ_FAC_NOT_INST: ap_sm_write ends that message with
# -EINVAL (the caller's error) and goes on with the queue.
_MESSAGE_RCS = (int(RC.INVALID_DOMAIN), int(RC.MESSAGE_TOO_BIG), int(RC.REQ_FAC_NOT_INST))


class WorkloadControl(Driver):
    """A workload's life cycle, target set and failure handling (see the module docstring)."""

    __slots__ = ()

    # --- implemented by the workload (its hot path) -------------------------------------
    def _schedule_arrival(self, now: int) -> None:
        raise NotImplementedError

    def _new_request(self, now: int) -> None:
        raise NotImplementedError

    def _discharge(self, tg: Target, rt: int, sent: bool) -> None:
        raise NotImplementedError

    def _dispatch(self, req: Request, now: int) -> None:
        raise NotImplementedError

    def _enqueue(self, tg: Target, req: Request, now: int) -> None:
        raise NotImplementedError

    # --- state and reports -----------------------------------------------------------------
    @property
    def live(self) -> int:
        """Requests created and not finished (held, stalled, queued or outstanding)."""
        return self.seq - self.completed - self.rejected - self.dropped

    def target(self, apqn: int) -> Target | None:
        """The driver state of one APQN (None if never targeted)."""
        return self._tgt.get(apqn)

    @property
    def ever_targeted(self) -> list[int]:
        """Every APQN the driver has used, in the order it first did."""
        return list(self._tgt)


    # --- life cycle -------------------------------------------------------------------
    def start(self) -> None:
        """Begin issuing requests."""
        if self.running or self.spec.kind == "none":
            return
        self.running = True
        self.refresh_targets()
        if self.spec.kind == "open":
            if self.callbacks is None:  # a stopped chain may still be pending: reuse it
                self._schedule_arrival(clock(self.env))
        else:
            n = self.spec.concurrency * (len(self.targets) if self.spec.per == "apqn" else 1)
            for _ in range(n):
                self._new_request(clock(self.env))

    def stop(self) -> None:
        """Stop creating requests (outstanding ones finish or are dropped by resets)."""
        self.running = False

    def refresh_targets(self) -> None:
        """Re-read the usable APQNs (after a hot plug/unplug seen by the guest's AP bus)."""
        spec_t = self.spec.targets
        avail = self.port.targets()
        if spec_t == "all":
            new = avail
        else:
            have = set(avail)
            new = [q for q in spec_t if q in have]
        old = set(self.targets)
        for q in new:
            if q not in old:
                tg = self._tgt.get(q)
                if tg is None:
                    tg = self._tgt[q] = Target(self, q, self.port.queue_depth(q))
                else:
                    tg.depth = self.port.queue_depth(q)
                if self.spec.reply == "interrupt":
                    self.port.enable_irq(q, tg)
        self.set_targets(list(new))
        gone = old - set(new)
        for q in sorted(gone):
            tg = self._tgt[q]
            h = tg.held
            while h:
                self.take_back(tg, h.popleft())
        if self.targets:
            # A dispatch can fail and retire the last target (e.g. no queue left that
            # runs the request type): stop then, or the request would be stalled again
            # and again at the same instant.
            while self.stalled and self._active:
                self._dispatch(self.stalled.popleft(), clock(self.env))

    def set_targets(self, new: list[int]) -> None:
        """Install the active target list (and rebuild the least-loaded heaps); the
        driver's own retirement of a queue (a reset it started) comes through here."""
        for t in self._active:
            t.idx = -1
        self.targets = new
        self._active = [self._tgt[q] for q in new]
        for i, t in enumerate(self._active):
            t.idx = i
        self._groups = []
        if self.spec.select == "least_loaded" and self._active:
            rts = [int(x) for x in self._mix_idx]
            by_w: dict[tuple[int, ...], _LLGroup] = {}
            for t in self._active:
                wv = tuple(t.weight(rt) for rt in rts)
                g = by_w.get(wv)
                if g is None:
                    g = by_w[wv] = _LLGroup(wv)
                    self._groups.append(g)
                t.group = g
                g.members.append(t)
                g.push(t.load, t.total, t.idx)
            self._ll_rt_pos = {rt: i for i, rt in enumerate(rts)}


    def _failed(self, q: int, req: Request, rc: int = 0) -> None:
        """NQAP answered with a response code: the request ends rejected (already in the ledger).

        Like zcrypt, the driver stops using a queue that failed until its AP bus
        sees it again, and the application retries after a back-off rather than at
        once, so a dead queue cannot spin the simulation at one instant. A 0x02
        (reset in progress) is no outcome: the driver keeps the request and sends it
        again (apsim.engine.resend, ap_sm_write's RESET_WAIT). Any code ap_sm_write has
        no case for (0x05 busy too) puts the queue into the error state (:meth:`_queue_error`).
        """
        tg = self._tgt[q]
        if self.reset_wait.keep(tg, req, rc):
            return  # not an outcome: the driver sends the same request again (apsim.engine.resend)
        self._discharge(tg, req.rtype, sent=True)
        self.rejected += 1
        lr = self.last_rejections
        lr.append((clock(self.env), q, rc))
        del lr[:-3]
        if rc in _MESSAGE_RCS:
            self.einval += 1
        elif rc not in _WRITE_WAIT_RCS:
            self._queue_error(tg, rc, "ap_sm_write")
        if self.running and self.spec.kind == "closed":
            call_at(self.env, self.port.poll_ns(), self._retry_later)

    def _queue_error(self, tg: Target, rc: int, fn: str) -> None:
        """*fn*'s ``default:`` branch (ap_queue.c ``ap_sm_write`` / ``ap_sm_read``) met *rc*.

        The port puts the queue device into ``AP_DEV_STATE_ERROR``; zcrypt sends
        nothing more to it and its held requests go back to dispatch. Requests in
        the hardware queue stay there (a reply may still be picked up) until the bus's
        next scan re-initializes the queue with a reset, which drops the rest; the
        queue is a target again once that reset is through (refresh_targets).
        """
        self.port.queue_error(tg.apqn, rc, fn)
        if tg.idx >= 0:
            self.set_targets([t for t in self.targets if t != tg.apqn])
            h = tg.held
            while h:
                self.take_back(tg, h.popleft())

    def _retry_later(self, ev) -> None:  # noqa: ANN001
        if self.running:
            self._new_request(clock(self.env))


    def resend_pending(self, apqn: int, req: Request) -> None:
        """Send *req* again to *apqn*, whose slot it still holds (zcrypt's pending-to-request move
        after a request-timer reset, apsim.guest.request_timer). Not :meth:`resend_waited`, which
        sends a request that gave its slot back (NQAP 0x02, apsim.engine.resend)."""
        tg = self._tgt[apqn]
        tg.outstanding -= 1
        self._enqueue(tg, req, clock(self.env))

    def on_dropped(self, req: Request, cause: str) -> None:
        """The hardware dropped one of our requests (reset, configure off, unplug, ...).

        Called from inside the queue's flush, so nothing is sent from here: the
        freed slot and the closed loop's replacement are handled a moment later.
        """
        if self.request_timer is not None and self.request_timer.keeps(req):
            return  # the driver's own timeout reset: it sends the message again
        self.dropped += 1
        self._discharge(self._tgt[req.apqn], req.rtype, sent=True)
        call_at(self.env, 0, self._after_drop, req.apqn)

    def _after_drop(self, ev) -> None:  # noqa: ANN001
        tg = self._tgt[ev._value]
        h = tg._held
        if h is not None and h and tg.outstanding < tg.depth and tg.idx >= 0:
            self._enqueue(tg, h.popleft(), clock(self.env))
        if self.running and self.spec.kind == "closed":
            call_at(self.env, self.port.poll_ns(), self._retry_later)

    def resend_waited(self, tg: Target, req: Request) -> None:
        """Send *req* again on *tg* after its reset wait (apsim.engine.resend)."""
        self._enqueue(tg, req, clock(self.env))

    def take_back(self, tg: Target, req: Request) -> None:
        """*req* waited on *tg* (held, or for a resend) and was never sent; the driver stopped using
        *tg*: its weight leaves the load and it goes back to dispatch."""
        self._discharge(tg, req.rtype, False)
        self.stalled.append(req)

    def in_software_queues(self) -> int:
        """Requests the driver holds that were never NQAP'd (not yet in the ledger)."""
        return sum(len(t.held) for t in self._tgt.values()) + len(self.stalled) + len(self.reset_wait)

    def state(self) -> dict[str, Any]:
        """Counters for reports and debugging."""
        return {"completed": self.completed, "dropped": self.dropped, "rejected": self.rejected,
                "live": self.live, "held": self.in_software_queues(), "seq": self.seq}
