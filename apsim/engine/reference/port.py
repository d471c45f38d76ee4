"""The reference port: what a workload talks to (:class:`apsim.engine.port.Port`), on the
reference firmware, as :class:`apsim.engine.port.LparPort` gives it on the engine.

``RefPort(ref_machine, lpar, *, name="host", poll="lpar")``: *lpar* is a
:class:`~apsim.engine.reference.firmware.RefLpar` or its name in
``ref_machine.lpars``; *poll* chooses the poll interval (``"lpar"``:
``profile.poll_lpar_ns``, ``"zvm"``: ``profile.poll_zvm_ns``); *profile* (keyword,
default the machine's ``profile``) is the timing profile a workload reads
(``request_type``, latencies).

Interruptions: ``enable_irq(apqn, handler)`` issues AQIC with the port's own target,
which calls ``handler(apqn)`` at the instant a reply is posted — for a deferrable
handler too (no folding: the handler coalesces its pickups itself).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apsim.engine import codes
from apsim.engine.codes import RC
from apsim.engine.reference.firmware import RefCpu, RefLpar, RefMachine, RefRequest

DEFAULT_DEPTH = 8
"""What ``queue_depth`` answers for an APQN outside the configuration (as LparPort)."""


class RefPort:
    """A port straight onto an LPAR's configuration of the reference machine."""

    always_ready = True
    request_class = RefRequest
    """The message type this firmware takes (a workload builds its requests with it)."""

    def __init__(self, machine: RefMachine, lpar: RefLpar | str, *, name: str = "host",
                 poll: str = "lpar", profile: Any = None) -> None:
        self.machine = machine
        self.lpar = machine.lpars[lpar] if isinstance(lpar, str) else lpar
        self.name = name
        self.env = machine.env
        self.profile = profile if profile is not None else machine.profile
        self.ledger = machine.ledger
        self.cpu = RefCpu(machine, self.lpar)
        self._poll = poll
        self._handlers: dict[int, Callable[[int], None]] = {}

    def nqap(self, apqn: int, req: Any) -> int:
        """NQAP *req*; its response code."""
        return self.cpu.nqap(apqn, req).rc

    def dqap(self, apqn: int) -> tuple[int, Any]:
        """DQAP; (response code, request or None)."""
        r = self.cpu.dqap(apqn)
        return r.rc, r.req

    def targets(self) -> list[int]:
        """The configuration's APQNs whose queue is not in standby or checkstop and whose
        adapter is of a type zcrypt drives (CEX4 or later)."""
        return sorted(apqn for apqn, q in self.lpar.queues.items()
                      if not q.cfg_rc and q.adapter.card.ap_type >= codes.AP_TYPE_CEX4)

    def tapq(self, apqn: int) -> int:
        """TAPQ's response code for *apqn*."""
        return self.cpu.tapq(apqn).rc

    def queue_depth(self, apqn: int) -> int:
        """The queue depth TAPQ reports for *apqn* (8 outside the configuration)."""
        q = self.cpu.queue(apqn)
        if q is not None:
            q.touched += 1  # the TAPQ that reads it
        return q.depth if q is not None else DEFAULT_DEPTH

    def enable_irq(self, apqn: int, handler: Callable[[int], None]) -> bool:
        """AQIC on for *apqn* with *handler*; True if interruptions are (now) enabled."""
        self._handlers[apqn] = handler
        r = self.cpu.aqic(apqn, enable=True, target=self._irq, isc=3, nib=0x1000 + apqn)
        return r.rc in (0, RC.OTHERWISE_CHANGED)

    def _irq(self, queue: Any) -> None:
        h = self._handlers.get(queue.apqn)
        if h is not None:
            h(queue.apqn)

    def ready_at(self, now: int) -> int:
        """The LPAR's vCPUs are never blocked."""
        return now

    def poll_ns(self) -> int:
        """The driver's poll interval."""
        return self.profile.poll_zvm_ns if self._poll == "zvm" else self.profile.poll_lpar_ns

    def queue_error(self, apqn: int, rc: int, fn: str) -> None:
        """A bare LPAR has no AP bus whose queue device could enter the error state."""
