"""``apsim validate``: sysfs paths in the timeline that the scenario's tree will not have.

The scenario is built and run to the end of its setup (1 ns), then each
``sysfs.read``/``sysfs.write`` path is walked in that Linux's virtual sysfs one
component at a time. A component shaped like an id that may appear later (an mdev
UUID, an APQN ``05.0004``, ``card05``) is replaced by an existing sibling of the
same shape, so ``.../matrix/<uuid created at 5ms>/assign_adapter`` is still checked
up to its attribute; with no such sibling the rest cannot be known and is skipped.
Below a queue or card directory nothing is reported: their attributes depend on
the driver bound at the time (vfio_ap adds ``status``).
Any other missing component is a mistake the run would turn into ENOENT (or EACCES
for a write): it is reported with the closest existing name. Actions that expect an
errno, and paths of guests not running at setup, are not checked.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from apsim.errors import ApsimError

__all__ = ["unknown_sysfs_paths", "suggest"]

_SHAPES = (
    re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    re.compile(r"^[0-9a-f]{2}\.[0-9a-f]{4}$"),
    re.compile(r"^card[0-9a-f]{2}$"),
)


def suggest(fs: Any, path: str) -> str | None:
    """None when *path* exists (or may appear later) in *fs*; else the rule with a did-you-mean."""
    parts = [p for p in path.split("/") if p]
    cur = ""
    for i, c in enumerate(parts):
        nxt = f"{cur}/{c}"
        if fs.exists(nxt):
            cur = nxt
            continue
        if any(s.match(p.lower()) for s in _SHAPES[1:] for p in parts[:i]):
            return None  # a queue's or card's attributes depend on its driver (vfio_ap adds status)
        names = fs.listdir(cur) if cur and fs.is_dir(cur) else []
        shape = next((s for s in _SHAPES if s.match(c.lower())), None)
        if shape is not None:
            same = [n for n in names if shape.match(n)]
            if not same:
                return None  # appears later (or not): nothing to compare with
            cur = f"{cur}/{same[0]}"
            continue
        close = difflib.get_close_matches(c, names, n=1, cutoff=0.6)
        where = cur or "/"
        hint = f"; did you mean {'/'.join(['', *parts[:i], close[0], *parts[i + 1:]])}?" if close else ""
        return f"{path}: the scenario's sysfs has no {c!r} in {where}{hint}"
    return None


def unknown_sysfs_paths(sc: Any) -> list[tuple[int, str]]:
    """``(timeline index, rule)`` for every sysfs path of *sc*'s timeline that cannot exist."""
    from apsim.scenario.build import build

    wanted = [a for a in sc.timeline if a.do in ("sysfs.read", "sysfs.write") and a.expect_errno is None]
    if not wanted:
        return []  # nothing to check: no need to build
    sim = build(sc)
    sim.env.run(until=1)
    out = []
    for i, a in enumerate(sc.timeline):
        if a.do not in ("sysfs.read", "sysfs.write") or a.expect_errno is not None:
            continue
        try:
            fs = sim.linux_of(a.guest).sysfs
        except (ApsimError, KeyError):
            continue  # a guest that is not running at setup
        rule = suggest(fs, a.path)
        if rule is not None:
            out.append((i, rule))
    return out
