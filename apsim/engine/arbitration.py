"""How an engine-by-engine adapter picks the next waiting request: its arbitration
policies (FIFO, round robin over queues) and the view of a planned adapter's waiting
requests. Split out of apsim/engine/adapter.py.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from apsim.engine.request import QUEUED, Request
from apsim.engine.simpy_internals import clock

if TYPE_CHECKING:
    from apsim.engine.adapter import Adapter
    from apsim.engine.queue import APQueue


ARBITRATION_POLICIES = ("fifo", "round_robin")


class _Fifo:
    """Oldest request on the adapter first (engine-by-engine FIFO, kept for validation).

    Dropped requests are not removed from the deque (that would cost a search);
    ``pop`` skips anything no longer QUEUED.
    """

    __slots__ = ("q", "push")

    def __init__(self) -> None:
        self.q: deque[Request] = deque()
        self.push = self.q.append  # bound C method: the cheapest possible push

    def pop(self) -> Request | None:
        q = self.q
        while q:
            req = q.popleft()
            if req._state == QUEUED:
                return req
        return None

    def of_queue(self, queue: APQueue) -> list[Request]:
        """The waiting requests of one APQN, oldest first."""
        return [r for r in self.q if r.queue is queue and r._state == QUEUED]

    def items(self) -> list[Request]:
        """Every waiting request, in the order engines will take them."""
        return [r for r in self.q if r._state == QUEUED]

    def __len__(self) -> int:
        return sum(1 for r in self.q if r._state == QUEUED)


class _RoundRobin:
    """One request per APQN in turn, each APQN's own requests in order."""

    __slots__ = ("ring", "per_queue")

    def __init__(self) -> None:
        self.ring: deque[APQueue] = deque()
        self.per_queue: dict[APQueue, deque[Request]] = {}

    def push(self, req: Request) -> None:
        q = req.queue
        d = self.per_queue.get(q)
        if d is None:
            d = self.per_queue[q] = deque()
        elif d and d[-1]._state != QUEUED:
            # A reset (or configure off, checkstop) dropped every request the APQN had
            # waiting, which are still here (pop skips them): the APQN has no request in
            # line, so it lost its turn and takes a new place at the end of the ring,
            # as the reference's round robin (apsim/engine/reference/adapter.py) has it.
            d.clear()
            self.ring.remove(q)
        if not d:
            self.ring.append(q)
        d.append(req)

    def pop(self) -> Request | None:
        ring = self.ring
        while ring:
            q = ring.popleft()
            d = self.per_queue[q]
            while d:
                req = d.popleft()
                if req._state == QUEUED:
                    if d:
                        ring.append(q)
                    return req
        return None

    def of_queue(self, queue: APQueue) -> list[Request]:
        """The waiting requests of one APQN, oldest first."""
        return [r for r in self.per_queue.get(queue, ()) if r._state == QUEUED]

    def items(self) -> list[Request]:
        """Every waiting request (ring order, then per-APQN order)."""
        return [r for d in self.per_queue.values() for r in d if r._state == QUEUED]

    def __len__(self) -> int:
        return sum(1 for d in self.per_queue.values() for r in d if r._state == QUEUED)


class _PlannedWaiting:
    """The waiting line of a planned adapter: requests accepted whose start lies ahead."""

    __slots__ = ("adapter",)

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter

    def items(self) -> list[Request]:
        """Every waiting request, in the order engines will take them."""
        now = clock(self.adapter.env)
        out = [r for q in self.adapter.queues.values() for r in q._plan if r.t_start > now]
        out.sort(key=_accept_order)
        return out

    def of_queue(self, queue: APQueue) -> list[Request]:
        """The waiting requests of one APQN, oldest first."""
        now = clock(self.adapter.env)
        return [r for r in queue._plan if r.t_start > now]

    def push(self, req: Request) -> None:
        raise RuntimeError("a planned (fifo) adapter schedules requests in submit(), not in a waiting line")

    def pop(self) -> Request | None:
        raise RuntimeError("a planned (fifo) adapter has no waiting line to pop from")

    def __len__(self) -> int:
        return len(self.items())


def _accept_order(req: Request) -> int:
    return req.order
