"""The host kernel: the Linux AP bus and the vfio_ap driver behind a virtual sysfs.

:class:`~apsim.linux.host.Host` is one Linux (an LPAR's, or a guest's when its CPU
is a SIE executor); :func:`~apsim.linux.lszcrypt.render` prints its ``lszcrypt``.
"""

from apsim.linux.host import Host

__all__ = ["Host"]
