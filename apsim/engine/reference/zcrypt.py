"""The specification of a workload's zcrypt dispatch: :class:`RefWorkload`.

One issuer (a guest's applications plus its zcrypt driver) written as the textbook:
one small method per rule, plain SimPy timeouts for every timed step, plain dicts
and deques for state. It runs over any object satisfying
:class:`apsim.engine.port.Port` (NQAP, DQAP, targets, queue depth, AQIC, poll
interval, queue errors; TAPQ and the ledger where the port has them) and knows
nothing of queue links, planned adapters, calendars or hooks.
:class:`apsim.engine.workload.Workload` is the engine's optimised form of the same
rules; ``tests/engine/test_reference_zcrypt.py`` drives both with the same
operation sequences and compares every observable, so that test is what licenses
the engine's inlining.

Random numbers are *defined* by :mod:`apsim.engine.draws` (shared on purpose, not
a copy): one generator, blocks of 4096, each block drawn when its first value is
needed. Per request: its type (a one-type mix still moves through the type
stream), then for ``select: random`` its target, then (open loop) the next gap.

Same-instant order: every timed step is one SimPy timeout scheduled at the moment
the engine schedules its event, so ties at one instant break by scheduling order
as in the engine. Inside one instant the rules run in this order: a reply pickup
takes its replies oldest first, and for each one frees the slot (the next held
request is NQAP'd at once), then lets a closed loop send its next request, before
the next DQAP.

Left out (they need more than a bare LPAR port): the guest's request timer, and
the vCPU gate is only honoured through ``port.ready_at``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from apsim.engine import draws
from apsim.engine.codes import SW_REPLIES_WAITING
from apsim.engine.port import Port
from apsim.engine.recorder import RequestRecorder
from apsim.engine.reference.zcrypt_parts import RefTarget, ResendBacklog, mix_tables, stream
from apsim.engine.request import Request
from apsim.engine.workload_spec import WorkloadSpec
from apsim.errors import ProgramException

SEQ_MASK = 0xFFFFFFFF
"""A psmid is ``owner << 32 | (sequence number & SEQ_MASK)``."""
READ_OK_RCS = (0x00, 0x10)
"""DQAP codes ap_sm_read has a case for (normal, no reply pending); any other is an error."""
WRITE_WAIT_RCS = (0x02, 0x10)
"""NQAP codes after which ap_sm_write keeps the queue in use (reset in progress, queue full)."""
MESSAGE_RCS = (0x06, 0x0A, 0x15)
"""NQAP codes ap_sm_write answers with -EINVAL for that message only (the caller's error)."""
RESEND_RC = 0x02
"""NQAP's "reset in progress": ap_sm_write keeps the message for a resend (RESET_WAIT)."""
RESET_WAIT_RCS = (0x02, 0x05)
"""TAPQ codes after which ap_sm_reset_wait waits another low-rate poll."""
POLL_LOW_NS = 40_000_000
"""``AP_SM_WAIT_LOW_TIMEOUT``: the poll timer's low rate."""


class RefWorkload:
    """One issuer's request generator with zcrypt's dispatch (the specification).

    The public surface is the engine workload's: :meth:`start`, :meth:`stop`,
    :meth:`refresh_targets`, :meth:`set_targets`, :meth:`on_dropped`,
    :meth:`in_software_queues`, :meth:`state`, :meth:`target`, the counters
    ``completed``/``dropped``/``rejected``/``einval`` and the list ``targets``.
    """

    def __init__(self, port: Port, spec: WorkloadSpec, recorder: RequestRecorder, owner: int,
                 rng: np.random.Generator, *, weight_of: Callable[[int, int], int] | None = None) -> None:
        self.port = port
        self.env: Any = port.env
        self.spec = spec
        self.recorder = recorder
        self.owner = owner
        self.weight_of = weight_of  # a pure function (apqn, rtype) -> zcrypt weight, or None
        self.irq_latency: int = port.profile.irq_latency_ns
        self.dqap_ns: int = port.profile.dqap_ns
        self.running = False
        self.seq = 0
        self.rr = 0
        self.targets: list[int] = []
        self.tgt: dict[int, RefTarget] = {}  # every APQN ever targeted, in first-use order
        self.stalled: list[Request] = []  # dispatched while there was no target
        self.polling = False
        self.arrival_pending = False
        self.completed = self.dropped = self.rejected = self.einval = 0
        self.last_rejections: list[tuple[int, int, int]] = []  # (time, APQN, RC), the last three
        self.foreign_replies: list[Request] = []
        self.backlog = ResendBacklog()
        mix_idx, mix_p, mix_cdf = mix_tables(spec.mix, port.profile)
        self.lengths = {int(mix_idx[i]): spec.length or port.profile.request_type(n).msg_len
                        for i, n in enumerate(spec.mix)}
        self.types = stream(lambda: draws.type_block(rng, mix_idx, mix_cdf, mix_p))
        self.gaps = stream(lambda: draws.gap_block(rng, spec.rate)) if spec.trace is None \
            else iter(spec.trace)
        self.uniforms = stream(lambda: draws.uniform_block(rng))

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

    # --- arrivals ----------------------------------------------------------------------
    def schedule_arrival(self) -> None:
        """The next open-loop arrival: a Poisson gap later, or a trace's next time (not in the
        past); none after a trace's last."""
        if self.spec.trace is None:
            at = self.now + next(self.gaps)
        else:
            t = next(self.gaps, None)
            if t is None:
                return
            at = max(self.now, int(t))
        self.arrival_pending = True
        self.after(at - self.now, self.arrive)

    def arrive(self) -> None:
        """An arrival: while running, one new request, then the next arrival is scheduled."""
        self.arrival_pending = False
        if not self.running:
            return
        self.new_request()
        self.schedule_arrival()

    def new_request(self) -> None:
        """An application submits a request: next sequence number, type from the mix, dispatch."""
        self.seq += 1
        rt = next(self.types)
        psmid = (self.owner << 32) | (self.seq & SEQ_MASK)
        req = Request(psmid, rt, self.lengths[rt], self.owner, self.now, -1, self)
        self.dispatch(req)

    def finish(self) -> None:
        """A request ended with its reply: a running closed loop sends the next one, after
        ``think_ns`` if it thinks, else at once."""
        if self.spec.kind != "closed" or not self.running:
            return
        if self.spec.think_ns:
            self.after(self.spec.think_ns, self.retry)
        else:
            self.new_request()

    def retry(self) -> None:
        """A closed loop's delayed next request (after thinking, a rejection or a drop)."""
        if self.running:
            self.new_request()

    # --- dispatch (zcrypt_api.c, zcrypt_msgtype) -----------------------------------------
    def weight(self, apqn: int, rt: int) -> int:
        """zcrypt's weight of one *rt* request on *apqn* (1 without a weight function)."""
        return int(self.weight_of(apqn, rt)) if self.weight_of is not None else 1

    def active(self) -> list[RefTarget]:
        """The targets in the order of the target list."""
        return [self.tgt[q] for q in self.targets]

    def select(self, rt: int) -> RefTarget:
        """The policy's target for a request of type *rt* (there is at least one)."""
        if self.spec.select == "round_robin":
            return self.select_round_robin()
        if self.spec.select == "random":
            return self.select_random()
        return self.select_least_loaded(rt)

    def select_round_robin(self) -> RefTarget:
        """Round robin: the position moves on *before* the pick (modulo the current list), so
        from a fresh start the first request goes to the second target."""
        active = self.active()
        self.rr = (self.rr + 1) % len(active)
        return active[self.rr]

    def select_random(self) -> RefTarget:
        """Random: ``targets[floor(u * n)]`` with the next uniform of the stream."""
        active = self.active()
        return active[int(next(self.uniforms) * len(active))]

    def select_least_loaded(self, rt: int) -> RefTarget:
        """zcrypt's least-loaded choice: the least (weight + load); ties to the APQN with fewer
        requests so far (total), then (apsim's rule) to the earlier one in the target list."""
        return min(self.active(), key=lambda t: (self.weight(t.apqn, rt) + t.load, t.total, t.idx))

    def dispatch(self, req: Request) -> None:
        """Choose the APQN and charge it; NQAP if it has a free slot, else hold the request in
        its software queue. Without any target the request is stalled."""
        if not self.targets:
            self.stalled.append(req)
            return
        tg = self.select(req.rtype)
        req.apqn = tg.apqn
        self.charge(tg, req.rtype)
        if tg.has_free_slot:
            self.send(tg, req)
        else:
            tg.held.append(req)

    def charge(self, tg: RefTarget, rt: int) -> None:
        """A request joins *tg*: its weight joins the load, and it counts in the total."""
        tg.load += self.weight(tg.apqn, rt)
        tg.total += 1

    def discharge(self, tg: RefTarget, rt: int, sent: bool) -> None:
        """A request leaves *tg*: its weight leaves the load, and its slot if it was NQAP'd."""
        if sent:
            tg.outstanding -= 1
        tg.load -= self.weight(tg.apqn, rt)

    # --- NQAP (ap_queue.c ap_sm_write) ----------------------------------------------------
    def send(self, tg: RefTarget, req: Request) -> None:
        """Take a slot and NQAP (when the vCPUs can issue); a refusal goes to :meth:`refused`;
        the first request sent in poll mode starts the poll timer."""
        tg.outstanding += 1
        ready = self.port.ready_at(self.now)
        if ready > self.now:
            self.after(ready - self.now, self.send_later, tg, req)
            return
        rc = self.port.nqap(tg.apqn, req)
        if rc:
            self.refused(tg, req, rc)
            return
        if self.spec.reply == "poll" and not self.polling:
            self.polling = True
            self.after(self.port.poll_ns(), self.poll)

    def send_later(self, tg: RefTarget, req: Request) -> None:
        """The vCPUs are released: NQAP now, or back to dispatch if the APQN stopped being a target."""
        tg.outstanding -= 1
        if tg.active:
            self.send(tg, req)
        else:
            self.discharge(tg, req.rtype, sent=False)
            self.stalled.append(req)
            self.refresh_targets()

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
        using it (its held requests are stalled until the next target refresh)."""
        self.port.queue_error(tg.apqn, rc, fn)
        if tg.active:
            self.set_targets([q for q in self.targets if q != tg.apqn])
            self.stalled.extend(tg.held)
            tg.held.clear()

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
                self.discharge(tg, req.rtype, sent=False)
                self.stalled.append(req)
            self.refresh_targets()
            return
        if self.spec.reply == "interrupt":
            self.enable_irq(tg)
        for req in reqs:
            self.backlog.resent += 1
            self.send(tg, req)

    # --- replies (ap_queue.c ap_sm_read) -------------------------------------------------------
    def enable_irq(self, tg: RefTarget) -> None:
        """AQIC on for *tg*'s APQN, with :meth:`on_irq` as its handler."""
        self.port.enable_irq(tg.apqn, lambda _apqn: self.on_irq(tg))

    def on_irq(self, tg: RefTarget) -> None:
        """An adapter interruption: pick the replies up ``irq_latency`` later, unless a pickup is
        already pending (it will take this reply too)."""
        if tg.pickup_pending:
            return
        tg.pickup_pending = True
        self.after(self.irq_latency, self.pickup, tg)

    def pickup(self, tg: RefTarget) -> None:
        """The interruption's pickup: no longer pending, take the replies."""
        tg.pickup_pending = False
        self.take_replies(tg)

    def poll(self) -> None:
        """The poll timer: take the replies of every APQN with requests outstanding (in the order
        first targeted); it runs again while any is still outstanding."""
        busy = False
        for tg in [t for t in self.tgt.values() if t.outstanding > 0]:
            self.take_replies(tg)
            busy = busy or tg.outstanding > 0
        if busy:
            self.after(self.port.poll_ns(), self.poll)
        else:
            self.polling = False

    def take_replies(self, tg: RefTarget) -> None:
        """DQAP until a reply's status word has no R bit (replies waiting), or DQAP has no reply;
        a code ap_sm_read has no case for retires the queue. The k-th reply of a pickup is
        recorded as dequeued at ``now + k * dqap_ns``. Replies to requests not from this
        workload are skipped; those of another owner are kept as isolation breaches."""
        now = self.now
        ready = self.port.ready_at(now)
        if ready > now:
            self.after(ready - now, self.take_replies, tg)
            return
        k = 0
        while True:
            rc, req = self.port.dqap(tg.apqn)
            if rc or req is None:
                if rc not in READ_OK_RCS:
                    self.queue_error(tg, rc, "ap_sm_read")
                return
            k += 1
            more = bool(req.queue.status() & SW_REPLIES_WAITING)  # the status word DQAP answers
            if req.tag is self:
                self.completed_reply(tg, req, now + k * self.dqap_ns)
            elif req.owner != self.owner:
                self.foreign_replies.append(req)
            if not more:
                return

    def completed_reply(self, tg: RefTarget, req: Request, t_deq: int) -> None:
        """One of our replies: its row, its slot freed (the next held request is sent), and a
        closed loop's next request."""
        self.recorder.record(self.owner, tg.apqn, req.rtype, req.t_submit, req.t_done, t_deq,
                             req.t_start)
        self.completed += 1
        self.discharge(tg, req.rtype, sent=True)
        if tg.held and tg.has_free_slot:
            self.send(tg, tg.held.popleft())
        self.finish()

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
        AQIC on. Held requests of APQNs that left are stalled; then, if any target is left,
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
            self.stalled.extend(self.tgt[q].held)
            self.tgt[q].held.clear()
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
