"""The SimPy internals apsim relies on, in one place, and the check that they still hold.

apsim schedules most events without SimPy's public API (docs/performance.md): it
pushes ``(time, priority, event id, event)`` entries on SimPy's heap itself and
draws their ids from SimPy's counter, so its events interleave with SimPy's own
in exactly SimPy's order at the cost of one heap push. These are the internals
(SimPy 4.x, ``simpy.core.Environment``):

* ``env._queue``: the heap of ``(time, priority, event id, event)`` tuples that
  ``step()`` pops (:func:`heap`);
* ``env._eid``: the ``itertools.count`` that ``schedule()`` draws event ids from
  (:func:`id_counter`, :func:`ids_issued`);
* ``env._now``: the clock ``now`` returns and ``step()`` sets (:func:`clock`,
  :func:`set_clock`). The engine reads it through :func:`clock`, a C call in the
  compiled form: the ``now`` property would cost more than the rest of many of
  those functions. The calendar sets it when it fires.

:func:`check` fails loudly when a SimPy release changes any of them;
:func:`apsim.engine.core.new_env` runs it on every environment it creates, and
tests/unit/engine/test_simpy_internals.py drives SimPy to prove the order still matches.
Only this module names ``_queue``, ``_eid`` and ``_now`` (the test scans the package).
"""

from __future__ import annotations

import itertools
from typing import Any

import simpy


class SimPyChanged(RuntimeError):
    """The installed SimPy no longer has an internal apsim's scheduling relies on."""


def heap(env: simpy.Environment) -> list[tuple[Any, int, int, Any]]:
    """SimPy's event heap of ``(time, priority, event id, event)`` entries."""
    return env._queue  # type: ignore[attr-defined]


def id_counter(env: simpy.Environment) -> itertools.count:
    """The counter SimPy draws event ids from (``next()`` it to schedule an entry)."""
    return env._eid  # type: ignore[attr-defined]


def clock(env: simpy.Environment) -> int:
    """SimPy's clock (what ``env.now`` returns), read without the property."""
    return env._now  # type: ignore[attr-defined]


def set_clock(env: simpy.Environment, t: int) -> None:
    """Advance SimPy's clock to *t* (the calendar, when it fires an entry of its own)."""
    env._now = t  # type: ignore[attr-defined]


def ids_issued(env: simpy.Environment) -> int:
    """How many event ids SimPy has issued, read without consuming one."""
    r = repr(env._eid)  # type: ignore[attr-defined]  # "count(N)"
    return int(r[r.index("(") + 1:r.index(")")].split(",")[0])


def check(env: simpy.Environment) -> None:
    """Raise :class:`SimPyChanged` unless *env* has the internals above, as described."""
    q = getattr(env, "_queue", None)
    eid = getattr(env, "_eid", None)
    problems = []
    if not isinstance(q, list):
        problems.append("Environment._queue is not the event heap (a list)")
    if not isinstance(eid, itertools.count):
        problems.append("Environment._eid is not an itertools.count")
    elif not repr(eid).startswith("count("):
        problems.append(f"repr(Environment._eid) is {repr(eid)!r}, not 'count(N)'")
    if getattr(env, "_now", None) != env.now:
        problems.append("Environment._now is not the clock Environment.now returns")
    if problems:
        raise SimPyChanged(f"SimPy {simpy.__version__} changed internals apsim schedules through "
                           f"(apsim/engine/simpy_internals.py): " + "; ".join(problems))
