"""The default warm-up: which boots are left out of a run's statistics.

From its start until its AP bus has reset and bound its queues (QEMU's machine reset,
the kernel's boot, then 40 ms at the low poll rate: about 90 ms with the defaults,
apsim.guest.boot) a guest's requests wait in its driver or are not made yet, and
their latency says nothing about the steady state. Without a ``warmup:`` key in the scenario:

* the guests started at setup (first level, ``start: 0``) boot together: statistics
  start when the last of them is ready (the recorder's global ``warmup_ns``);
* every other boot -- a guest with a later ``start:``, a nested guest, a
  ``guest.start`` in the timeline, a restart -- is left out for that guest only, from
  its start to the moment its own AP bus was ready (the ``guest.ready`` event, not a
  fixed time), or to the end of the run when it never got ready.

An explicit ``warmup:`` replaces all of this (``warmup: 0`` keeps every request).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apsim.units import US, format_duration

if TYPE_CHECKING:
    from apsim.scenario.build import Simulation


def default_warmup(sim: Simulation) -> str | None:
    """Set the recorder's warm-up and per-guest boot windows; return what was excluded, in words."""
    sc = sim.scenario
    if "warmup" in sc.model_fields_set:
        return f"the scenario's warmup ({format_duration(sc.warmup)})" if sc.warmup else None
    now = int(sim.env.now)
    at_setup = {r.spec.name for r in sc.walk_guests() if r.depth == 1 and r.spec.start == 0}
    # The setup boot is a guest's first boot if it started at 0; its own ready time counts
    # (not ready_ns, the first ready of any boot: a guest stopped before its setup boot was
    # ready and started again would otherwise stretch everyone's warm-up to its restart).
    setup_boot = {n: sim.boots[n][0] for n in at_setup if sim.boots.get(n) and sim.boots[n][0][0] == 0}
    setup = sorted(n for n, b in setup_boot.items() if b[1] is not None)
    first = None
    if setup and max(int(setup_boot[n][1]) for n in setup) < now:
        end = max(int(setup_boot[n][1]) for n in setup)
        sim.recorder.warmup_ns = end
        first = (f"the boot of the {len(setup)} guest{'s' if len(setup) != 1 else ''} started at setup, "
                 f"until the last one's AP bus was ready ({format_duration(end)}")
    later = []
    owners = sim.recorder.owners
    for name, boots in sim.boots.items():
        if name not in owners:
            continue  # no request of it was ever recorded
        for i, (start, ready) in enumerate(boots):
            if i == 0 and name in setup_boot:
                continue  # the setup boot: the global warm-up above (or never ready: nothing to leave out)
            lo = int(start)
            hi = now if ready is None else int(ready)
            if hi <= lo:
                continue
            sim.recorder.excluded.append((owners.index(name), lo, hi))
            later.append(f"{name} {format_duration(lo)} to {format_duration(hi)}"
                         + (" (never ready)" if ready is None else ""))
    tail = "set warmup: 0 to keep it"
    if not later:
        return None if first is None else f"{first}; {tail})"
    each = "the boot of each guest started later, until its AP bus was ready (" + ", ".join(later)
    return f"{first}); {each}; {tail})" if first is not None else f"{each}; {tail})"


def boot_windows(sim: Simulation, name: str) -> list[dict[str, Any]]:
    """The boot windows left out of guest *name*'s statistics (after :func:`default_warmup`)."""
    if name not in sim.recorder.owners:
        return []
    owner = sim.recorder.owners.index(name)
    out = []
    for o, lo, hi in sim.recorder.excluded:
        if o == owner:
            boots = sim.boots.get(name, [])
            ready = any(b[1] is not None and int(b[1]) == hi for b in boots)
            out.append({"from_us": lo / US, "until_us": hi / US, "until": "ready" if ready else "end of run"})
    return out
