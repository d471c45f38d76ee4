"""The vfio_ap mediated-device driver (drivers/s390/crypto/vfio_ap_*.c).

:class:`VfioAp` is the module of one Linux: the matrix device, the mdevs and the
queues bound to vfio_ap. The submodules hold one job each: :mod:`.matrix` (the
AP matrix and its text formats), :mod:`.queue` (per-queue state), :mod:`.filter`
(guest APCB filtering), :mod:`.reset` (ZAPQ and its verification loop),
:mod:`.ops` (linking, hot plug/unplug, configuration callbacks, open/close,
the AQIC hook), :mod:`.ioctl` (the VFIO ioctls and the eventfds user space
registers), :mod:`.mdev` (an mdev's sysfs attributes) and
:mod:`.matrix_dev` (the driver, the mdev type and the VFIO entry points).
"""

from apsim.linux.vfio_ap.matrix_dev import VfioAp
from apsim.linux.vfio_ap.mdev import MatrixMdev

__all__ = ["MatrixMdev", "VfioAp"]
