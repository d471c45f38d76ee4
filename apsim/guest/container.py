"""Containers as zcrypt users of the host LPAR, each confined to one APQN.

The k8s CEX device plugin maps ``/dev/zcrypt-apqn-<a>-<d>-<i>`` (a zcrypt node whose
adapter and domain masks hold just that APQN) into the container as
``/dev/z90crypt``: the container reaches that one queue and no other. Several
containers may share an APQN (overcommit); the host's zcrypt driver owns the queue
and hands every reply to the process that sent the request. :class:`ZcryptMux` is
that driver for the containers: it takes the queue's replies in order and delivers
each to its sender, waking a sender whose reply another one dequeued. Like zcrypt's
request queue it never puts more requests on the hardware than the queue holds: a
request that finds the queue full waits in the driver (first come, first sent) and is
sent when a reply frees a slot, so any number of containers can share an APQN. A
waiting request enters the request ledger when it is sent; one the queue then refuses
(a reset, the adapter configured off) ends for its sender as dropped.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable

from apsim.engine.core import call_at
from apsim.engine.port import LparPort
from apsim.engine.config import APConfiguration
from apsim.engine.firmware import dqap_fast, nqap_fast
from apsim.engine.request import Request

__all__ = ["ContainerPort", "ZcryptMux"]


class ZcryptMux:
    """The host zcrypt driver between the containers and the host LPAR's AP queues."""

    def __init__(self, machine, config: APConfiguration) -> None:  # noqa: ANN001
        self.machine = machine
        self.env = machine.env
        self.config = config
        self.handlers: dict[int, dict[ContainerPort, Callable[[int], None]]] = defaultdict(dict)
        self.mailbox: dict[ContainerPort, deque[Request]] = defaultdict(deque)
        self.owner_of: dict[int, ContainerPort] = {}  # id(workload) -> its port
        self.backlog: dict[int, deque[tuple[ContainerPort, Request]]] = defaultdict(deque)
        self.sent_late = 0  # requests that waited in the driver before NQAP
        self._irq_on: set[int] = set()

    def bind(self, port: ContainerPort, workload: object) -> None:
        """Replies tagged with *workload* belong to *port*."""
        self.owner_of[id(workload)] = port
        port.workload = workload

    def nqap(self, port: ContainerPort, apqn: int, req: Request) -> int:
        """Send *req* now if the queue has a free slot and nobody waits before it; else hold it."""
        self._send_backlog(apqn)
        q = self.config.lpar.queues.get(apqn)
        if q is not None and (self.backlog[apqn] or q.count >= q.depth):
            self.backlog[apqn].append((port, req))
            return 0
        return nqap_fast(self.config, apqn, req)

    def _send_backlog(self, apqn: int) -> None:
        box = self.backlog.get(apqn)
        if not box:
            return
        q = self.config.lpar.queues.get(apqn)
        while box and (q is None or q.count < q.depth):
            port, req = box.popleft()
            self.sent_late += 1
            if nqap_fast(self.config, apqn, req):
                # Refused now (reset, deconfigured): the sender counted it as sent.
                wl = port.workload
                if wl is not None:
                    req.apqn = apqn
                    wl.on_dropped(req, "zcrypt")

    def held(self) -> int:
        """Requests waiting in the driver (not yet in the ledger)."""
        return sum(len(b) for b in self.backlog.values())

    def dqap(self, port: ContainerPort, apqn: int) -> tuple[int, Request | None]:
        """The next reply for *port*: from its mailbox, else from the queue (others' go to theirs)."""
        box = self.mailbox[port]
        while True:
            if box:
                req = box.popleft()
                if box:
                    self._wake(port, apqn)  # its drain stops at the queue's R bit
                return 0, req
            rc, req = dqap_fast(self.config, apqn)
            if rc or req is None:
                return rc, req
            self._send_backlog(apqn)  # the reply freed a slot
            owner = self.owner_of.get(id(req.tag))
            if owner is None or owner is port:
                return rc, req
            self.mailbox[owner].append(req)
            self._wake(owner, apqn)

    def _wake(self, port: ContainerPort, apqn: int) -> None:
        h = self.handlers[apqn].get(port)
        if h is not None:
            call_at(self.env, 0, lambda ev, h=h: h(apqn))

    def enable_irq(self, port: ContainerPort, apqn: int, handler: Callable[[int], None]) -> bool:
        """Interruptions for the queue (once) and *port*'s handler among its users'."""
        self.handlers[apqn][port] = handler
        if apqn in self._irq_on:
            return True
        r = port.cpu.aqic(apqn, enable=True, isc=3, nib=0x1000 + apqn)
        if r.rc in (0, 7):
            self._irq_on.add(apqn)
            q = self.config.lpar.queues.get(apqn)
            if q is not None:
                q.irq_target = self._irq
            return True
        return False

    def _irq(self, queue) -> None:  # noqa: ANN001
        for h in list(self.handlers[queue.apqn].values()):
            h(queue.apqn)


class ContainerPort(LparPort):
    """A container's port: its one APQN, through the host's zcrypt (:class:`ZcryptMux`)."""

    link = None  # no direct queue link: every DQAP goes through the zcrypt driver

    def __init__(self, mux: ZcryptMux, apqn: int, *, name: str, poll: str = "lpar") -> None:
        super().__init__(mux.machine, mux.config, name=name, poll=poll)
        self.mux = mux
        self.apqn = apqn
        self.workload: object | None = None
        # LparPort binds the fast instructions per instance; here they go through the driver.
        del self.nqap
        del self.dqap

    def targets(self) -> list[int]:
        """The container's APQN when the LPAR can reach it now, else none."""
        return [self.apqn] if self.apqn in super().targets() else []

    def nqap(self, apqn: int, req: Request) -> int:  # type: ignore[override]
        return self.mux.nqap(self, apqn, req)

    def dqap(self, apqn: int) -> tuple[int, Request | None]:  # type: ignore[override]
        return self.mux.dqap(self, apqn)

    def enable_irq(self, apqn: int, handler: Callable[[int], None]) -> bool:
        return self.mux.enable_irq(self, apqn, handler)

    def __hash__(self) -> int:
        return id(self)
