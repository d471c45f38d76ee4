"""The port a workload uses to reach AP queues: NQAP/DQAP, targets, interruptions.

A workload never knows whether it runs in an LPAR or in a KVM guest; it talks to
a :class:`Port`. :class:`LparPort` drives an LPAR's configuration directly (the
host's zcrypt); the guest layer provides a port whose instructions go through SIE
interpretation against the guest's APCB.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from apsim.hw.config import APConfiguration
from apsim.hw.instructions import Executor, dqap_fast, nqap_fast
from apsim.hw.request import Request


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


class LparPort:
    """A port straight onto an LPAR's configuration (no SIE): the host's own zcrypt."""

    def __init__(self, machine, config: APConfiguration, *, name: str = "host",  # noqa: ANN001
                 poll: str = "lpar") -> None:
        self.name = name
        self.machine = machine
        self.env = machine.env
        self.profile = machine.profile
        self.config = config
        self._poll = poll
        self._handlers: dict[int, Callable[[int], None]] = {}
        self.cpu = Executor(machine, config, irq_target=self._irq)
        self.target_listeners: list[Callable[[], None]] = []

    def nqap(self, apqn: int, req: Request) -> int:
        return nqap_fast(self.config, apqn, req)

    def dqap(self, apqn: int) -> tuple[int, Request | None]:
        return dqap_fast(self.config, apqn)

    def targets(self) -> list[int]:
        """Every APQN of the configuration whose adapter is online."""
        lp = self.config.lpar
        return sorted(q for q, queue in lp.queues.items()
                      if self.config.table[q] and not queue.cfg_rc)

    def queue_depth(self, apqn: int) -> int:
        info = self.cpu.tapq(apqn, t=True)
        return ((info.gr2 or 0) & 0xF) + 1 if info.gr2 is not None else 8

    def enable_irq(self, apqn: int, handler: Callable[[int], None]) -> bool:
        self._handlers[apqn] = handler
        r = self.cpu.aqic(apqn, enable=True, isc=3, nib=0x1000 + apqn)
        return r.rc in (0, 7)

    def _irq(self, queue) -> None:  # noqa: ANN001
        h = self._handlers.get(queue.apqn)
        if h is not None:
            h(queue.apqn)

    def ready_at(self, now: int) -> int:
        return now

    def poll_ns(self) -> int:
        return self.profile.poll_zvm_ns if self._poll == "zvm" else self.profile.poll_lpar_ns
