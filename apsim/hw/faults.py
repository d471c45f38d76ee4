"""Injected faults: the machine's table of armed faults and the one hook per queue.

A scenario's ``fault.inject`` arms a :class:`Fault` in the machine's
:class:`FaultTable` (created on the first injection, so a run without faults
has ``machine.faults is None``). Six kinds:

* ``response`` / ``busy`` — chosen APQNs answer a response code to chosen AP
  instructions. The table hangs a :class:`QueueFaults` on each affected queue's
  ``fault`` slot; the queue then keeps the queue's gate shut, so the
  request path's one existing state test (``q._gate > now``) leads it to the
  hook and a queue without faults pays nothing. A refused NQAP is counted as
  rejected in the ledger and a refused DQAP leaves the reply where it is, so
  the books balance under any window.
* ``sclp`` — the SCLP (de)configure-AP command answers an SCCB response code
  (:meth:`FaultTable.sclp_response`, asked by ``Machine.sclp_command``).
* ``nib_pin`` / ``gisc`` — vfio_ap's AQIC enable path: ``vfio_pin_pages`` of
  the NIB page or ``kvm_s390_gisc_register`` fails with a negative errno
  (:meth:`FaultTable.irq_enable_error`).
* ``chsc_delay`` — an AP configuration-change event (the host's CHSC SEI, or
  the CRW QEMU ≥ 10.1 relays to a guest) reaches its AP bus later
  (:meth:`FaultTable.event_delay`).

Every firing is recorded on its fault (time, what, where); the first
:data:`KEPT_FIRINGS` are kept in full, the rest counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from apsim.engine.core import call_at
from apsim.ids import format_apqn

INSTRUCTIONS = ("TAPQ", "NQAP", "DQAP", "AQIC", "RAPQ", "ZAPQ")
"""The AP instructions a ``response`` fault can answer."""
KINDS = ("response", "busy", "sclp", "nib_pin", "gisc", "chsc_delay")
SCLP_COMMANDS = ("configure", "deconfigure")
KEPT_FIRINGS = 1000
"""Firings kept per fault with their details (a busy window on a hot queue fires
millions of times; beyond this only the count grows)."""


@dataclass(slots=True)
class Fault:
    """One armed fault: what it answers, where, when, and each time it fired.

    *code* is the AP response code (``response``/``busy``), the SCCB response
    code (``sclp``) or the negative errno (``nib_pin``/``gisc``). The window is
    [start, end) in simulated ns (``end`` None: to the end of the run); *count*
    limits it to the first N firings.
    """

    id: int
    kind: str
    start: int
    end: int | None = None
    count: int | None = None
    code: int = 0
    instructions: frozenset[str] = frozenset()
    apqns: frozenset[int] | None = None
    adapters: frozenset[int] | None = None
    issuer: str | None = None
    commands: frozenset[str] = frozenset(SCLP_COMMANDS)
    delay_ns: int = 0
    line: int | None = None
    fired: int = 0
    firings: list[dict[str, Any]] = field(default_factory=list)

    def live(self, now: int) -> bool:
        """Whether the fault still answers at *now* (inside its window, count not used up)."""
        return (self.start <= now and (self.end is None or now < self.end)
                and (self.count is None or self.fired < self.count))

    def fire(self, now: int, what: str, where: str) -> None:
        """Record one firing."""
        self.fired += 1
        if len(self.firings) < KEPT_FIRINGS:
            self.firings.append({"t_ns": now, "what": what, "where": where})

    def covers_apqn(self, apqn: int) -> bool:
        """Whether the fault's APQN/adapter selection includes *apqn* (no selection: all)."""
        if self.apqns is not None and apqn not in self.apqns:
            return False
        return self.adapters is None or (apqn >> 8) in self.adapters

    def summary(self) -> dict[str, Any]:
        """The fault's block in the report: what was injected, when it fired."""
        d: dict[str, Any] = {"id": self.id, "kind": self.kind, "start_ns": self.start,
                             "end_ns": self.end, "count": self.count, "fired": self.fired,
                             "firings": list(self.firings)}
        if self.line is not None:
            d["line"] = self.line
        if self.fired > len(self.firings):
            d["firings_left_out"] = self.fired - len(self.firings)
        return d


class QueueFaults:
    """The faults armed on one queue (its ``fault`` slot while any is live)."""

    __slots__ = ("queue", "faults")

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        self.faults: list[Fault] = []

    def answer(self, op: str, config: Any, now: int) -> int:
        """The response code an armed fault gives *op* issued by *config* (0: none).

        *config* is the issuing APConfiguration, or None where the path does not
        know it (DQAP: a queue's replies go to whoever holds it), which matches any
        issuer filter.
        """
        rc = 0
        for f in self.faults:
            if op in f.instructions and f.live(now) and (
                    f.issuer is None or config is None or f.issuer == config.name):
                f.fire(now, op, format_apqn(self.queue.apqn))
                rc = f.code
                break
        self.prune(now)
        return rc

    def prune(self, now: int) -> None:
        """Forget faults whose window or count is used up; unhook from the queue when none is left."""
        self.faults = [f for f in self.faults if f.live(now)]
        if not self.faults and self.queue.fault is self:
            self.queue.fault = None


class FaultTable:
    """The machine's armed faults (``machine.faults``), in injection order."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.faults: list[Fault] = []
        self._hooked: list[QueueFaults] = []

    def arm(self, fault: Fault, queues: Iterable[Any] = ()) -> int:
        """Arm *fault* now; for a queue fault hook it on *queues*. Returns the queues hooked."""
        self.faults.append(fault)
        n = self.hook(fault, queues)
        if fault.end is not None:
            call_at(self.env, max(0, fault.end - self.env.now), self._expire)
        return n

    def hook(self, fault: Fault, queues: Iterable[Any]) -> int:
        """Hang *fault* on each of *queues* (once); returns how many were hooked."""
        n = 0
        for q in queues:
            qf = q.fault
            if qf is None:
                qf = QueueFaults(q)
                q.fault = qf
                self._hooked.append(qf)
            if fault not in qf.faults:
                qf.faults.append(fault)
                n += 1
        return n

    def rehook(self, queues: Iterable[Any]) -> None:
        """Queues (re)created by a configuration change get the live queue faults that cover them."""
        now = self.env.now
        queues = list(queues)
        for f in self.faults:
            if f.kind in ("response", "busy") and f.live(now):
                self.hook(f, [q for q in queues if f.covers_apqn(q.apqn)])

    def _expire(self, ev: Any) -> None:
        """A window ended: unhook what is used up, so those queues return to the fast lane."""
        now = self.env.now
        for qf in self._hooked:
            qf.prune(now)
        self._hooked = [qf for qf in self._hooked if qf.queue.fault is qf]

    def _first(self, kind: str, test: Any) -> Fault | None:
        now = self.env.now
        for f in self.faults:
            if f.kind == kind and f.live(now) and test(f):
                return f
        return None

    def sclp_response(self, command: str, apid: int) -> int | None:
        """The SCCB response code an armed ``sclp`` fault gives *command* for *apid* (None: none)."""
        f = self._first("sclp", lambda f: command in f.commands
                        and (f.adapters is None or apid in f.adapters))
        if f is None:
            return None
        f.fire(self.env.now, f"sclp {command}", f"adapter {apid}")
        return f.code

    def irq_enable_error(self, kind: str, guest: str, apqn: int) -> int:
        """The negative errno an armed ``nib_pin``/``gisc`` fault gives *guest*'s AQIC enable of
        *apqn* (0: none)."""
        f = self._first(kind, lambda f: (f.issuer is None or f.issuer == f"guest:{guest}")
                        and f.covers_apqn(apqn))
        if f is None:
            return 0
        f.fire(self.env.now, kind, format_apqn(apqn))
        return f.code

    def event_delay(self, target: str) -> int:
        """Extra ns before a configuration-change event reaches *target* (``host`` or
        ``guest:NAME``); every live ``chsc_delay`` fault for it adds its delay."""
        now = self.env.now
        extra = 0
        for f in self.faults:
            # No target named: every guest's relayed event (not the host's own).
            if f.kind == "chsc_delay" and f.live(now) and (
                    f.issuer == target or (f.issuer is None and target != "host")):
                f.fire(now, "config-change event", target)
                extra += f.delay_ns
        return extra

    def summary(self) -> list[dict[str, Any]]:
        """Every injected fault with its firings (the report's ``faults`` block)."""
        return [f.summary() for f in self.faults]


def table_of(machine: Any) -> FaultTable:
    """The machine's fault table, created on first use."""
    if machine.faults is None:
        machine.faults = FaultTable(machine.env)
    return machine.faults
