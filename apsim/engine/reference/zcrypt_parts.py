"""The reference workload's parts: its view of one APQN, its random streams, its resend backlog.

Plain objects for :class:`apsim.engine.reference.zcrypt.RefWorkload`; nothing here
schedules an event or issues an instruction.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from apsim.engine.request import Request


class RefTarget:
    """What zcrypt knows of one APQN it sends to (the engine's ``Target``, field for field).

    ``outstanding``: requests NQAP'd and neither dequeued nor dropped (the hardware
    queue's entries this driver owns). ``load``: the zcrypt weight of the requests
    dispatched here and not finished (held ones included). ``total``: every request
    ever dispatched here. ``held``: zcrypt's software queue for the APQN, requests
    waiting for a free slot. ``idx``: the position in the active target list (-1:
    not a target now). ``pickup_pending``: an interruption's pickup is scheduled.
    """

    def __init__(self, apqn: int, depth: int) -> None:
        self.apqn = apqn
        self.depth = depth
        self.idx = -1
        self.outstanding = 0
        self.load = 0
        self.total = 0
        self.held: deque[Request] = deque()
        self.pickup_pending = False

    @property
    def active(self) -> bool:
        """Whether the APQN is in the driver's target list now."""
        return self.idx >= 0

    @property
    def has_free_slot(self) -> bool:
        """zcrypt sends only while the queue holds fewer of its requests than its depth."""
        return self.outstanding < self.depth

    def __repr__(self) -> str:
        return (f"RefTarget({self.apqn:#06x}, outstanding={self.outstanding}, load={self.load}, "
                f"total={self.total}, held={len(self.held)})")


def stream(next_block: Callable[[], np.ndarray]) -> Iterator[int]:
    """The values of consecutive blocks, one at a time; a block is drawn when its first value
    is needed (so the generator calls happen in the same order as the engine's)."""
    while True:
        for v in next_block():
            yield v.item()


def mix_tables(mix: dict[str, float], profile: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mix as :func:`apsim.engine.draws.type_block` takes it: type indices, probabilities,
    normalised cumulative probabilities (computed as the engine computes them, bit for bit)."""
    names = list(mix)
    w = np.array([mix[n] for n in names], dtype=float)
    idx = np.array([profile.request_type(n).index for n in names])
    p = w / w.sum()
    cdf = p.cumsum()
    return idx, p, cdf / cdf[-1]


class ResendBacklog:
    """Requests whose NQAP answered 0x02 (reset in progress), per APQN, waiting for their resend
    (ap_queue.c ``AP_SM_STATE_RESET_WAIT``), with the two counters the engine reports."""

    def __init__(self) -> None:
        self.waiting: dict[int, deque[Request]] = {}
        self.resent = 0  # NQAPs issued again for a request that got 0x02
        self.waits = 0  # low-rate polls that found the queue still in reset

    def __len__(self) -> int:
        return sum(len(d) for d in self.waiting.values())
