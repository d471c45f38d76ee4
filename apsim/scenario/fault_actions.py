"""The ``fault.inject`` timeline handler: arm the fault in the machine's fault table.

The rules of each fault live in :mod:`apsim.hw.faults` (the table and the queue
hook), ``Machine.sclp_command`` (SCLP), :mod:`apsim.linux.vfio_ap.irq_faults`
(AQIC enable) and the event paths (CHSC); this module only turns the action's
operands into a :class:`~apsim.hw.faults.Fault`.
"""

from __future__ import annotations

import errno as _errno
from typing import TYPE_CHECKING

from apsim.engine.codes import RC, rc_name
from apsim.hw.faults import SCLP_COMMANDS, Fault, table_of
from apsim.ids import format_apqn
from apsim.linux.vfio_ap.irq_faults import DEFAULT_ERRNO
from apsim.engine.recorder import TimelineEntry
from apsim.units import format_duration

if TYPE_CHECKING:
    from apsim.hw.machine import Machine
    from apsim.scenario.build import Simulation

__all__ = ["arm_at_setup", "do_fault_inject", "is_setup_fault"]


def do_fault_inject(sim: Simulation, a, entry: TimelineEntry) -> None:  # noqa: ANN001
    """Arm the fault of a ``fault.inject`` action now; the entry says what and where."""
    arm_fault(sim.machine, a, entry)


def arm_at_setup(machine: Machine, timeline: list) -> list[TimelineEntry]:  # noqa: ANN001
    """Arm the ``fault.inject`` actions at ``at: 0`` before the host boots, so its AP bus's
    initial scan meets them (:func:`is_setup_fault`); returns their timeline entries."""
    out = []
    for a in timeline:
        if is_setup_fault(a):
            entry = TimelineEntry(at_ns=0, do=a.do, args=a.operands(), line=a.line)
            arm_fault(machine, a, entry)
            out.append(entry)
    return out


def is_setup_fault(a) -> bool:  # noqa: ANN001
    """Whether *a* is armed at setup rather than by the timeline (a ``fault.inject`` at 0)."""
    return a.do == "fault.inject" and a.at == 0


def arm_fault(m: Machine, a, entry: TimelineEntry) -> None:  # noqa: ANN001
    """Turn the action's operands into a :class:`Fault` armed in *m*'s table now."""
    table = table_of(m)
    now = m.env.now
    f = Fault(id=len(table.faults) + 1, kind=a.kind, start=now, end=a.window_end(now), count=a.count,
              line=a.line)
    if a.apqns is not None:
        f.apqns = frozenset(a.apqns)
    if a.adapters is not None:
        f.adapters = frozenset(a.adapters)
    if a.guest is not None:
        f.issuer = f"guest:{a.guest}"
    window = _window_text(f)
    if a.kind in ("response", "busy"):
        f.code = a.rc if a.kind == "response" else int(RC.BUSY)
        f.instructions = frozenset(a.instructions or ("NQAP", "DQAP"))
        queues = [q for ad in m.adapters.values() for q in ad.queues.values() if f.covers_apqn(q.apqn)]
        n = table.arm(f, queues)
        where = ", ".join(format_apqn(q.apqn) for q in queues[:8]) + (" ..." if len(queues) > 8 else "")
        entry.detail = (f"fault {f.id}: {'/'.join(sorted(f.instructions))} answer "
                        f"{f.code:#04x} {rc_name(f.code)} on {n} queue{'s' if n != 1 else ''} "
                        f"({where or 'none'}){window}")
        if not n:
            entry.outcome = "no queue"
        return
    if a.kind == "sclp":
        f.code = a.response
        f.commands = frozenset((a.command,) if a.command else SCLP_COMMANDS)
        what = f"SCLP {'/'.join(sorted(f.commands))} answers SCCB response {f.code:#06x}"
    elif a.kind in ("nib_pin", "gisc"):
        num = getattr(_errno, a.errno) if a.errno else DEFAULT_ERRNO[a.kind]
        f.code = -num
        call = "vfio_pin_pages" if a.kind == "nib_pin" else "kvm_s390_gisc_register"
        what = f"{call} fails with -{_errno.errorcode[num]} in vfio_ap's AQIC enable"
    else:
        f.issuer = "host" if a.host else f.issuer
        f.delay_ns = a.delay
        to = "the host's CHSC event" if a.host else (
            f"events relayed to {a.guest}" if a.guest else "events relayed to every guest")
        what = f"{to} arrive {format_duration(a.delay)} later"
    table.arm(f)
    entry.detail = f"fault {f.id}: {what}{window}"


def _window_text(f: Fault) -> str:
    parts = []
    if f.end is not None:
        parts.append(f"until {format_duration(f.end)}")
    if f.count is not None:
        parts.append(f"first {f.count} time{'s' if f.count != 1 else ''}")
    return f" ({', '.join(parts)})" if parts else ""
