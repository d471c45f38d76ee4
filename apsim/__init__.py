"""apsim — a discrete-event simulator of the IBM Z Adjunct Processor (AP) crypto
facility and its virtualization for KVM guests through Linux's vfio_ap driver.

Layers (bottom to top): identifiers and masks (:mod:`apsim.ids`,
:mod:`apsim.masks`), hardware and instructions (:mod:`apsim.hw`), virtualization
(:mod:`apsim.kvm`), the host kernel (:mod:`apsim.linux`), guests and workloads
(:mod:`apsim.guest`), scenarios (:mod:`apsim.scenario`), results
(:mod:`apsim.report`) and the command line (:mod:`apsim.cli`). A lower layer never
imports a higher one.

The request path runs compiled with Cython when the package was built with a C
compiler, else as the same source in pure Python; ``APSIM_PURE=1`` forces the
pure form (:mod:`apsim._engine`).
"""

__version__ = "0.1.0"

from apsim import _engine

_engine.choose()
