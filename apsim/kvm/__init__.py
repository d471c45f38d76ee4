"""KVM guests: CRYCB/APCB formats, SIE interpretation, mask updates, nested guests.

* :mod:`apsim.kvm.crycb` — CRYCB formats 0/1/2 and the APCB0/APCB1 byte layout.
* :mod:`apsim.kvm.vm` — :class:`KVM`, one VM (APIE, AIV, GISA, PQAP hook, masks).
* :mod:`apsim.kvm.sie` — :class:`SieExecutor`, the guest's CPU interface.
* :mod:`apsim.kvm.vsie` — the shadow CRYCB of nested guests.
* :mod:`apsim.kvm.pv` — Secure Execution (protected) guests: where they run, their AP.

See ``docs/kvm.md``.
"""

from apsim.kvm.crycb import apcb_view, crycb_format, mask_widths
from apsim.kvm.sie import SieExecutor, VcpuBlocked, sie_dqap, sie_nqap
from apsim.kvm.vm import KVM, CpuFeatures, KvmOptions
from apsim.kvm.vsie import ShadowCrycb, effective_shadow, shadow_crycb

__all__ = [
    "KVM", "CpuFeatures", "KvmOptions", "ShadowCrycb", "SieExecutor", "VcpuBlocked",
    "apcb_view", "crycb_format", "effective_shadow", "mask_widths", "shadow_crycb",
    "sie_dqap", "sie_nqap",
]
