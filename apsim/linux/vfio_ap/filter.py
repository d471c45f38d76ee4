"""Guest APCB filtering: which assigned adapters, domains and control domains a guest gets.

Modelled on ``vfio_ap_mdev_filter_matrix`` and ``vfio_ap_mdev_filter_cdoms``
(drivers/s390/crypto/vfio_ap_ops.c), reference §11.4:

1. shadow APM := assigned APM ∩ host QCI APM, shadow AQM := assigned AQM ∩ host
   QCI AQM (maxima re-initialised from the QCI copy);
2. an adapter of the shadow APM is dropped when any of its APQNs with the shadow
   AQM is not *passable* (bound to vfio_ap, linked to this mdev, last reset RC
   0x00/0x03/0x04); the architecture cannot hide a single APQN, so the whole
   adapter goes; domains are never dropped for this reason;
3. shadow ADM := assigned ADM ∩ host QCI ADM.

The result is the rectangle "adapters all of whose in-configuration domains are
passable" × "assigned in-configuration domains". The caller pushes a changed
shadow to the guest and resets the queues of adapters the guest lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apsim.ids import apqn
from apsim.masks import Mask

if TYPE_CHECKING:
    from apsim.linux.apbus import QciInfo
    from apsim.linux.vfio_ap.mdev import MatrixMdev


def filter_matrix(mdev: MatrixMdev, info: QciInfo) -> tuple[bool, Mask]:
    """Recompute the shadow APM/AQM; returns (changed, APIDs removed from the guest)."""
    prev_apm, prev_aqm = mdev.shadow.apm, mdev.shadow.aqm
    mdev.shadow.init_max(info)
    apm = mdev.matrix.apm & info.apm
    aqm = mdev.matrix.aqm & info.aqm
    filtered: list[int] = []
    keep = set(apm)
    apqis = aqm.ids()
    for apid in apm:
        for apqi in apqis:
            q = mdev.qtable.get(apqn(apid, apqi))
            if q is None or not q.passable:
                keep.discard(apid)
                if apid in prev_apm:
                    filtered.append(apid)
                break
    mdev.shadow.apm = Mask.from_ids(keep)
    mdev.shadow.aqm = aqm
    changed = mdev.shadow.apm != prev_apm or mdev.shadow.aqm != prev_aqm
    return changed, Mask.from_ids(filtered)


def filter_cdoms(mdev: MatrixMdev, info: QciInfo) -> bool:
    """Recompute the shadow ADM; returns whether it changed."""
    prev = mdev.shadow.adm
    mdev.shadow.adm = mdev.matrix.adm & info.adm
    return mdev.shadow.adm != prev
