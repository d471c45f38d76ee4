"""One AP queue: the firmware side of an APQN (adapter, usage domain).

The queue holds up to ``depth`` entries — requests waiting for an engine, requests
on an engine, and replies not yet dequeued — as the architecture counts them.
It answers the state-dependent part of every AP instruction (checkstopped 0x04,
deconfigured 0x03, busy 0x05, reset in progress 0x02, queue full 0x10, ...); the
register and configuration checks are made before it by :mod:`apsim.hw.instructions`.
A reset (RAPQ) or reset-and-zeroize (ZAPQ) drops every request the queue holds,
each accounted in the ledger with its cause, disables interruptions and leaves the
queue answering "reset in progress" for the profile's reset duration.
"""

from __future__ import annotations

from collections import deque
from heapq import heappush
from typing import TYPE_CHECKING

from apsim.hw import codes
from apsim.hw.codes import RC
from apsim.hw.request import DONE, QUEUED, REPLY, SERVICE, Request

if TYPE_CHECKING:
    from apsim.hw.adapter import Adapter


class APQueue:
    """Firmware state of one APQN."""

    __slots__ = ("adapter", "apqn", "apid", "apqi", "owner_lpar", "env", "ledger", "depth",
                 "count", "replies", "cfg_rc", "reset_until", "irq", "isc", "nib",
                 "gisa", "irq_target", "bound_by", "assoc_until", "assoc_index", "associated",
                 "async_rc", "assoc_fail", "touched", "nqap_count", "dqap_count", "occ_area",
                 "occ_t", "irq_count")

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
        self.replies: deque[Request] = deque()
        self.cfg_rc = 0  # 0 operational, 3 deconfigured (standby), 4 checkstopped
        self.reset_until = 0
        self.irq = False
        self.isc = 0
        self.nib = 0
        self.gisa = 0
        self.irq_target = None  # callable(queue) receiving adapter interruptions
        self.bound_by = None  # SE configuration that bound the queue (BAPQ)
        self.associated = False
        self.assoc_until = 0
        self.assoc_index = -1
        self.async_rc = 0
        self.assoc_fail = False
        self.touched = 0  # instructions that reached this queue (isolation checks)
        self.nqap_count = 0
        self.dqap_count = 0
        self.irq_count = 0
        self.occ_area = 0  # integral of count over time, for mean occupancy
        self.occ_t = 0

    # --- state ----------------------------------------------------------------------
    def _occ(self) -> None:
        now = self.env._now  # type: ignore[attr-defined]
        self.occ_area += self.count * (now - self.occ_t)
        self.occ_t = now

    def state_rc(self) -> int:
        """The response code every instruction would get from the queue's state alone."""
        if self.cfg_rc:
            return self.cfg_rc
        now = self.env._now  # type: ignore[attr-defined]
        if self.adapter.busy_until > now:
            return RC.BUSY
        if self.reset_until > now:
            return RC.RESET_IN_PROGRESS
        return 0

    def status(self, rc: int = 0) -> int:
        """The AP queue status word with the queue's E/R/F/I bits and *rc*."""
        return codes.make_status(
            rc, empty=self.count == 0, replies=bool(self.replies), full=self.count >= self.depth,
            irq=self.irq, async_=bool(self.async_rc))

    # --- NQAP / DQAP (hot path) ---------------------------------------------------------
    def accept(self, req: Request, config) -> int:  # noqa: ANN001 - APConfiguration
        """NQAP's firmware part: answer from the queue's state or enqueue *req*.

        Order of the checks: adapter/queue state (0x04, 0x03, 0x02, 0x05), SE
        association in progress (0x0A), message length (0x15), facility (0x16),
        control domain outside the issuer's ADM (0x42), SE binding, queue full
        (0x10). The caller has already checked registers and the configuration.
        The service time is drawn here, at acceptance, in acceptance order.
        """
        self.touched += 1
        if self.cfg_rc:
            return self.cfg_rc
        now = self.env._now  # type: ignore[attr-defined]
        if self.reset_until > now:
            return RC.RESET_IN_PROGRESS
        adapter = self.adapter
        if adapter.busy_until > now:
            return RC.BUSY
        if self.assoc_until > now:
            return RC.STATE_CHANGE_IN_PROGRESS
        if req.length > adapter.max_msg:
            return RC.MESSAGE_TOO_BIG
        rt = req.rtype
        if not adapter.mean_ns[rt]:
            return RC.REQ_FAC_NOT_INST
        if req.ctrl_domain >= 0 and not config.adm.test(req.ctrl_domain):
            return RC.INVALID_DOMAIN
        if config.secure:
            if self.bound_by is None:
                return RC.Q_NOT_BOUND
            if self.bound_by is not config:
                return RC.Q_BOUND_TO_ANOTHER
        count = self.count
        if count >= self.depth:
            return RC.Q_FULL
        self.occ_area += count * (now - self.occ_t)
        self.occ_t = now
        self.count = count + 1
        self.nqap_count += 1
        req.apqn = self.apqn
        req.queue = self
        req.state = QUEUED
        req.service_ns = adapter.draw(rt)
        # Adapter.submit, inlined: start on an idle engine or wait.
        idle = adapter._idle
        if idle:
            eng = idle.pop()
            eng.req = req
            req.state = SERVICE
            req.t_start = now
            eng.callbacks = adapter._done_cbs
            heappush(adapter._heap, (now + req.service_ns, 1, next(adapter._eid), eng))
        else:
            adapter.waiting.push(req)
        return 0

    def take_reply(self) -> Request | None:
        """Dequeue the oldest reply (DQAP); None when no reply is pending."""
        self.touched += 1
        if not self.replies:
            return None
        req = self.replies.popleft()
        now = self.env._now  # type: ignore[attr-defined]
        count = self.count
        self.occ_area += count * (now - self.occ_t)
        self.occ_t = now
        self.count = count - 1
        self.dqap_count += 1
        req.state = DONE
        self.ledger.completed += 1
        return req

    def reply_ready(self, req: Request) -> None:
        """An engine finished *req*: queue its reply and raise an interruption if enabled.

        (:meth:`Adapter._complete` inlines this on the hot path; keep them in step.)
        """
        req.state = REPLY
        req.t_done = self.env._now  # type: ignore[attr-defined]
        self.replies.append(req)
        if self.irq and self.irq_target is not None:
            self.irq_count += 1
            self.irq_target(self)

    # --- the requests the queue holds ------------------------------------------------------
    @property
    def live(self) -> set[Request]:
        """Every request the queue holds: waiting for an engine, on one, or replied.

        Computed on demand from where the requests are (the adapter's waiting line
        and engines, this queue's reply list) instead of being maintained per
        request on the hot path; ``count`` is the same number, kept incrementally.
        """
        return set(self._held())

    def _held(self) -> list[Request]:
        adapter = self.adapter
        out = adapter.waiting.of_queue(self)
        out.extend(e.req for e in adapter.engines if e.req is not None and e.req.queue is self)
        out.extend(self.replies)
        return out

    # --- resets and state changes ------------------------------------------------------
    def flush(self, cause: str) -> int:
        """Drop every request the queue holds, accounting each with *cause*."""
        if not self.count:
            return 0
        self._occ()
        adapter = self.adapter
        # Deterministic order (submit time, PSMID) so drop listeners see a stable sequence.
        victims = sorted(self._held(), key=_req_order)
        on_engine = [r for r in victims if r.state == SERVICE]
        dropped = 0
        for req in victims:
            if req.state != DONE:
                self.ledger.drop(req, cause)
                dropped += 1
        self.replies.clear()
        self.count = 0
        # Free engines only after every victim is marked, so the dispatcher cannot
        # hand a freed engine to another request of this very queue.
        for req in on_engine:
            adapter.abort(req)
        return dropped

    def reset(self, *, zeroize: bool, cause: str | None = None, unbind: bool = False) -> int:
        """RAPQ / ZAPQ: drop all requests, disable interruptions, start the reset period."""
        dropped = self.flush(cause or ("zeroize" if zeroize else "reset"))
        self._disable_irq()
        self.reset_until = self.env._now + self.adapter.profile_reset_ns  # type: ignore[attr-defined]
        self.async_rc = 0
        self.associated = False
        self.assoc_until = 0
        self.assoc_index = -1
        if unbind and self.bound_by is not None:
            self.bound_by.se_bound -= 1
            self.bound_by = None
        return dropped

    def _disable_irq(self) -> None:
        self.irq = False
        self.isc = 0
        self.nib = 0
        self.gisa = 0
        self.irq_target = None

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
        area = self.occ_area + self.count * (now - self.occ_t)
        return area / now if now > 0 else 0.0

    def __repr__(self) -> str:
        return f"APQueue({self.apid:02x}.{self.apqi:04x}, count={self.count})"


def _req_order(req: Request) -> tuple[int, int]:
    return (req.t_submit, req.psmid)
