"""Timeline handlers for QEMU monitor commands on a guest's vfio-ap device.

``qemu.device_add`` / ``qemu.device_del`` (tp-libvirt's hot-plug path) and
``qemu.migrate``; the rules themselves live in :class:`apsim.guest.guest.Guest`
and :mod:`apsim.guest.qemu`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apsim.errors import SysfsError
from apsim.guest.qemu import QemuError
from apsim.engine.recorder import TimelineEntry
from apsim.scenario.expect import expect_outcome

if TYPE_CHECKING:
    from apsim.scenario.build import Simulation

__all__ = ["do_qemu"]


def do_qemu(sim: Simulation, a, entry: TimelineEntry) -> None:  # noqa: ANN001
    """QEMU monitor commands on a running guest; a refusal carries QEMU's (or vfio_ap's) text."""
    g = sim.guests[a.guest]
    try:
        if a.do == "qemu.device_add":
            g.device_add(a.mdev, a.id)
        elif a.do == "qemu.device_del":
            g.device_del(a.id)
        else:
            g.check_migratable()
        got = "ok"
    except (QemuError, SysfsError) as e:
        got = "refused"
        entry.outcome = getattr(e, "errno_name", None) or "refused"
        entry.detail = str(e)
    if a.expect is not None:
        expect_outcome(entry, a.expect, got)
