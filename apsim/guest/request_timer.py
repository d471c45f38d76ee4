"""zcrypt's request timer and the resend after the reset it causes (ap_queue.c).

Each AP queue device has a timer (``aq->timeout``): armed with ``request_timeout`` when
``ap_sm_write`` sends the first outstanding request, re-armed by ``ap_sm_recv`` for
every reply while requests remain, ignored once none does. When it expires in the
WORKING or QUEUE_FULL state, ``ap_request_timeout`` feeds ``AP_SM_EVENT_TIMEOUT`` to the
state machine, whose ``ap_sm_reset`` resets the queue with RAPQ — which throws away
the requests the adapter held. The driver does not forget them: after the reset, the
DQAP in ``ap_sm_recv`` answers 0x10 (no pending reply) with the queue empty while it
still counts requests outstanding ("the card shouldn't forget requests"), so it moves
them back to the request queue and ``ap_sm_write`` sends the same messages again.

:class:`RequestTimer` adds this to a workload running on a Linux whose AP bus state
machine it can drive (:class:`apsim.guest.host_port.HostPort`): the reset is the bus's own
(``queue_sm.init_state``: RAPQ, TAPQ at the low poll rate, AQIC), and the resend
happens when the bus reports the queue usable again. The timeout is the CEX4..CEX8
driver's ``CEX4_CLEANUP_TIME`` (900 s, zcrypt_cex4.c).
"""

from __future__ import annotations

from typing import Any

from apsim.engine.core import call_at
from apsim.engine.request import Request, new_request
from apsim.linux import queue_sm
from apsim.units import S

CEX4_CLEANUP_NS = 900 * S
"""zcrypt_cex4.c CEX4_CLEANUP_TIME: the request timeout of CEX4..CEX8 queues."""


class RequestTimer:
    """The per-queue request timers of one workload's zcrypt, and the resend after a timeout reset."""

    def __init__(self, workload: Any, host: Any, timeout_ns: int = CEX4_CLEANUP_NS) -> None:
        self.wl = workload
        self.host = host
        self.env = host.env
        self.timeout_ns = int(timeout_ns)
        self._deadline: dict[int, int] = {}  # APQN -> when its timer expires (None: ignored)
        self._armed: set[int] = set()  # APQNs with a pending timer event
        self._lost: dict[int, list[Request]] = {}  # APQN -> requests its reset took, to resend
        self.expired: list[tuple[int, int]] = []  # (time, APQN) of every timeout reset
        self.resent = 0
        host.bus.ready_listeners.append(self._ready)

    # --- the workload's hooks -----------------------------------------------------------
    def sent(self, tg: Any) -> None:
        """``ap_sm_write`` sent a request: the first outstanding one arms the timer."""
        if tg.outstanding == 1 and tg.apqn not in self._lost:
            self._arm(tg.apqn)

    def replied(self, tg: Any) -> None:
        """``ap_sm_recv`` took a reply: re-arm while requests remain, else let the timer lapse."""
        if tg.outstanding > 0:
            self._arm(tg.apqn)
        else:
            self._deadline.pop(tg.apqn, None)

    def keeps(self, req: Request) -> bool:
        """A dropped request: True (kept for the resend) when the timer's own reset took it."""
        lost = self._lost.get(req.apqn)
        if lost is None:
            return False
        lost.append(req)
        return True

    # --- the timer ----------------------------------------------------------------------
    def _arm(self, apqn: int) -> None:
        now = int(self.env.now)
        self._deadline[apqn] = now + self.timeout_ns
        if apqn not in self._armed:
            self._armed.add(apqn)
            call_at(self.env, self.timeout_ns, self._check, apqn)

    def _check(self, ev: Any) -> None:
        apqn = ev.value
        self._armed.discard(apqn)
        due = self._deadline.get(apqn)
        if due is None:
            return
        now = int(self.env.now)
        if now < due:  # re-armed since (mod_timer): wait for the new expiry
            self._armed.add(apqn)
            call_at(self.env, due - now, self._check, apqn)
            return
        self._expire(apqn)

    def _expire(self, apqn: int) -> None:
        """``ap_request_timeout`` → ``ap_sm_reset``: RAPQ; the adapter drops what it held."""
        self._deadline.pop(apqn, None)
        qdev = self.host.bus.queues.get(apqn)
        if qdev is None or not self.wl.running:
            return
        self.expired.append((int(self.env.now), apqn))
        # While the reset runs the queue takes no new request (RESET_WAIT); zcrypt's
        # dispatcher sends to the other queues, or holds requests until it is back.
        self.wl.set_targets([q for q in self.wl.targets if q != apqn])
        self._lost[apqn] = []
        queue_sm.init_state(self.host.bus, qdev)

    def _ready(self, qdev: Any) -> None:
        """The reset is through: DQAP finds no reply (0x10, queue empty), the requests go again."""
        lost = self._lost.pop(qdev.apqn, None)
        if lost is None:
            return
        wl = self.wl
        wl.refresh_targets()
        for old in lost:
            # The same message (psmid, type, length, submit time) leaves the pending list
            # for the request list and is sent again.
            self.resent += 1
            wl.resend_pending(qdev.apqn, new_request(old.psmid, old.rtype, old.length, old.owner, old.t_submit, wl))
