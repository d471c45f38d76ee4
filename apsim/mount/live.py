"""A running simulation shared between a wall clock and many FUSE threads.

:class:`LiveSim` builds a scenario exactly as ``apsim run`` does (same build, same
timeline) and then moves simulated time in one of two ways:

* ``realtime``: a clock thread keeps simulated time at wall time × *speed* since the
  mount started. It advances in short slices (at most :data:`SLICE_WALL_S` of wall
  time each with the lock held) so a tool's request waits for one slice at most; a
  scenario too heavy to follow wall time falls behind (``.apsim/time`` shows the
  lag) instead of blocking the mount.
* ``manual``: time moves only through :meth:`LiveSim.advance` (``.apsim/advance``).

Every model access goes through :meth:`LiveSim.locked`. The lock is never held while
waiting for anything but the model itself, so a tool that reads the mount while
another tool's write is being served (mdevctl's ap-check callout) never deadlocks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from apsim.errors import ApsimError, ScenarioError
from apsim.linux.host import Host
from apsim.linux.sysfs import Sysfs
from apsim.scenario.build import Simulation, build
from apsim.scenario.run import schedule_timeline
from apsim.scenario.schema import Scenario
from apsim.units import format_duration

CLOCKS = ("realtime", "manual")
SLICE_WALL_S = 0.005
"""Longest stretch of wall time the clock thread holds the model lock."""
TICK_S = 0.01
"""How often the realtime clock catches up with the wall clock."""
STORE_WAIT_LIMIT_NS = 10 * 1_000_000_000
"""The longest simulated time a blocking store (queue resets verified inside it) waits."""
T = TypeVar("T")


def check_guest(scenario: Scenario, guest: str | None, file: str | None = None) -> None:
    """Raise ScenarioError when *guest* is given but the scenario has no such guest."""
    if guest is None:
        return
    names = [r.spec.name for r in scenario.walk_guests()]
    if guest not in names:
        raise ScenarioError(f"no guest named {guest!r} (guests: {', '.join(names) or 'none'})", file=file)


def settle(sim: Simulation) -> None:
    """Process every event due at the current time without moving the clock."""
    env = sim.env
    while env.peek() <= env.now:
        env.step()


def run_to(sim: Simulation, target_ns: int) -> None:
    """Advance *sim* to *target_ns* (processing the events due there too)."""
    if target_ns > sim.env.now:
        sim.env.run(until=target_ns)
    settle(sim)


def sysfs_at(scenario: Scenario, at_ns: int, guest: str | None = None,
             file: str | None = None) -> tuple[Simulation, Sysfs]:
    """Build *scenario*, run it to *at_ns* and return the host's (or *guest*'s) sysfs."""
    check_guest(scenario, guest, file)
    sim = build(scenario)
    schedule_timeline(sim)
    settle(sim)
    run_to(sim, at_ns)
    linux = linux_of(sim, guest)
    if linux is None:
        raise ScenarioError(f"guest {guest!r} is not running at {format_duration(at_ns) if at_ns else '0'}"
                            " (it has not started, has stopped, or its Linux has no AP bus)", file=file)
    return sim, linux.sysfs


def linux_of(sim: Simulation, guest: str | None) -> Host | None:
    """The Linux whose sysfs is served: the host's, or the guest's own (None while it is down)."""
    if guest is None:
        return sim.host
    g = sim.guests.get(guest)
    return None if g is None or not g.running else g.linux


class LiveSim:
    """A simulation whose time follows the wall clock (×speed) or is advanced by hand."""

    def __init__(self, scenario: Scenario, *, guest: str | None = None, clock: str = "realtime",
                 speed: float = 1.0, seed: int | None = None) -> None:
        if clock not in CLOCKS:
            raise ApsimError(f"--clock {clock!r}: use realtime or manual")
        if not speed > 0 or speed > 1e6:
            raise ApsimError(f"--speed {speed}: must be above 0 and at most 1e6")
        check_guest(scenario, guest)
        self.scenario = scenario
        self.guest = guest
        self.clock = clock
        self.speed = speed
        self.sim = build(scenario, seed=seed)
        schedule_timeline(self.sim)
        settle(self.sim)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wall0 = time.monotonic()
        self._sim0 = self.sim.env.now
        self.error: BaseException | None = None  # a crash of the clock thread

    # --- access -----------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[Simulation]:
        """Hold the model for one short operation (a read, a store, a listing)."""
        with self._lock:
            yield self.sim

    def call(self, fn: Callable[[Simulation], T]) -> T:
        """Run ``fn(sim)`` with the model held."""
        with self._lock:
            return fn(self.sim)

    def linux(self) -> Host | None:
        """The served Linux now (call with the model held)."""
        return linux_of(self.sim, self.guest)

    @property
    def now_ns(self) -> int:
        """The current simulated time."""
        return int(self.sim.env.now)

    def wall_target_ns(self) -> int:
        """Where a realtime clock should be now."""
        return self._sim0 + int((time.monotonic() - self._wall0) * self.speed * 1e9)

    # --- moving time ----------------------------------------------------------------------------
    def advance(self, delta_ns: int) -> None:
        """Move simulated time forward by *delta_ns*, in slices that let readers in between."""
        if delta_ns < 0:
            raise ApsimError("time cannot go backwards")
        with self._lock:
            target = self.sim.env.now + delta_ns
            self._sim0 += delta_ns  # a realtime clock keeps the jump
        self._run_until(target)

    def _run_until(self, target: int) -> None:
        env = self.sim.env
        while not self._stop.is_set():
            with self._lock:
                if env.now >= target:
                    settle(self.sim)
                    return
                deadline = time.perf_counter() + SLICE_WALL_S
                while env.peek() < target and time.perf_counter() < deadline:
                    env.step()
                if env.peek() >= target:
                    run_to(self.sim, target)
                    return

    def wait_until(self, done: Callable[[], bool], limit_ns: int = STORE_WAIT_LIMIT_NS) -> bool:
        """Block the caller until ``done()`` (checked with the model held) or *limit_ns* passed.

        This is how a store that waits in the kernel blocks its writer for simulated
        time: with the realtime clock, the clock thread moves time and the caller
        sleeps (the lock is free meanwhile); with the manual clock, the wait itself
        moves time event by event, exactly as far as the kernel would have waited.
        """
        env = self.sim.env
        with self._lock:
            end = env.now + limit_ns
        wall_end = time.monotonic() + limit_ns / 1e9 / self.speed + 5.0
        while not self._stop.is_set():
            with self._lock:
                if done():
                    return True
                if env.now >= end:
                    return False
                if self.clock != "realtime":
                    deadline = time.perf_counter() + SLICE_WALL_S
                    while not done() and env.peek() <= end and time.perf_counter() < deadline:
                        env.step()
                    if not done() and env.peek() > end:
                        run_to(self.sim, end)
                    continue
            if time.monotonic() > wall_end:
                return False
            time.sleep(TICK_S / 5)
        return False

    def start(self) -> None:
        """Start the realtime clock thread (nothing to do for a manual clock)."""
        self._wall0 = time.monotonic()
        self._sim0 = self.sim.env.now
        if self.clock != "realtime":
            return
        self._thread = threading.Thread(target=self._clock_loop, name="apsim-clock", daemon=True)
        self._thread.start()

    def _clock_loop(self) -> None:
        try:
            while not self._stop.wait(TICK_S):
                self._run_until(self.wall_target_ns())
        except BaseException as e:  # noqa: BLE001 - reported through .apsim/last_error and the exit
            self.error = e

    def stop(self) -> None:
        """Stop the clock thread (the model stays as it is, for the final report)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
