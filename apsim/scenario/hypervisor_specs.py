"""The ``host.zvm:`` block: what z/VM offers a Linux guest that owns the LPAR's crypto.

With ``host.hypervisor: zvm`` the scenario's host Linux is a z/VM guest to which the
LPAR's AP queues are dedicated. The kernel sees z/VM only through the facilities it is
given and ``MACHINE_IS_VM``: which AP facilities a z/VM level simulates is not in the
Linux sources, so the two that change the AP bus's behaviour are options.
"""

from __future__ import annotations

from apsim.engine.config import Facilities
from apsim.scenario.base import StrictModel

__all__ = ["ZvmSpec", "zvm_facilities"]


class ZvmSpec(StrictModel):
    """The AP facilities z/VM gives its Linux guest."""

    qci: bool = False
    """Facility 12 (PQAP QCI). Without it the AP bus has no configuration information:
    ap_max_adapter_id 63, ap_max_domain_id 15, every id up to them counts as configured
    and is probed with TAPQ (ap_test_config_card_id / ap_test_config_usage_domain)."""
    ap_interrupts: bool = False
    """Facility 65 (AP adapter interruptions). Without it ap_interrupts reads 0 and replies
    are polled at z/VM's 1.5 ms (ap_module_init, MACHINE_IS_VM)."""


def zvm_facilities(spec: ZvmSpec | None) -> Facilities:
    """The LPAR's AP facilities as the z/VM guest sees them."""
    spec = spec if spec is not None else ZvmSpec()
    return Facilities(apqci=spec.qci, apqi=spec.ap_interrupts)
