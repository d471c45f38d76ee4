"""Simulation core: SimPy environment helpers shared by every layer.

The request path is built from state machines that react to callbacks, not from
a SimPy process per request: :func:`call_at` schedules a plain function on SimPy's
own event queue at the cost of one event, without a generator. Randomness comes
from named, seeded numpy streams (:class:`Streams`), so two runs with the same
seed draw the same numbers whatever order components are built in.
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
        heappush(env._queue, (env._now + delay, priority, next(env._eid), self))  # type: ignore[attr-defined]


def call_at(env: simpy.Environment, delay: int, fn: Callable[[Event], Any], arg: Any = None,
            priority: int = NORMAL) -> Event:
    """Run ``fn(event)`` after *delay* ns; ``event.value`` is *arg*.

    Events at the same time run in scheduling order (SimPy's event id breaks ties),
    which keeps runs deterministic.
    """
    if delay < 0:
        raise ValueError(f"negative delay {delay}")
    return _Call(env, delay, fn, arg, priority)


def new_env() -> simpy.Environment:
    """A SimPy environment whose clock starts at integer 0 ns."""
    return simpy.Environment(initial_time=0)


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
