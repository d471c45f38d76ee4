"""The port a workload uses to reach AP queues: NQAP/DQAP, targets, interruptions.

A workload never knows whether it runs in an LPAR or in a KVM guest; it talks to
a :class:`Port`. :class:`LparPort` drives an LPAR's configuration directly (the
host's zcrypt); the guest layer provides a port whose instructions go through SIE
interpretation against the guest's APCB.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Protocol

from apsim.engine import codes
from apsim.engine.config import APConfiguration
from apsim.engine.firmware import dqap_fast, nqap_fast
from apsim.engine.instructions import Executor
from apsim.engine.queue import APQueue, deferrable
from apsim.engine.request import Request


class Port(Protocol):
    """What a workload needs from the system it runs in."""

    name: str
    env: object
    profile: object

    def nqap(self, apqn: int, req: Request) -> int: ...

    def dqap(self, apqn: int) -> tuple[int, Request | None]: ...

    def targets(self) -> list[int]: ...

    def queue_depth(self, apqn: int) -> int: ...

    def enable_irq(self, apqn: int, handler: Callable[[int], None]) -> bool: ...

    def ready_at(self, now: int) -> int: ...

    def poll_ns(self) -> int: ...

    def queue_error(self, apqn: int, rc: int, fn: str) -> None: ...


class LparPort:
    """A port straight onto an LPAR's configuration (no SIE): the host's own zcrypt.

    ``always_ready`` tells a workload that this port's vCPUs are never blocked (no
    KVM mask update can stall them), so it may skip :meth:`ready_at` on its hot path.
    """

    always_ready = True

    def __init__(self, machine, config: APConfiguration, *, name: str = "host",  # noqa: ANN001
                 poll: str = "lpar") -> None:
        self.name = name
        self.machine = machine
        self.env = machine.env
        self.profile = machine.profile
        self.ledger = machine.ledger
        self.config = config
        self._poll = poll
        self._handlers: dict[int, Callable[[int], None]] = {}
        self.cpu = Executor(machine, config, irq_target=self._irq)
        self.target_listeners: list[Callable[[], None]] = []
        # The hot path calls these once per request: partial objects call the fast
        # instruction functions without an extra Python frame (they shadow the
        # methods below, which document the signatures).
        self.nqap = partial(nqap_fast, config)  # type: ignore[method-assign]
        self.dqap = partial(dqap_fast, config)  # type: ignore[method-assign]

    def nqap(self, apqn: int, req: Request) -> int:
        return nqap_fast(self.config, apqn, req)

    def dqap(self, apqn: int) -> tuple[int, Request | None]:
        return dqap_fast(self.config, apqn)

    def link(self, apqn: int) -> APQueue | None:
        """The physical queue NQAP/DQAP on *apqn* reach now (None if not in the configuration).

        A workload may keep it and call :func:`~apsim.engine.instructions.nqap_queue` /
        :func:`~apsim.engine.instructions.dqap_queue` directly while
        ``self.config.generation`` stays what it was when it asked.
        """
        cfg = self.config
        return cfg.lpar.queues.get(apqn) if cfg.table[apqn] else None

    def targets(self) -> list[int]:
        """Every APQN of the configuration whose adapter is online and of a type zcrypt drives.

        The AP bus makes no device for adapters older than CEX4 (``ap_get_compatible_type``),
        so the LPAR's zcrypt never sends them anything.
        """
        lp = self.config.lpar
        return sorted(q for q, queue in lp.queues.items()
                      if self.config.table[q] and not queue.cfg_rc
                      and queue.adapter.spec.ap_type >= codes.AP_TYPE_CEX4)

    def tapq(self, apqn: int) -> int:
        """TAPQ's response code for *apqn* (what ap_sm_reset_wait tests)."""
        return self.cpu.tapq(apqn).rc

    def queue_depth(self, apqn: int) -> int:
        info = self.cpu.tapq(apqn, t=True)
        return ((info.gr2 or 0) & 0xF) + 1 if info.gr2 is not None else 8

    def enable_irq(self, apqn: int, handler: Callable[[int], None]) -> bool:
        self._handlers[apqn] = handler
        r = self.cpu.aqic(apqn, enable=True, isc=3, nib=0x1000 + apqn)
        ok = r.rc in (0, 7)
        if ok and deferrable(handler):
            # A workload's pickup timer ignores its argument and only picks replies up
            # pickup_ns after the interruption: wire it straight into the queue, so a
            # planned adapter can fold interruption and pickup into one event. AQIC
            # disable or a reset clears irq_target as usual.
            q = self.config.lpar.queues.get(apqn)
            if q is not None and q.irq and q.irq_target == self._irq:
                q.irq_target = handler
        return ok

    def _irq(self, queue) -> None:  # noqa: ANN001
        apqn = queue.apqn
        h = self._handlers.get(apqn)
        if h is not None:
            h(apqn)

    def ready_at(self, now: int) -> int:
        return now

    def poll_ns(self) -> int:
        return self.profile.poll_zvm_ns if self._poll == "zvm" else self.profile.poll_lpar_ns

    def queue_error(self, apqn: int, rc: int, fn: str) -> None:
        """zcrypt met a response code *fn* (``ap_sm_write`` / ``ap_sm_read``) has no case for.

        A bare LPAR has no AP bus model whose queue device could enter the error
        state, so nothing happens here; ports of a modelled Linux (the host's, a
        guest's) override it. The workload retires the queue either way.
        """
