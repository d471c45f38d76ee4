"""Request generators: open-loop and closed-loop workloads with zcrypt-like dispatch.

A workload is a state machine driven by callbacks, not a process per request:
an arrival (open loop) or a completion (closed loop) creates a request, the
dispatcher picks a target APQN (round robin, random, or zcrypt's least-loaded
weight balancing), and NQAP hands it to the queue. Like zcrypt, the driver knows
how many requests each queue holds and keeps further ones in its own software
queue instead of provoking "queue full". Replies are picked up on an adapter
interruption (after the interruption latency) or by a poll timer that runs while
requests are outstanding (250 µs in an LPAR, 1.5 ms under z/VM).

Cost per request: one event for its arrival (open loop), one for the engine
completion (in the adapter), and one pickup event shared by all replies of a
queue that are ready at the same interruption or poll tick.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from apsim.core import call_at
from apsim.guest.port import Port
from apsim.hw.request import Request
from apsim.hw.timing import request_type
from apsim.recorder import RequestRecorder

_BLOCK = 4096


@dataclass
class WorkloadSpec:
    """What a workload does (the scenario's ``workload:`` block, with times in ns)."""

    kind: str = "closed"  # open | closed | none
    rate: float = 0.0  # open loop: requests per second (Poisson)
    trace: list[int] | None = None  # open loop: arrival times in ns
    concurrency: int = 1  # closed loop: requests outstanding
    per: str = "guest"  # closed loop: concurrency per guest or per APQN
    think_ns: int = 0
    mix: dict[str, float] = field(default_factory=lambda: {"rsa2048": 1.0})
    targets: str | list[int] = "all"
    select: str = "least_loaded"  # round_robin | least_loaded | random
    reply: str = "interrupt"  # interrupt | poll
    length: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("open", "closed", "none"):
            raise ValueError(f"workload kind must be open, closed or none, not {self.kind!r}")
        if self.select not in ("round_robin", "least_loaded", "random"):
            raise ValueError(f"unknown target selection {self.select!r}")
        if self.reply not in ("interrupt", "poll"):
            raise ValueError(f"reply retrieval must be interrupt or poll, not {self.reply!r}")
        if self.per not in ("guest", "apqn"):
            raise ValueError(f"closed-loop concurrency is per guest or per apqn, not {self.per!r}")
        if self.kind == "open" and self.trace is None and self.rate <= 0:
            raise ValueError("an open-loop workload needs a rate > 0 or a trace")
        if not self.mix or any(w < 0 for w in self.mix.values()) or sum(self.mix.values()) <= 0:
            raise ValueError("the request mix needs positive weights")
        for name in self.mix:
            request_type(name)


class Workload:
    """One issuer's request generator (a guest's applications plus its zcrypt)."""

    def __init__(self, port: Port, spec: WorkloadSpec, recorder: RequestRecorder, owner: int,
                 rng: np.random.Generator, *, weight_of=None) -> None:  # noqa: ANN001
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
        self.outstanding: dict[int, int] = {}
        self.load: dict[int, int] = {}
        self.count_total: dict[int, int] = {}
        self.depth: dict[int, int] = {}
        self.held: dict[int, deque[Request]] = {}
        self.stalled: deque[Request] = deque()
        self.pickup_pending: set[int] = set()
        self.polling = False
        self.live = 0  # requests created and not finished (held, queued or outstanding)
        self.completed = 0
        self.dropped = 0
        self.rejected = 0
        self.foreign_replies: list[Request] = []
        names = list(spec.mix)
        w = np.array([spec.mix[n] for n in names], dtype=float)
        self._mix_idx = np.array([request_type(n).index for n in names])
        self._mix_p = w / w.sum()
        self._lengths = {request_type(n).index: (spec.length or request_type(n).msg_len) for n in names}
        self._types: list[int] = []
        self._ti = 0
        self._gaps: list[int] = []
        self._gi = 0

    # --- life cycle -------------------------------------------------------------------
    def start(self) -> None:
        """Begin issuing requests."""
        if self.running or self.spec.kind == "none":
            return
        self.running = True
        self.refresh_targets()
        if self.spec.kind == "open":
            self._schedule_arrival()
        else:
            n = self.spec.concurrency * (len(self.targets) if self.spec.per == "apqn" else 1)
            for _ in range(n):
                self._new_request()

    def stop(self) -> None:
        """Stop creating requests (outstanding ones finish or are dropped by resets)."""
        self.running = False

    def refresh_targets(self) -> None:
        """Re-read the usable APQNs (after a hot plug/unplug seen by the guest's AP bus)."""
        spec_t = self.spec.targets
        avail = self.port.targets()
        new = avail if spec_t == "all" else [q for q in spec_t if q in set(avail)]
        old = set(self.targets)
        self.targets = new
        for q in new:
            if q not in old:
                self.outstanding.setdefault(q, 0)
                self.load.setdefault(q, 0)
                self.count_total.setdefault(q, 0)
                self.held.setdefault(q, deque())
                self.depth[q] = self.port.queue_depth(q)
                if self.spec.reply == "interrupt":
                    self.port.enable_irq(q, self._on_irq)
        gone = old - set(new)
        for q in sorted(gone):
            h = self.held.get(q)
            while h:
                self.stalled.append(h.popleft())
        if self.targets:
            while self.stalled:
                self._dispatch(self.stalled.popleft())

    # --- request creation ----------------------------------------------------------------
    def _next_type(self) -> int:
        if self._ti >= len(self._types):
            self._types = self.rng.choice(self._mix_idx, size=_BLOCK, p=self._mix_p).tolist()
            self._ti = 0
        t = self._types[self._ti]
        self._ti += 1
        return t

    def _schedule_arrival(self) -> None:
        spec = self.spec
        if spec.trace is not None:
            if self._gi >= len(spec.trace):
                return
            at = spec.trace[self._gi]
            self._gi += 1
            call_at(self.env, max(0, at - self.env.now), self._arrive)
            return
        if self._gi >= len(self._gaps):
            mean = 1e9 / spec.rate
            self._gaps = np.maximum(1, np.rint(self.rng.exponential(mean, _BLOCK))).astype(np.int64).tolist()
            self._gi = 0
        gap = self._gaps[self._gi]
        self._gi += 1
        call_at(self.env, gap, self._arrive)

    def _arrive(self, ev) -> None:  # noqa: ANN001
        if not self.running:
            return
        self._new_request()
        self._schedule_arrival()

    def _new_request(self) -> None:
        self.seq += 1
        rt = self._next_type()
        req = Request((self.owner << 32) | (self.seq & 0xFFFFFFFF), rt, self._lengths[rt], self.owner,
                      self.env._now, -1, self)  # type: ignore[attr-defined]
        self.live += 1
        self._dispatch(req)

    # --- dispatch (zcrypt) ------------------------------------------------------------------
    def _select(self, rt: int) -> int:
        targets = self.targets
        sel = self.spec.select
        if sel == "round_robin":
            self.rr = (self.rr + 1) % len(targets)
            return targets[self.rr]
        if sel == "random":
            return targets[int(self.rng.integers(len(targets)))]
        # zcrypt: least (weight + load), ties to the queue with fewer requests so far.
        wof = self.weight_of
        best = -1
        best_key = None
        load, total = self.load, self.count_total
        for q in targets:
            w = wof(q, rt) if wof is not None else 1
            key = (w + load[q], total[q])
            if best_key is None or key < best_key:
                best, best_key = q, key
        return best

    def _dispatch(self, req: Request) -> None:
        if not self.targets:
            self.stalled.append(req)
            return
        q = self._select(req.rtype)
        req.apqn = q
        w = self.weight_of(q, req.rtype) if self.weight_of is not None else 1
        self.load[q] += w
        self.count_total[q] += 1
        if self.outstanding[q] >= self.depth[q]:
            self.held[q].append(req)
            return
        self._enqueue(q, req)

    def _enqueue(self, q: int, req: Request) -> None:
        now = self.env._now  # type: ignore[attr-defined]
        ready = self.port.ready_at(now)
        if ready > now:
            # vCPUs are blocked by a mask update; the instruction runs when released.
            self.outstanding[q] += 1
            call_at(self.env, ready - now, self._enqueue_later, (q, req))
            return
        self.outstanding[q] += 1
        rc = self.port.nqap(q, req)
        if rc:
            self._failed(q, req)
        elif self.spec.reply == "poll" and not self.polling:
            self.polling = True
            call_at(self.env, self.port.poll_ns(), self._poll)

    def _enqueue_later(self, ev) -> None:  # noqa: ANN001
        q, req = ev._value
        self.outstanding[q] -= 1
        if q in self.outstanding and q in set(self.targets):
            self._enqueue(q, req)
        else:
            self.load[q] -= self.weight_of(q, req.rtype) if self.weight_of is not None else 1
            self.stalled.append(req)
            self.refresh_targets()

    def _failed(self, q: int, req: Request) -> None:
        """NQAP answered with a response code: the request ends rejected (already in the ledger).

        Like zcrypt, the driver stops using a queue that failed until its AP bus
        sees it again, and the application retries after a back-off rather than at
        once, so a dead queue cannot spin the simulation at one instant.
        """
        self.outstanding[q] -= 1
        self.load[q] -= self.weight_of(q, req.rtype) if self.weight_of is not None else 1
        self.rejected += 1
        if q in self.targets:
            self.targets = [t for t in self.targets if t != q]
            h = self.held.get(q)
            while h:
                self.stalled.append(h.popleft())
        self.live -= 1
        if self.running and self.spec.kind == "closed":
            call_at(self.env, self.port.poll_ns(), self._retry_later)

    def _retry_later(self, ev) -> None:  # noqa: ANN001
        if self.running:
            self._new_request()

    def _finish(self) -> None:
        self.live -= 1
        if self.running and self.spec.kind == "closed":
            if self.spec.think_ns:
                call_at(self.env, self.spec.think_ns, self._retry_later)
            else:
                self._new_request()

    # --- replies ------------------------------------------------------------------------------
    def _on_irq(self, apqn: int) -> None:
        if apqn in self.pickup_pending:
            return
        self.pickup_pending.add(apqn)
        call_at(self.env, self.irq_latency, self._pickup_irq, apqn)

    def _pickup_irq(self, ev) -> None:  # noqa: ANN001
        apqn = ev._value
        self.pickup_pending.discard(apqn)
        self._drain(apqn)

    def _poll(self, ev) -> None:  # noqa: ANN001
        busy = False
        for q in [q for q, n in self.outstanding.items() if n > 0]:
            self._drain(q)
            busy = busy or self.outstanding.get(q, 0) > 0
        if busy:
            call_at(self.env, self.port.poll_ns(), self._poll)
        else:
            self.polling = False

    def _drain(self, apqn: int) -> None:
        now = self.env._now  # type: ignore[attr-defined]
        ready = self.port.ready_at(now)
        if ready > now:
            call_at(self.env, ready - now, lambda ev: self._drain(apqn))
            return
        port = self.port
        rec = self.recorder
        k = 0
        while True:
            rc, req = port.dqap(apqn)
            if rc or req is None:
                break
            k += 1
            # The status word's R bit (replies waiting) tells the driver whether
            # another DQAP would find a reply; without it, stop after this one.
            more = bool(req.queue.replies)
            if req.tag is not self:
                self.foreign_replies.append(req)  # an isolation breach: never expected
                if not more:
                    break
                continue
            rec.record(self.owner, apqn, req.rtype, req.t_submit, req.t_done, now + k * self.dqap_ns)
            self.completed += 1
            self._release(apqn, req)
            self._finish()
            if not more:
                break

    def _release(self, apqn: int, req: Request) -> None:
        """A slot of *apqn* is free again: account and send the next held request."""
        self.outstanding[apqn] -= 1
        self.load[apqn] -= self.weight_of(apqn, req.rtype) if self.weight_of is not None else 1
        h = self.held.get(apqn)
        if h and self.outstanding[apqn] < self.depth[apqn]:
            self._enqueue(apqn, h.popleft())

    def on_dropped(self, req: Request, cause: str) -> None:
        """The hardware dropped one of our requests (reset, configure off, unplug, ...).

        Called from inside the queue's flush, so nothing is sent from here: the
        freed slot and the closed loop's replacement are handled a moment later.
        """
        self.dropped += 1
        apqn = req.apqn
        self.outstanding[apqn] -= 1
        self.load[apqn] -= self.weight_of(apqn, req.rtype) if self.weight_of is not None else 1
        call_at(self.env, 0, self._after_drop, apqn)

    def _after_drop(self, ev) -> None:  # noqa: ANN001
        apqn = ev._value
        h = self.held.get(apqn)
        if h and self.outstanding[apqn] < self.depth[apqn] and apqn in self.targets:
            self._enqueue(apqn, h.popleft())
        self.live -= 1
        if self.running and self.spec.kind == "closed":
            call_at(self.env, self.port.poll_ns(), self._retry_later)

    def in_software_queues(self) -> int:
        """Requests the driver holds that were never NQAP'd (not yet in the ledger)."""
        return sum(len(h) for h in self.held.values()) + len(self.stalled)
