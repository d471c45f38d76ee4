"""The port of the host Linux's own zcrypt users (processes on the LPAR's or z/VM guest's Linux).

It is the engine's :class:`~apsim.engine.port.LparPort` with the targets and the
interruption routing of the host's AP bus, which live in the Linux layer.
"""

from __future__ import annotations

from collections.abc import Callable

from apsim.engine.port import LparPort
from apsim.linux.queue_sm import request_error
from apsim.linux.zcrypt import zcrypt_targets

__all__ = ["HostPort"]


class HostPort(LparPort):
    """The host Linux's own zcrypt users: processes on the LPAR's (or z/VM guest's) Linux.

    Requests go to the queues the host's zcrypt may use (:func:`~apsim.linux.zcrypt.zcrypt_targets`:
    bound to ``cex4queue``, online, past their reset, on a card whose maximum message
    size holds *length*); replies come by adapter interruption when the host's AP bus
    uses them, else by polling at the bus's rate (z/VM's 1.5 ms under z/VM).
    """

    def __init__(self, machine, host, *, length: int = 0) -> None:  # noqa: ANN001
        super().__init__(machine, host.cpu.config, name=host.name, poll="zvm" if host.zvm else "lpar")
        self.host = host
        self.length = length
        # The AP bus's adapter-interrupt handler polls the queue and hands each reply to
        # zcrypt's receive callback: interruptions of queues the bus enabled (AQIC at the
        # end of every reset) come to this port's dispatcher.
        host.cpu.irq_target = self._irq
        for q in self.config.lpar.queues.values():
            if q.irq and q.irq_target is None:
                q.irq_target = self._irq

    def targets(self) -> list[int]:
        return zcrypt_targets(self.host, self.length)

    def enable_irq(self, apqn: int, handler: Callable[[int], None]) -> bool:
        """Take *apqn*'s replies on the bus's interruptions; False (poll) when it has none."""
        bus = self.host.bus
        q = self.config.lpar.queues.get(apqn)
        if bus is None or not bus.irq_flag or q is None or not q.irq:
            return False
        self._handlers[apqn] = handler
        return True

    def queue_error(self, apqn: int, rc: int, fn: str) -> None:
        """The host's queue device enters ``AP_DEV_STATE_ERROR`` (:func:`~apsim.linux.queue_sm.request_error`)."""
        request_error(self.host.bus, apqn, rc, fn)
