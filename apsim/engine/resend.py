"""zcrypt's resend of a request whose NQAP answered "reset in progress".

Modelled on drivers/s390/crypto/ap_queue.c: ``ap_sm_write`` takes the first message of
the queue's request list and issues NQAP. Response code 0x02 (RESET_IN_PROGRESS)
leaves the message where it is, sets the queue to ``AP_SM_STATE_RESET_WAIT`` and asks
for ``AP_SM_WAIT_LOW_TIMEOUT`` (the poll timer at the low rate, 40 ms). When it fires,
``ap_sm_reset_wait`` tests the queue (TAPQ): 0x02 or 0x05 (BUSY) mean wait again; RC 0
means the reset is over, adapter interruptions are switched on again if the queue
uses them (``ap_queue_enable_irq``: a reset turned them off), and the state machine
goes back to writing, so the *same* message is sent again. The caller never sees the
0x02; the request ends once, with its reply (or a drop, or another response code).

In the books the first NQAP's 0x02 is therefore not an outcome: the hardware ledger
gives the rejection back (:meth:`apsim.engine.request.Ledger.withdraw`) and the request,
with its psmid, stays live in the driver's backlog until its resend.

Not here: response code 0x05 at NQAP, which ``ap_sm_write`` does not retry: its
``default`` case puts the queue into ``AP_DEV_STATE_ERROR`` (the workload's
``_queue_error``, docs/host-kernel.md).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from apsim.engine.core import call_at
from apsim.errors import ProgramException

if TYPE_CHECKING:
    from apsim.engine.targets import Target
    from apsim.engine.workload import Workload
    from apsim.engine.request import Request

RC_RESET_IN_PROGRESS = 0x02
RC_BUSY = 0x05
RESEND_RCS = (RC_RESET_IN_PROGRESS,)
"""NQAP response codes after which ap_sm_write keeps the message for a resend."""
POLL_LOW_NS = 40_000_000
"""``AP_SM_WAIT_LOW_TIMEOUT``: the poll timer's low rate (as apsim.linux.queue_sm)."""


class ResetWait:
    """The driver's requests waiting in RESET_WAIT, per APQN, and their resends.

    *wl* is the workload whose ``resend`` sends them again; *ledger* is the hardware
    ledger that counted the 0x02 (None: nothing to give back).
    """

    def __init__(self, wl: Workload, ledger: Any = None) -> None:
        self.wl = wl
        self.ledger = ledger
        self.waiting: dict[int, deque[Request]] = {}
        self.resent = 0
        """NQAPs issued again for a request that got 0x02 (each counts once per resend)."""
        self.waits = 0
        """Low-rate polls that found the queue still in reset (TAPQ 0x02/0x05)."""

    def __len__(self) -> int:
        return sum(len(d) for d in self.waiting.values())

    def keep(self, tg: Target, req: Request, rc: int) -> bool:
        """NQAP of *req* on *tg* answered *rc*: keep it for a resend (True) or not (False)."""
        if rc not in RESEND_RCS or tg.idx < 0:
            return False
        if self.ledger is not None:
            self.ledger.withdraw(rc)
        tg.outstanding -= 1  # not in the hardware queue; its weight stays on the queue's load
        q = self.waiting.get(tg.apqn)
        if q is None:
            q = self.waiting[tg.apqn] = deque()
            call_at(self.wl.env, POLL_LOW_NS, self._poll, tg)
        q.append(req)
        return True

    def _poll(self, ev) -> None:  # noqa: ANN001 - the low-rate poll timer
        tg: Target = ev.value
        wl = self.wl
        tapq = getattr(wl.port, "tapq", None)
        if tapq is not None:
            try:
                rc = tapq(tg.apqn)
            except ProgramException:
                rc = None
            if rc in (RC_RESET_IN_PROGRESS, RC_BUSY):
                self.waits += 1
                call_at(wl.env, POLL_LOW_NS, self._poll, tg)
                return
        reqs = self.waiting.pop(tg.apqn, None) or deque()
        if tg.idx < 0:
            # The driver stopped using the queue meanwhile: its requests go back to dispatch.
            for req in reqs:
                wl.take_back(tg, req)
            wl.refresh_targets()
            return
        if wl.spec.reply == "interrupt":
            wl.port.enable_irq(tg.apqn, tg)  # the reset switched the interruptions off
        for req in reqs:
            self.resent += 1
            wl.resend_waited(tg, req)
