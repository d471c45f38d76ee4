"""AP request messages and the request ledger.

A :class:`Request` is a ``__slots__`` object that lives from NQAP to DQAP; it is
the only per-request allocation on the hot path. The :class:`Ledger` accounts for
every request the simulator is asked to enqueue: it ends completed (its reply was
dequeued), rejected with a response code, dropped by a named event, or is still in
flight, and ``submitted = completed + rejected + dropped + in_flight`` always holds.
"""

from __future__ import annotations

from collections import Counter

from apsim.engine.core import Hook
from apsim.engine.simpy_internals import clock

try:
    import cython  # only the compiled form uses it (Request._warm)
except ImportError:  # pure Python without Cython installed
    cython = None
from apsim.errors import AccountingError

# Request states.
QUEUED = 0  # accepted, waiting for an engine
SERVICE = 1  # on an engine
REPLY = 2  # reply waiting in the queue
DONE = 3  # reply dequeued
DROPPED = 4  # lost to a reset, configure off, checkstop, ...
PLANNED = 5  # internal: scheduled on a FIFO adapter; QUEUED/SERVICE/REPLY follow from the times

ITSELF = object()
"""``Request.hook`` when the request is itself its pending event.

A marker rather than a reference to the request, so a request is never in a
reference cycle with itself: it is freed by reference counting the moment its
last holder lets go, instead of waiting for (and feeding) the cycle collector.
"""

DROP_CAUSES = ("reset", "zeroize", "configure_off", "checkstop", "lpar_crypto_change",
               "hot_unplug", "guest_stop", "guest_reset", "mdev_remove", "queue_removed")


class Request(Hook):
    """One AP request message from NQAP to its reply's DQAP.

    ``state`` is one of QUEUED, SERVICE, REPLY, DONE, DROPPED. On a FIFO adapter
    the engine schedule is computed when the request is accepted (``t_start`` and
    ``t_done`` then hold the planned times) and the request is internally
    PLANNED: reading ``state`` derives QUEUED / SERVICE / REPLY from the clock,
    so observers see exactly what an engine-by-engine simulation would show.

    A request is a :class:`~apsim.engine.core.Hook`: it can be scheduled as its own reply
    event (``callbacks``); ``hook`` is whatever heap entry currently stands
    for it (:data:`ITSELF` when that is the request), ``sink`` the interruption target that will pick its reply up and
    ``order`` its acceptance number on the adapter. These four are set when the
    request is planned and not before.
    """

    __slots__ = ("psmid", "rtype", "length", "owner", "apqn", "t_submit", "t_start", "t_done",
                 "service_ns", "_state", "queue", "ctrl_domain", "drop_cause", "tag",
                 "hook", "sink", "order", "_next")

    def __init__(self, psmid: int, rtype: int, length: int, owner: int = -1, t_submit: int = 0,
                 ctrl_domain: int = -1, tag: object = None) -> None:
        _fill(self, psmid, rtype, length, owner, t_submit, ctrl_domain, tag)

    @property
    def state(self) -> int:
        """QUEUED, SERVICE, REPLY, DONE or DROPPED (as of the current simulated time)."""
        st = self._state
        if st != PLANNED:
            return st
        now = clock(self.queue.env)
        if now < self.t_start:
            return QUEUED
        if now < self.t_done:
            return SERVICE
        return REPLY

    @state.setter
    def state(self, value: int) -> None:
        self._state = value

    def _warm(self) -> None:
        """Start loading the queue and the interruption target this request's reply
        event reads (a prefetch hint; see ``Hook._warm``). Compiled form only."""
        apsim_prefetch(cython.cast(cython.p_void, self.queue), 192)  # noqa: F821 - C (core.pxd)
        apsim_prefetch(cython.cast(cython.p_void, self.sink), 160)  # noqa: F821

    def __repr__(self) -> str:
        return (f"Request(psmid={self.psmid:#x}, apqn={self.apqn:#06x}, owner={self.owner}, "
                f"state={self.state})")


def new_request(psmid: int, rtype: int, length: int, owner: int, t_submit: int, tag: object) -> Request:
    """``Request(psmid, rtype, length, owner, t_submit, -1, tag)`` for the hot path.

    The same object, built without the call's argument parsing: compiled, the
    fields are set from C values and only the psmid becomes a Python integer (a
    workload's psmid of owner << 32 would otherwise be built with Python
    arithmetic on a two-digit integer for every owner but the first).
    """
    req = Request.__new__(Request)
    _fill(req, psmid, rtype, length, owner, t_submit, -1, tag)
    return req


def _fill(req: Request, psmid: int, rtype: int, length: int, owner: int, t_submit: int,
          ctrl_domain: int, tag: object) -> None:
    """Set every field a new request starts with (hook, sink and order wait for its planning)."""
    req.callbacks = None
    req.psmid = psmid
    req.rtype = rtype
    req.length = length
    req.owner = owner
    req.apqn = -1
    req.t_submit = t_submit
    req.t_start = -1
    req.t_done = -1
    req.service_ns = 0
    req._state = QUEUED
    req.queue = None
    req.ctrl_domain = ctrl_domain
    req.drop_cause = ""
    req.tag = tag
    req._next = None  # the next request in its queue's chain (see APQueue)


class Ledger:
    """Simulation-wide request accounting (contract 3).

    ``submit`` is counted where an NQAP is issued (by whatever issuer), so requests
    that never reach the hardware because the SIE check refused them are still
    accounted as rejected.
    """

    __slots__ = ("submitted", "completed", "rejected", "dropped", "drop_listeners")

    def __init__(self) -> None:
        self.submitted = 0
        self.completed = 0
        self.rejected: Counter[int] = Counter()
        self.dropped: Counter[str] = Counter()
        self.drop_listeners: list = []

    def reject(self, rc: int) -> None:
        """An NQAP answered with a non-zero response code."""
        self.submitted += 1
        self.rejected[rc] += 1

    def withdraw(self, rc: int) -> None:
        """Take back an NQAP's rejection with *rc*: its issuer keeps the request and sends
        it again (zcrypt after 0x02, apsim.engine.resend), so it is no outcome."""
        self.submitted -= 1
        self.rejected[rc] -= 1
        if not self.rejected[rc]:
            del self.rejected[rc]

    def accept(self) -> None:
        """An NQAP that the queue took."""
        self.submitted += 1

    def complete(self) -> None:
        """A reply dequeued by DQAP."""
        self.completed += 1

    def drop(self, req: Request, cause: str) -> None:
        """A request lost to a named event."""
        req.state = DROPPED
        req.drop_cause = cause
        self.dropped[cause] += 1
        # The issuer (a workload) learns of the loss through the request's tag,
        # as an application learns of -EAGAIN from zcrypt.
        tag = req.tag
        if tag is not None:
            tag.on_dropped(req, cause)
        for fn in self.drop_listeners:
            fn(req, cause)

    @property
    def in_flight(self) -> int:
        """Accepted requests not yet completed nor dropped."""
        return (self.submitted - self.completed - sum(self.rejected.values())
                - sum(self.dropped.values()))

    def check(self, in_flight_actual: int | None = None) -> None:
        """Raise AccountingError unless the books balance (and match the live count)."""
        if self.in_flight < 0:
            raise AccountingError(f"request accounting went negative: {self.summary()}")
        if in_flight_actual is not None and in_flight_actual != self.in_flight:
            raise AccountingError(
                f"{in_flight_actual} requests are in queues but the ledger says "
                f"{self.in_flight} are in flight: {self.summary()}")

    def summary(self) -> dict:
        """The contract-3 ``requests`` block."""
        return {
            "submitted": self.submitted,
            "completed": self.completed,
            "rejected": {f"0x{rc:02x}": n for rc, n in sorted(self.rejected.items())},
            "dropped": dict(sorted(self.dropped.items())),
            "in_flight": self.in_flight,
        }
