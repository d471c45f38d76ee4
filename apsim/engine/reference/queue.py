"""The reference AP queue: the firmware state of one APQN (adapter, usage domain).

Rules (docs/hardware.md, :mod:`apsim.engine.queue`):

* **Depth.** A queue holds at most ``depth`` entries; ``count`` counts requests
  waiting for an engine, requests on an engine and replies not yet dequeued.
* **Status word.** E (queue empty) when ``count`` is 0, R (replies waiting) when a
  reply is waiting, F (queue full) when ``count >= depth``, I (interruptions
  enabled) after AQIC, the asynchronous-error bit while an asynchronous response
  code stands, and the response code of the instruction.
* **State.** Checkstopped (0x04) or deconfigured/standby (0x03) while the adapter is;
  "reset in progress" (0x02) for the adapter's reset duration after RAPQ/ZAPQ; busy
  (0x05) while the adapter is in a busy window.
* **Replies.** Posted when the engine finishes, oldest first; DQAP takes the oldest.
* **Drops.** A reset, configure off or checkstop drops every request the queue holds,
  each accounted with the cause, in (submit time, PSMID) order.
* **Occupancy.** The mean occupancy is the time-average of ``count`` from 0 to now.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from apsim.engine import codes
from apsim.engine.codes import RC

if TYPE_CHECKING:
    from apsim.engine.reference.adapter import Job, RefAdapter


class RefQueue:
    """Firmware state of one APQN; the requests it holds live on its adapter and in ``replies``."""

    def __init__(self, adapter: RefAdapter, apqi: int, owner: Any) -> None:
        self.adapter = adapter
        self.env = adapter.env
        self.apid = adapter.apid
        self.apqi = apqi
        self.apqn = (adapter.apid << 8) | apqi
        self.owner = owner
        self.depth = adapter.card.queue_depth
        self.replies: deque[Job] = deque()
        self.cfg_rc = 0  # 0 operational, 3 deconfigured (standby), 4 checkstopped
        self.reset_until = 0
        self.irq = False
        self.isc = 0
        self.nib = 0
        self.irq_target: Any = None
        self.async_rc = 0
        self.touched = 0
        self.nqap_count = 0
        self.dqap_count = 0
        self.irq_count = 0
        self._area = 0  # integral of count over time up to _area_t
        self._area_t = 0

    # --- what the queue holds ------------------------------------------------------------
    def held(self) -> list[Job]:
        """Every request the queue holds: waiting, on an engine, replied."""
        return self.adapter.waiting_of(self) + self.adapter.serving_of(self) + list(self.replies)

    @property
    def count(self) -> int:
        """Entries on the queue: requests waiting for or on an engine, and replies."""
        return len(self.held())

    def integrate(self) -> None:
        """Add ``count`` × elapsed time to the occupancy integral (before ``count`` changes)."""
        now = self.env.now
        self._area += self.count * (now - self._area_t)
        self._area_t = now

    def mean_occupancy(self, now: int) -> float:
        """Time-average of ``count`` from 0 to *now* (0.0 at time 0)."""
        if now <= 0:
            return 0.0
        return (self._area + self.count * (now - self._area_t)) / now

    # --- state ---------------------------------------------------------------------------
    def state_rc(self) -> int:
        """The response code of the queue's state for TAPQ, DQAP, RAPQ/ZAPQ and AQIC:
        config (0x03/0x04), then adapter busy (0x05), then reset in progress (0x02)."""
        if self.cfg_rc:
            return self.cfg_rc
        now = self.env.now
        if self.adapter.busy_until > now:
            return RC.BUSY
        if self.reset_until > now:
            return RC.RESET_IN_PROGRESS
        return 0

    def status(self, rc: int = 0) -> int:
        """The AP queue status word: E/R/F/I/async bits and *rc*."""
        n = self.count
        return codes.make_status(rc, empty=n == 0, replies=bool(self.replies), full=n >= self.depth,
                                 irq=self.irq, async_=bool(self.async_rc))

    # --- replies and interruptions ---------------------------------------------------------
    def post(self, job: Job) -> None:
        """An engine finished *job*: its reply joins the end of the reply list, and an
        interruption goes to the target if interruptions are enabled (at this instant)."""
        self.replies.append(job)
        if self.irq and self.irq_target is not None:
            self.irq_count += 1
            self.irq_target(self)

    def take_reply(self) -> Job:
        """DQAP's dequeue: the oldest reply leaves the queue."""
        self.integrate()
        self.dqap_count += 1
        return self.replies.popleft()

    def disable_irq(self) -> None:
        """Interruptions off, the interruption controls cleared (AQIC off, reset, config change)."""
        self.irq = False
        self.isc = 0
        self.nib = 0
        self.irq_target = None

    # --- drops -----------------------------------------------------------------------------
    def drop_all(self, cause: str) -> int:
        """Drop every request the queue holds with *cause*, in (submit time, PSMID) order;
        engines they held go to the next waiting requests only after all are dropped."""
        victims = sorted(self.held(), key=lambda j: (j.req.t_submit, j.req.psmid))
        if not victims:
            return 0
        self.integrate()
        self.replies.clear()
        self.adapter.remove(victims)
        for job in victims:
            job.drop(cause)
        self.adapter.dispatch()
        return len(victims)

    def reset(self, *, zeroize: bool, cause: str | None = None) -> int:
        """RAPQ/ZAPQ: drop all ("reset"/"zeroize" unless *cause*), interruptions off, async
        error cleared, and the queue answers 0x02 for the adapter's reset duration."""
        dropped = self.drop_all(cause or ("zeroize" if zeroize else "reset"))
        self.disable_irq()
        self.async_rc = 0
        self.reset_until = self.env.now + self.adapter.reset_ns
        return dropped

    def set_config_rc(self, rc: int, cause: str) -> int:
        """Enter standby (0x03) or checkstop (0x04): drop all, interruptions off. Leave it
        (rc 0): the queue comes back empty with interruptions off and no reset pending.
        Moving between 0x03 and 0x04 changes only the code."""
        dropped = 0
        if rc and not self.cfg_rc:
            dropped = self.drop_all(cause)
            self.disable_irq()
        elif not rc and self.cfg_rc:
            self.disable_irq()
            self.reset_until = 0
        self.cfg_rc = rc
        return dropped

    def __repr__(self) -> str:
        return f"RefQueue({self.apid:02x}.{self.apqi:04x}, count={self.count})"
