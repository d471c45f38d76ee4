"""Simulation core: SimPy environment helpers shared by every layer.

The request path is built from state machines that react to callbacks, not from
a SimPy process per request: :func:`call_at` schedules a plain function on SimPy's
own event queue at the cost of one event, without a generator. Randomness comes
from named, seeded numpy streams (:class:`Streams`), so two runs with the same
seed draw the same numbers whatever order components are built in.

For the per-request path there is a cheaper form still: a :class:`Hook` is a
long-lived object (an engine, a workload's arrival clock, a queue's pickup timer,
a request's reply event) that is scheduled again and again on the environment's
:class:`~apsim.engine.calendar.Calendar`. SimPy's ``Environment.step`` only needs
``callbacks`` and ``_ok`` from what it pops, and the calendar does the same, so a
hook firing allocates no event object. The order stays SimPy's: hooks interleave
with every other event by (time, priority, event id) exactly as :func:`call_at`
events do.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from heapq import heappush
from typing import Any

import numpy as np
import simpy
from simpy.core import NORMAL
from simpy.events import Event

from apsim.engine.simpy_internals import check, clock, heap, id_counter, ids_issued

URGENT = 0  # SimPy's EventPriority.URGENT value


class _Call(Event):
    """A pre-triggered event whose only callback is a plain function.

    Cheaper than ``Timeout`` plus ``callbacks.append``: one object, one heap push.
    """

    def __init__(self, env: simpy.Environment, delay: int, fn: Callable[[Event], Any], arg: Any,
                 priority: int = NORMAL) -> None:
        self.env = env
        self.callbacks = [fn]
        self._value = arg
        self._ok = True
        heappush(heap(env), (clock(env) + delay, priority, next(id_counter(env)), self))


def call_at(env: simpy.Environment, delay: int, fn: Callable[[Event], Any], arg: Any = None,
            priority: int = NORMAL) -> Event:
    """Run ``fn(event)`` after *delay* ns; ``event.value`` is *arg*.

    Events at the same time run in scheduling order (SimPy's event id breaks ties),
    which keeps runs deterministic.
    """
    if delay < 0:
        raise ValueError(f"negative delay {delay}")
    return _Call(env, delay, fn, arg, priority)


class Hook:
    """A reusable event: an object that calls its callbacks each time it fires.

    ``Environment.step`` pops ``(time, priority, eid, event)``, sets
    ``event.callbacks`` to None after calling each callback with the event, and
    reads ``event._ok``. A Hook provides exactly that, so it can sit on SimPy's
    heap — or, on the request path, on the environment's
    :class:`~apsim.engine.calendar.Calendar` — without being an
    :class:`~simpy.events.Event`: no per-firing object, no callback list.
    Invariant: a hook is scheduled at most once — it is pending while
    ``callbacks is not None`` (cleared when the hook fires).
    Subclasses add ``__slots__`` for their own state; the callback receives the
    hook itself.
    """

    __slots__ = ("callbacks",)
    _ok = True  # SimPy checks it after the callbacks ran

    def __init__(self) -> None:
        self.callbacks: tuple[Callable[[Any], Any], ...] | None = None

    @property
    def pending(self) -> bool:
        """Whether the hook is scheduled and has not fired yet."""
        return self.callbacks is not None

    def _warm(self) -> None:
        """Start loading what this hook's next firing will read (compiled form only).

        The calendar calls it on its next hook one firing ahead (see
        ``Calendar._warm_next``); it must only issue prefetches, never change state.
        The default has nothing to add to the hook itself.
        """


class Pickup(Hook):
    """A deferrable interruption target (see :func:`apsim.engine.queue.deferrable`).

    An interruption for it means "pick the replies of the queue up ``pickup_ns``
    later", so a planned adapter folds the interruption and the pickup into one
    firing that calls :meth:`pickup`. Subclassing it (a workload's ``Target`` does)
    lets the compiled adapter make that call without a Python-level lookup.
    ``picked_at`` is the adapter's record of when it last made the target pick up
    (-1: never), from which it tells whether a pickup was pending at an interruption;
    the adapter sets it to the current time just before it calls :meth:`pickup`.
    """

    __slots__ = ("pickup_ns", "picked_at")

    def __init__(self) -> None:
        self.callbacks = None
        self.pickup_ns = 0
        self.picked_at = -1

    def pickup(self, queue: object) -> None:
        """Take the replies waiting on *queue* now."""
        raise NotImplementedError


class VcpuGate:
    """When a VM's vCPUs can issue instructions again: ``until`` (ns), 0 if never blocked.

    KVM keeps it current whenever it blocks the vCPUs for a mask update, so a
    workload's hot path reads one integer instead of calling ``KVM.ready_at``.
    """

    __slots__ = ("until",)

    def __init__(self) -> None:
        self.until = 0


def disarm(hook: Hook) -> None:
    """Make a pending hook fire as a no-op (its heap entry stays until SimPy pops it).

    A disarmed hook must not be armed again: its stale entry is still on the heap.
    Owners replace a disarmed hook with a fresh one.
    """
    if hook.callbacks is not None:
        hook.callbacks = _NOOP


def _noop(_ev: object) -> None:
    return None


_NOOP = (_noop,)


def events_scheduled(env: simpy.Environment) -> int:
    """How many events SimPy has scheduled so far (its event-id counter), for benchmarks."""
    return ids_issued(env)


def new_env() -> simpy.Environment:
    """A SimPy environment whose clock starts at integer 0 ns (checked to have the
    internals apsim schedules through: :mod:`apsim.engine.simpy_internals`)."""
    env = simpy.Environment(initial_time=0)
    check(env)
    return env


class Streams:
    """Independent, named random streams derived from one seed.

    ``streams.get("adapter.05")`` always gives the same generator for the same seed
    and name, independent of creation order.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._gens: dict[str, np.random.Generator] = {}

    def get(self, name: str) -> np.random.Generator:
        """The generator of the stream *name* (created on first use)."""
        g = self._gens.get(name)
        if g is None:
            key = zlib.crc32(name.encode())
            g = np.random.default_rng(np.random.SeedSequence([self.seed & 0xFFFFFFFFFFFFFFFF, key]))
            self._gens[name] = g
        return g
