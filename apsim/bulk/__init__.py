"""Bulk mode: long stationary stretches simulated with vectorized recursions.

:func:`run_window` advances a simulation to a given time, computing the
stationary stretches with numpy (Lindley / Kiefer–Wolfowitz recursions, pickup
grouping, the driver's slot limit) and handing back to the event engine for
anything else; :func:`applicable` says why a stretch cannot run in bulk. The
results — recorder rows, ledger counts, queue, adapter and workload counters —
are those of the event engine. See ``docs/performance.md``.

This package sits above :mod:`apsim.guest` (it drives workloads) and below the
scenario layer (which calls it for windows between admin events); it imports
nothing from ``apsim.linux``, ``apsim.kvm``, ``apsim.scenario`` or ``apsim.report``.
"""

from apsim.bulk.chunk import BulkStats
from apsim.bulk.kernels import fifo_starts, fifo_starts_multi, lindley_starts, pickup_starts
from apsim.bulk.window import applicable, run_window

__all__ = ["run_window", "applicable", "BulkStats", "fifo_starts", "fifo_starts_multi",
           "lindley_starts", "pickup_starts"]
