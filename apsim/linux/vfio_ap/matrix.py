"""The AP matrix of a vfio_ap mediated device and its ``matrix`` text format.

Modelled on ``struct ap_matrix`` (drivers/s390/crypto/vfio_ap_private.h) and
``vfio_ap_mdev_matrix_show`` / ``vfio_ap_matrix_init`` (vfio_ap_ops.c). A matrix
is three 256-bit masks (APM adapters, AQM usage domains, ADM control domains) and
the largest id each may hold: Na / Nd from the matrix device's QCI copy when APXA
is reported (even when they are zero), else 63 / 15.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apsim.linux.apbus import NO_QCI_MAX_APID, NO_QCI_MAX_APQI, QciInfo
from apsim.masks import Mask


@dataclass
class APMatrix:
    """APM, AQM, ADM and their maxima (mutable: the masks are replaced, never edited)."""

    apm: Mask = field(default_factory=Mask.empty)
    aqm: Mask = field(default_factory=Mask.empty)
    adm: Mask = field(default_factory=Mask.empty)
    apm_max: int = NO_QCI_MAX_APID
    aqm_max: int = NO_QCI_MAX_APQI
    adm_max: int = NO_QCI_MAX_APQI

    def init_max(self, info: QciInfo) -> None:
        """``vfio_ap_matrix_init``: maxima from the QCI copy (APXA → Na/Nd, else 63/15)."""
        self.apm_max = info.na if info.apxa else NO_QCI_MAX_APID
        self.aqm_max = info.nd if info.apxa else NO_QCI_MAX_APQI
        self.adm_max = info.nd if info.apxa else NO_QCI_MAX_APQI

    def copy(self) -> APMatrix:
        """An independent copy (masks are immutable, so a shallow copy suffices)."""
        return APMatrix(self.apm, self.aqm, self.adm, self.apm_max, self.aqm_max, self.adm_max)

    def set_masks(self, other: APMatrix) -> None:
        """``ap_matrix_copy``: take the three masks of *other* (not its maxima)."""
        self.apm, self.aqm, self.adm = other.apm, other.aqm, other.adm


def matrix_show(m: APMatrix) -> str:
    """The ``matrix`` / ``guest_matrix`` text.

    Every assigned APQN ``AA.QQQQ`` (APIDs then APQIs ascending); ``AA.`` per adapter
    when no domain is assigned; ``.QQQQ`` per domain when no adapter is; nothing when
    neither. Ids above the maxima are not shown.
    """
    apids = [a for a in m.apm if a <= m.apm_max]
    apqis = [q for q in m.aqm if q <= m.aqm_max]
    if apids and apqis:
        return "".join(f"{a:02x}.{q:04x}\n" for a in apids for q in apqis)
    if apids:
        return "".join(f"{a:02x}.\n" for a in apids)
    return "".join(f".{q:04x}\n" for q in apqis)


def control_domains_show(m: APMatrix) -> str:
    """The ``control_domains`` text: ``%04x`` per assigned control domain up to the maximum."""
    return "".join(f"{d:04x}\n" for d in m.adm if d <= m.adm_max)


def ap_config_show(m: APMatrix) -> str:
    """The ``ap_config`` text: the three raw masks, comma separated."""
    return f"{m.apm.sysfs()},{m.aqm.sysfs()},{m.adm.sysfs()}\n"
