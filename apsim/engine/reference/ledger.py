"""The reference's request ledger: every request NQAP was asked to enqueue ends in one book.

Rule (docs/architecture.md, contract 3; ``apsim.engine.request.Ledger``): a request is
*submitted* when an NQAP is issued for it; it ends *completed* (its reply was
dequeued), *rejected* with the NQAP's response code, *dropped* with a named cause, or
is still *in flight*, and ``submitted = completed + rejected + dropped + in_flight``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

# Request states, numbered as the engine numbers them (so a request object of either
# kind can carry them in its ``state`` field).
WAITING = 0  # accepted, waiting for an engine
SERVICE = 1  # on an engine
REPLY = 2  # reply waiting in its queue
DONE = 3  # reply dequeued
DROPPED = 4  # lost to a reset, configure off, checkstop


class RefLedger:
    """Simulation-wide request accounting; ``summary()`` is the report's ``requests`` block."""

    def __init__(self) -> None:
        self.submitted = 0
        self.completed = 0
        self.rejected: Counter[int] = Counter()
        self.dropped: Counter[str] = Counter()
        self.drop_listeners: list = []

    def accept(self) -> None:
        """An NQAP that a queue took."""
        self.submitted += 1

    def reject(self, rc: int) -> None:
        """An NQAP answered with response code *rc* (not 0): submitted and rejected."""
        self.submitted += 1
        self.rejected[rc] += 1

    def withdraw(self, rc: int) -> None:
        """The issuer takes back an NQAP's rejection with *rc* to send the same request again
        (zcrypt after 0x02): that NQAP is no outcome, neither submitted nor rejected."""
        self.submitted -= 1
        self.rejected[rc] -= 1
        if not self.rejected[rc]:
            del self.rejected[rc]

    def complete(self) -> None:
        """A reply was dequeued."""
        self.completed += 1

    def drop(self, req: Any, cause: str) -> None:
        """*req* was lost to *cause*; its issuer hears of it through ``req.tag.on_dropped``
        (as an application hears -EAGAIN from zcrypt), then every drop listener."""
        req.state = DROPPED
        req.drop_cause = cause
        self.dropped[cause] += 1
        tag = getattr(req, "tag", None)
        if tag is not None:
            tag.on_dropped(req, cause)
        for fn in self.drop_listeners:
            fn(req, cause)

    @property
    def in_flight(self) -> int:
        """Accepted requests neither completed nor dropped."""
        return self.submitted - self.completed - sum(self.rejected.values()) - sum(self.dropped.values())

    def summary(self) -> dict:
        """``{submitted, completed, rejected: {"0xNN": n}, dropped: {cause: n}, in_flight}``."""
        return {
            "submitted": self.submitted,
            "completed": self.completed,
            "rejected": {f"0x{rc:02x}": n for rc, n in sorted(self.rejected.items())},
            "dropped": dict(sorted(self.dropped.items())),
            "in_flight": self.in_flight,
        }
