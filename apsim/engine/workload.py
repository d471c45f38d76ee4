"""Request generators: open-loop and closed-loop workloads with zcrypt-like dispatch.

A workload is a state machine driven by callbacks, not a process per request:
an arrival (open loop) or a completion (closed loop) creates a request, the
dispatcher picks a target APQN (round robin, random, or zcrypt's least-loaded
weight balancing), and NQAP hands it to the queue. Like zcrypt, the driver knows
how many requests each queue holds and keeps further ones in its own software
queue instead of provoking "queue full". Replies are picked up on an adapter
interruption (after the interruption latency) or by a poll timer that runs while
requests are outstanding (250 µs in an LPAR, 1.5 ms under z/VM).

Cost per request: one event for its arrival (open loop) and, on a FIFO adapter
with interrupt pickup, one event that posts the reply and picks it up
``irq_latency`` later (each target is a *deferrable* interruption target, see
:func:`apsim.engine.queue.deferrable`); otherwise one event for the engine
completion or interruption and one pickup event shared by all replies of a
queue that are ready at the same interruption or poll tick. The arrival clock and
each target's pickup timer are :class:`~apsim.engine.core.Hook` objects re-armed on
SimPy's heap, so none of these events allocates an event object; per-target
state lives in one ``__slots__`` object per APQN instead of five dicts; random
variates (gaps, request types, random targets) come from numpy in blocks. A port
that offers queue links (:meth:`apsim.engine.port.LparPort.link`) lets NQAP/DQAP
go straight to the queue while the configuration is unchanged.

The random streams (their order is what the bulk mode replays) are drawn in
:mod:`apsim.engine.draws`; the per-APQN state and the least-loaded heap are in
:mod:`apsim.engine.targets`; the cold half (life cycle, target set, rejections,
drops, reports) is :class:`apsim.engine.control.WorkloadControl`, this class's base.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

try:
    import cython  # only the compiled form uses it (casts in _prefetch_rr)
except ImportError:  # pure Python without Cython installed
    cython = None

from apsim.engine import draws
from apsim.engine.calendar import calendar
from apsim.engine.core import call_at
from apsim.engine.port import Port
from apsim.engine.firmware import dqap_queue, nqap_queue
from apsim.engine.request import Request, new_request
from apsim.engine.recorder import RequestRecorder
from apsim.engine.resend import ResetWait
from apsim.engine.simpy_internals import clock
from apsim.engine.control import WorkloadControl
from apsim.engine.targets import Target, _LLGroup, as_block
from apsim.engine.workload_spec import WorkloadSpec

_COMPILED = not __file__.endswith(".py")  # blocks and heaps as C arrays, else lists (as_block)
_SEQ_MASK = 0xFFFFFFFF  # a psmid is owner << 32 | the low 32 bits of the sequence number
_READ_OK_RCS = (0x00, 0x10)  # NORMAL, NO_PENDING_REPLY: the cases ap_sm_read has
PREFETCH_MIN = 256  # round-robin targets from which arrivals prefetch (_prefetch_rr)


class Workload(WorkloadControl):
    """One issuer's request generator (a guest's applications plus its zcrypt).

    The workload is its own arrival clock: a :class:`~apsim.engine.core.Hook` (through
    :class:`~apsim.engine.targets.Driver`) that is pending (``callbacks`` set) while an
    open loop's next arrival is scheduled. One object instead of two matters with many issuers: each one is visited once per
    thousand requests, and the calendar's look-ahead (``Calendar._warm_next``)
    then loads the workload itself when it loads the hook.
    """

    def __init__(self, port: Port, spec: WorkloadSpec, recorder: RequestRecorder, owner: int,
                 rng: np.random.Generator, *, weight_of=None) -> None:  # noqa: ANN001
        self.callbacks = None
        self.port = port
        self.env = port.env
        self.spec = spec
        self.recorder = recorder
        self.owner = owner
        self.rng = rng
        self.weight_of = weight_of  # callable(apqn, rtype) -> zcrypt weight, or None
        prof = port.profile
        self.irq_latency = prof.irq_latency_ns
        self.dqap_ns = prof.dqap_ns
        self.running = False
        self.seq = 0
        self.targets: list[int] = []
        self.rr = 0
        self._tgt: dict[int, Target] = {}  # every APQN ever targeted -> its state
        self._active: list[Target] = []  # Target objects of self.targets, same order
        self._groups: list[_LLGroup] = []
        self.stalled: deque[Request] = deque()
        self.polling = False
        self.completed = 0
        self.dropped = 0
        self.rejected = 0
        self.einval = 0  # rejections that ended the message with EINVAL (control._MESSAGE_RCS)
        self.request_timer = None  # apsim.guest.request_timer.RequestTimer, where the driver has one
        self.last_rejections: list[tuple[int, int, int]] = []  # (time, APQN, RC), the last three
        self.foreign_replies: list[Request] = []
        # Requests whose NQAP answered "reset in progress", kept for a resend (ap_sm_write).
        self.reset_wait = ResetWait(self, getattr(port, "ledger", None))
        names = list(spec.mix)
        w = np.array([spec.mix[n] for n in names], dtype=float)
        kinds = {n: prof.request_type(n) for n in names}
        self._mix_idx = np.array([kinds[n].index for n in names])
        self._mix_p = w / w.sum()
        cdf = self._mix_p.cumsum()
        self._mix_cdf = cdf / cdf[-1]
        self._lengths = {kinds[n].index: (spec.length or kinds[n].msg_len) for n in names}
        # The same as a table indexed by type (the hot path's lookup).
        len_tab = [0] * (max(self._lengths) + 1)
        for rt, n in self._lengths.items():
            len_tab[rt] = n
        self._len_tab = as_block(np.asarray(len_tab, dtype=np.int64))
        # A one-type mix (the common case): its type, so an arrival does not read the
        # block of types (-1: several types).
        self._rt1 = int(self._mix_idx[0]) if len(names) == 1 else -1
        # The current blocks of random draws (see as_block) and the next position in each.
        self._types = as_block(np.zeros(0, dtype=np.int64))
        self._ti = 0
        self._gaps = as_block(np.zeros(0, dtype=np.int64))
        self._gi = 0
        self._next_at = 0  # when the pending arrival fires (_schedule_arrival)
        self._uni = as_block(np.zeros(0, dtype=np.float64))
        self._ui = 0
        self._cal = calendar(self.env)  # where the arrival clock and pickup timers fire
        self._arr_cbs = (self._arrive,)
        self._always_ready = bool(getattr(port, "always_ready", False))
        self._ready_at = None if self._always_ready else port.ready_at
        # A port whose vCPU blocking is one time (apsim.engine.core.VcpuGate): read it, don't call.
        self._gate = None if self._always_ready else getattr(port, "vcpu_gate", None)
        # Ports that offer queue links (LparPort): their configuration, else None.
        self._link_cfg = getattr(port, "config", None) if callable(getattr(port, "link", None)) else None
        self._rows = recorder.rows  # where completed requests' rows are written
        self._closed = spec.kind == "closed"
        self._pollable = spec.reply == "poll"
        self._rr = spec.select == "round_robin"
        # With fewer targets, what an arrival touches stays in the caches between visits;
        # the pure-Python form has no prefetch at all.
        self.prefetch_min = PREFETCH_MIN if _COMPILED else 1 << 62
        self._w1 = weight_of is None  # every request weighs 1: no weight lookups
        self._ll_rt_pos: dict[int, int] = {}
        self._poisson = spec.trace is None

    @property
    def _arr(self) -> Workload:
        """The arrival clock: the workload itself (the bulk mode reaches it by this name)."""
        return self

    # The current blocks of types and gaps; the hot path reads the block and its length
    # from fields of their own (a block view is 208 bytes, most of a cache line apart).
    @property
    def _types(self) -> Any:
        return self._types_b

    @_types.setter
    def _types(self, block: Any) -> None:
        self._types_b = block
        self._types_n = len(block)

    @property
    def _gaps(self) -> Any:
        return self._gaps_b

    @_gaps.setter
    def _gaps(self, block: Any) -> None:
        self._gaps_b = block
        self._gaps_n = len(block)

    # --- random streams (block draws; see the module docstring for the order) ------------
    # The *_block methods are the only places the workload's generator is used; the
    # bulk mode calls them too, in the same order, so both modes see the same numbers.
    def type_block(self) -> np.ndarray:
        """The next block of request-type indices (drawn from the mix, :func:`draws.type_block`)."""
        return draws.type_block(self.rng, self._mix_idx, self._mix_cdf, self._mix_p)

    def gap_block(self) -> np.ndarray:
        """The next block of inter-arrival gaps (int64 ns, at least 1)."""
        return draws.gap_block(self.rng, self.spec.rate)

    def uniform_block(self) -> np.ndarray:
        """The next block of uniforms for random target selection."""
        return draws.uniform_block(self.rng)

    def _draw_gaps(self) -> Any:
        return as_block(self.gap_block())

    def _draw_uniforms(self) -> Any:
        return as_block(self.uniform_block())

    # --- request creation ----------------------------------------------------------------
    def _schedule_arrival(self, now: int) -> None:
        """Put the arrival clock on the calendar for the next arrival (none after a trace's last)."""
        if self._poisson:
            gi = self._gi
            if gi >= self._gaps_n:
                self._gaps = self._draw_gaps()
                gi = 0
            at = now + self._gaps_b[gi]
        else:
            trace = self.spec.trace
            gi = self._gi
            if gi >= len(trace):
                return
            at = max(now, trace[gi])
        self._gi = gi + 1
        self._next_at = at
        self.callbacks = self._arr_cbs
        self._cal.push(at, self)

    def _arrive(self, ev) -> None:  # noqa: ANN001
        """The arrival clock fired: one new request, then the next arrival."""
        if not self.running:
            return
        # The one pending arrival fires at the time it was pushed for: no clock read, which
        # costs a call per request in the pure form (export.rearm_arrival keeps it for bulk).
        now = self._next_at
        self._new_request(now)
        self._schedule_arrival(now)

    def _prefetch_rr(self, active: list, rr: int) -> None:
        """Start loading what the next round-robin arrivals will touch (compiled form only).

        With thousands of targets each one is visited once per round, long after its
        lines left the caches, and an arrival would stall on main memory for its
        target and then its queue, one after the other. A round robin knows its next
        targets, so each arrival asks for them ahead, one level of pointers per step
        (the lines asked for one arrival earlier have arrived by the next): the target
        three ahead and the queue of the target two ahead (its hot fields, the reply
        and plan chains' heads included). Nothing is read that changes a result.
        """
        n = len(active)
        if not _COMPILED or n < 3:
            return  # Python has no prefetch; below 3 targets an index could wrap twice
        # Borrowed pointers only: a reference count change would write to the very line
        # being fetched and wait for it. n >= 3, so each index wraps at most once.
        i = rr + 3 if rr + 3 < n else rr + 3 - n
        apsim_prefetch(PyList_GET_ITEM(active, i), 160)  # noqa: F821 - C (core.pxd)
        i = rr + 2 if rr + 2 < n else rr + 2 - n
        p = cython.cast(cython.p_void, cython.cast(Target, PyList_GET_ITEM(active, i)).q)  # noqa: F821
        apsim_prefetch(p, 192)  # noqa: F821

    def _new_request(self, now: int) -> None:
        """An application submits one request at *now*: draw its type, build it, dispatch it."""
        seq = self.seq = self.seq + 1
        # The next type: a one-type mix reads no block but moves through it.
        ti = self._ti
        if ti >= self._types_n:
            self._types = as_block(self.type_block())
            ti = 0
        self._ti = ti + 1
        rt = self._rt1
        if rt < 0:
            rt = self._types_b[ti]
        owner = self.owner
        req = new_request((owner << 32) | (seq & _SEQ_MASK), rt, self._len_tab[rt], owner, now, self)
        self._dispatch(req, now)

    # --- dispatch (zcrypt) ------------------------------------------------------------------
    def _select_target(self, rt: int) -> Target:
        """The target for the next request of type *rt* (the policy's choice)."""
        active = self._active
        if self._rr:
            rr = self.rr = (self.rr + 1) % len(active)
            if len(active) >= self.prefetch_min:
                self._prefetch_rr(active, rr)
            return active[rr]
        groups = self._groups
        if len(groups) == 1:
            return groups[0].top(active)  # least loaded, one weight class: the heap's top
        if self.spec.select == "random":
            ui = self._ui
            if ui >= len(self._uni):
                self._uni = self._draw_uniforms()
                ui = 0
            self._ui = ui + 1
            return active[int(self._uni[ui] * len(active))]
        # zcrypt: least (weight + load), ties to the queue with fewer requests so far,
        # then to the earlier target.
        best: Target | None = None
        best_key: tuple[int, int, int] | None = None
        pos = self._ll_rt_pos.get(rt)
        for g in groups:
            t = g.top(active)
            w = g.weights[pos] if pos is not None else t.weight(rt)
            key = (w + t.load, t.total, t.idx)
            if best_key is None or key < best_key:
                best, best_key = t, key
        assert best is not None
        return best

    # --- zcrypt's load and outstanding bookkeeping: these three methods only ---------------
    def _charge(self, tg: Target, rt: int) -> None:
        """A request of type *rt* is dispatched to *tg*: its weight joins the load."""
        tg.load += 1 if self._w1 else tg.weight(rt)
        tg.total += 1
        if self._groups:
            self._ll_update(tg)

    def _discharge(self, tg: Target, rt: int, sent: bool) -> None:
        """A request of type *rt* leaves *tg* (replied, refused, dropped, or taken back
        unsent): its weight leaves the load, and its slot if it was NQAP'd (*sent*)."""
        if sent:
            tg.outstanding -= 1
        tg.load -= 1 if self._w1 else tg.weight(rt)
        if self._groups:
            self._ll_update(tg)

    def _ll_update(self, t: Target) -> None:
        """Re-key an active target in its least-loaded heap after its load or total changed."""
        if t.group is not None and t.idx >= 0:
            t.group.push(t.load, t.total, t.idx)

    def _dispatch(self, req: Request, now: int) -> None:
        """zcrypt's dispatch at *now* (the clock): choose the APQN, charge it, NQAP or hold
        for a free slot."""
        if not self._active:
            self.stalled.append(req)
            return
        rt = req.rtype
        tg = self._select_target(rt)
        req.apqn = tg.apqn
        self._charge(tg, rt)
        if tg.outstanding >= tg.depth:
            tg.held.append(req)
            return
        self._enqueue(tg, req, now)

    def _nqap(self, tg: Target, req: Request, now: int) -> int:
        """NQAP at *now* (the clock) through the port; refresh the target's queue link first if
        the port offers one."""
        cfg = self._link_cfg
        if cfg is not None:
            q = tg.q if tg.gen == cfg.generation else self._relink(tg, cfg)
            if q is not None:
                return nqap_queue(cfg, q, req, now)
        return self.port.nqap(tg.apqn, req)

    def _dqap(self, tg: Target) -> tuple[int, Request | None]:
        """DQAP through the port or the target's (re-validated) queue link."""
        cfg = self._link_cfg
        if cfg is not None:
            q = tg.q if tg.gen == cfg.generation else self._relink(tg, cfg)
            if q is not None:
                return dqap_queue(q)
        return self.port.dqap(tg.apqn)

    def _relink(self, tg: Target, cfg: Any) -> Any:
        """Ask the port again for *tg*'s queue, after *cfg* (its configuration) changed; the
        link holds until the next change. None: the port has no queue for the APQN now."""
        q = tg.q = self.port.link(tg.apqn)
        tg.gen = cfg.generation if q is not None else -1
        return q

    def _ready(self, now: int) -> int:
        """When the port's vCPUs can issue an instruction (>= *now*)."""
        if self._gate is not None:
            return self._gate.until if self._gate.until > now else now
        return self._ready_at(now)  # the port's ready_at (never called on an always-ready port)

    def _enqueue(self, tg: Target, req: Request, now: int) -> None:
        """NQAP *req* to *tg* at *now* (the clock, which the caller has read), or when the
        port's vCPUs are released."""
        tg.outstanding += 1
        if not self._always_ready:
            ready = self._ready(now)
            if ready > now:
                # vCPUs are blocked by a mask update; the instruction runs when released.
                call_at(self.env, ready - now, self._enqueue_later, (tg.apqn, req))
                return
        rc = self._nqap(tg, req, now)
        if rc:
            self._failed(tg.apqn, req, rc)
            return
        if self.request_timer is not None:
            self.request_timer.sent(tg)
        if self._pollable and not self.polling:
            self.polling = True
            call_at(self.env, self.port.poll_ns(), self._poll)

    def _enqueue_later(self, ev) -> None:  # noqa: ANN001
        q, req = ev._value
        tg = self._tgt[q]
        tg.outstanding -= 1
        if tg.idx >= 0:
            self._enqueue(tg, req, clock(self.env))
        else:
            self._discharge(tg, req.rtype, sent=False)
            self.stalled.append(req)
            self.refresh_targets()

    def _finish(self, now: int) -> None:
        """A closed loop's request ended at *now*: its application sends the next one (after
        thinking). Only a closed loop calls it."""
        if self.running:
            if self.spec.think_ns:
                call_at(self.env, self.spec.think_ns, self._retry_later)
            else:
                self._new_request(now)

    # --- replies ------------------------------------------------------------------------------
    def _poll(self, ev) -> None:  # noqa: ANN001
        for tg in [t for t in self._tgt.values() if t.outstanding > 0]:
            self._drain_target(tg)
        # A reply taken here may have sent the closed loop's next request to a target that
        # had nothing outstanding before: the timer runs on while any target waits.
        if any(t.outstanding > 0 for t in self._tgt.values()):
            call_at(self.env, self.port.poll_ns(), self._poll)
        else:
            self.polling = False

    def _drain_target(self, tg: Target, _queue: object = None) -> None:
        """Dequeue every reply waiting on the target's APQN (*_queue*: the deferred-pickup call)."""
        self._take_replies(tg, -1)

    def _take_replies(self, tg: Target, now: int) -> None:
        """The body of :meth:`_drain_target`, a C-level method when compiled.

        ``Target.pickup`` calls it directly (so a pickup does not see a subclass's
        ``_drain_target``): calling the overridable form on an object with a
        ``__dict__`` first checks the dict for an override, and with many issuers
        that check misses its cache and becomes a full attribute lookup. *now*: the
        pickup's time when the caller knows it (a folded pickup), else -1.
        """
        env = self.env
        if now < 0:
            now = clock(env)
        if not self._always_ready:
            ready = self._ready(now)
            if ready > now:
                call_at(env, ready - now, self._drain_later, tg)
                return
        apqn = tg.apqn
        cfg = self._link_cfg
        lq = tg.q if cfg is not None and tg.gen == cfg.generation else None
        rows = self._rows
        owner = self.owner
        dq = self.dqap_ns
        k = 0
        while True:
            rc, req = dqap_queue(lq, now) if lq is not None else self._dqap(tg)
            if rc or req is None:
                if rc not in _READ_OK_RCS:
                    self._queue_error(tg, rc, "ap_sm_read")
                break
            k += 1
            # The status word's R bit (replies waiting) tells the driver whether
            # another DQAP would find a reply; without it, stop after this one.
            # (DQAP has just settled the queue, so its reply list is current.)
            rq = req.queue
            more = rq._nr > 0
            if req.tag is not self:
                # A reply to a request this guest sent outside the workload (a scenario's
                # guest.instruction NQAP) is the guest's own; any other is an isolation breach.
                if req.owner != self.owner:
                    self.foreign_replies.append(req)
                if not more:
                    break
                continue
            rows.add(owner, apqn, req.rtype, req.t_submit, req.t_start, req.t_done, now + k * dq)
            self.completed += 1
            self._release(tg, req.rtype, now)
            if self._closed:
                self._finish(now)
            if not more:
                break

    def _drain_later(self, ev) -> None:  # noqa: ANN001
        """The vCPUs were blocked at the interruption: drain when they are released."""
        self._drain_target(ev._value)

    def _release(self, tg: Target, rt: int, now: int) -> None:
        """A reply of type *rt* was taken from *tg* at *now*: its slot is free; send the next
        held request."""
        self._discharge(tg, rt, sent=True)
        if self.request_timer is not None:
            self.request_timer.replied(tg)
        h = tg._held
        if h is not None and h and tg.outstanding < tg.depth:
            self._enqueue(tg, h.popleft(), now)
