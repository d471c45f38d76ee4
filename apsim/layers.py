"""apsim's layers, bottom to top: the one table of which module may import which.

A module may import modules of its own layer and of the layers below it, never
one above (tests/unit/test_layers.py checks every import in the package, and that
docs/architecture.md shows this same order). A new package gets a row here.
"""

from __future__ import annotations

LAYERS: tuple[tuple[str, ...], ...] = (
    # identifiers, masks, time base, errors, the choice of compiled or pure form
    ("apsim", "apsim._engine", "apsim.layers", "apsim.units", "apsim.ids", "apsim.masks",
     "apsim.errors", "apsim.kernel", "apsim.argtypes"),
    # the engine, the only compiled code: SimPy environment and calendar, queues,
    # adapters, the NQAP/DQAP fast path, workloads and their ports, recorder rows
    ("apsim.engine",),
    ("apsim.hw",),        # machine, cards, timing, SE/SCLP, resets, checkstops
    ("apsim.kvm",),       # KVM: CRYCB, SIE, vSIE
    ("apsim.linux",),     # a Linux kernel: AP bus, zcrypt, vfio_ap, sysfs
    ("apsim.guest",),     # guests and their workloads
    ("apsim.bulk",),      # bulk mode: whole windows of a workload at once
    ("apsim.interop",),   # the ecosystem's formats: mdevctl, chzdev, libvirt, QEMU, k8s CEX plugin
    ("apsim.scenario",),  # YAML scenarios: schema, build, run
    ("apsim.report",),    # console, JSON, CSV, plots, traces
    ("apsim.mount", "apsim.experiments", "apsim.isolation"),  # live sysfs; sweeps; isolation check
    ("apsim.cli", "apsim.__main__"),
)
"""Each row is a layer; a name stands for a module or a package and everything in it."""


def layer_of(module: str) -> int | None:
    """The layer index of ``module`` (the longest listed name that is it or contains it;
    ``apsim`` itself stands for the package's ``__init__`` only), or ``None``."""
    best, best_len = None, -1
    for i, row in enumerate(LAYERS):
        for name in row:
            inside = module.startswith(name + ".") and name != "apsim"
            if (module == name or inside) and len(name) > best_len:
                best, best_len = i, len(name)
    return best
