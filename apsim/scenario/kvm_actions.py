"""Timeline handler for ``kvm.masks``: what KVM last wrote into a guest's CRYCB.

vfio_ap pushes a guest's APCB through ``kvm_arch_crypto_set_masks`` (and empties it
with ``kvm_arch_crypto_clear_masks``); the expectation reads the CRYCB back through
its format, as the guest's SIE sees it, and counts the calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apsim.engine.recorder import TimelineEntry
from apsim.scenario.expect import expect_outcome

if TYPE_CHECKING:
    from apsim.scenario.build import Simulation

__all__ = ["do_kvm_masks"]


def do_kvm_masks(sim: Simulation, a, entry: TimelineEntry) -> None:  # noqa: ANN001
    """Compare the guest's CRYCB masks and KVM's update count with ``expect``."""
    g = sim.guests[a.guest]
    want = a.expect.model_dump(exclude_none=True)
    kvm = g.kvm
    if not g.running or kvm is None:
        entry.outcome = "guest not running"
        expect_outcome(entry, want, {"error": "guest not running"})
        return
    apm, aqm, adm = kvm.own_masks()
    updates = kvm.mask_updates
    state: dict[str, Any] = {"apm": list(apm), "aqm": list(aqm), "adm": list(adm),
                             "updates": len(updates), "last": updates[-1][1] if updates else None}
    entry.detail = (f"APM {state['apm']} AQM {state['aqm']} ADM {state['adm']}, "
                    f"{len(updates)} updates")
    expect_outcome(entry, want, {k: state[k] for k in want})
