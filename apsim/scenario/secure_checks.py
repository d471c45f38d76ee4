"""Where a scenario asks for a Secure Execution guest that cannot exist.

The rules are :func:`apsim.kvm.pv.problems` (QEMU's and KVM's refusals); this module
only walks the scenario's guests and locates each problem at its key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from apsim.kvm import pv

if TYPE_CHECKING:
    from apsim.scenario.schema import GuestRef, Scenario

Loc = tuple[str | int, ...]


def check_secure(sc: Scenario, ref: GuestRef) -> Iterator[tuple[Loc, str]]:
    """Every Secure Execution problem of the guest *ref*, as ``(loc, rule)``."""
    g, parent = ref.spec, ref.parent
    # A guest inside an SE guest is reported once, at the SE guest's ``guests`` key.
    for key, rule in pv.problems(g.name, sc.machine.model, secure=g.secure,
                                 parent=parent.name if parent is not None else None,
                                 hosts_guests=bool(g.guests or g.mdevs), ap_device=g.mdev is not None):
        yield (*ref.loc, key), rule
