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
as in the engine; the one exception is written out in :class:`PickupHandler` (a
pickup folded with its interruption is ordered as of its request's acceptance).
Inside one instant the rules run in this order: a reply pickup takes its replies
oldest first, and for each one frees the slot (the next held request is NQAP'd at
once), then lets a closed loop send its next request, before the next DQAP.

The life cycle, target set, refusals, resends and drops are the base class,
:class:`apsim.engine.reference.zcrypt_control.RefControl`; the per-APQN state, the
random streams and the resend backlog are in :mod:`apsim.engine.reference.zcrypt_parts`.

Left out: the guest's request timer (``request_timer``, which needs a guest's
zcrypt); a blocked vCPU is honoured through ``port.ready_at`` (the engine reads a
KVM port's ``vcpu_gate``, which must say the same).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from apsim.engine import draws
from apsim.engine.codes import SW_REPLIES_WAITING
from apsim.engine.port import Port
from apsim.engine.recorder import RequestRecorder
from apsim.engine.reference.zcrypt_control import RefControl
from apsim.engine.reference.zcrypt_parts import RefTarget, ResendBacklog, mix_tables, stream
from apsim.engine.request import Request
from apsim.engine.workload_spec import WorkloadSpec

SEQ_MASK = 0xFFFFFFFF
"""A psmid is ``owner << 32 | (sequence number & SEQ_MASK)``."""
READ_OK_RCS = (0x00, 0x10)
"""DQAP codes ap_sm_read has a case for (normal, no reply pending); any other is an error."""


class RefWorkload(RefControl):
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
        # The message type the port's firmware takes: the engine's Request, or the reference
        # firmware's own (RefPort.request_class), so the reference runs on either firmware.
        self.request_class: Any = getattr(port, "request_class", Request)

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
        req = self.request_class(psmid, rt, self.lengths[rt], self.owner, self.now, -1, self)
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

    # --- replies (ap_queue.c ap_sm_read) -------------------------------------------------------
    def enable_irq(self, tg: RefTarget) -> None:
        """AQIC on for *tg*'s APQN, with a :class:`PickupHandler` as its handler."""
        self.port.enable_irq(tg.apqn, PickupHandler(self, tg))

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


class PickupHandler:
    """zcrypt's interruption handler for one APQN: an interruption means "pick the replies up
    ``pickup_ns`` (the interruption latency) later, unless a pickup is pending".

    It says so to the port (``pickup_ns`` and :meth:`pickup`: the contract of
    :func:`apsim.engine.queue.deferrable`), so a port may deliver the interruption as the
    pickup itself, ``pickup_ns`` after the reply is ready. Same-instant order rule (the
    engine's, written here on purpose): such a folded pickup (a planned FIFO adapter's) is
    ordered among the events of its instant as an event scheduled when its request was
    accepted, not when its reply became ready; an interruption delivered as such
    (engine by engine) schedules the pickup when it arrives. The two differ only when
    another event falls on the pickup's very nanosecond
    (``tests/engine/test_reference_zcrypt.py`` has such a case).
    """

    def __init__(self, wl: RefWorkload, tg: RefTarget) -> None:
        self.wl = wl
        self.tg = tg
        self.pickup_ns = wl.irq_latency

    def __call__(self, _apqn: object) -> None:
        """The interruption, delivered as such (the APQN or its queue as argument)."""
        self.wl.on_irq(self.tg)

    def pickup(self, _queue: object) -> None:
        """The interruption delivered as its pickup: take the replies now."""
        self.wl.take_replies(self.tg)
