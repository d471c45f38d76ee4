"""A progress bar for long runs: shown on a terminal only, and only after a second.

The runner calls :meth:`Progress.update` with the simulated time now and the time
the run ends; the bar appears once a second of wall time has passed (short runs
stay silent), never when the output is not a terminal or ``--quiet`` was given,
and disappears when the run is done. ``update`` is cheap enough to call every few
thousand events: without a bar it only reads the monotonic clock.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["Progress", "make_progress", "SHOW_AFTER_S"]

SHOW_AFTER_S = 1.0


class Progress:
    """Progress of one run in simulated time; a no-op when *enabled* is false."""

    def __init__(self, *, enabled: bool = True, stream: TextIO | None = None,
                 description: str = "simulating", show_after_s: float = SHOW_AFTER_S) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.description = description
        self.show_after_s = show_after_s
        self._t0 = time.monotonic()
        self._bar: Any = None
        self._task: Any = None
        self.last: tuple[int, int] = (0, 0)

    def __enter__(self) -> Progress:
        self._t0 = time.monotonic()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def shown(self) -> bool:
        """Whether the bar is on screen."""
        return self._bar is not None

    def update(self, sim_now_ns: int, duration_ns: int) -> None:
        """Report that simulated time *sim_now_ns* of *duration_ns* has been reached."""
        self.last = (sim_now_ns, duration_ns)
        if not self.enabled:
            return
        if self._bar is None:
            if time.monotonic() - self._t0 < self.show_after_s:
                return
            self._start(duration_ns)
        self._bar.update(self._task, completed=min(sim_now_ns, duration_ns), total=max(duration_ns, 1))

    def _start(self, duration_ns: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        console = Console(file=self.stream)
        self._bar = RichProgress(
            TextColumn("[progress.description]{task.description}"), BarColumn(),
            TextColumn("{task.percentage:>5.1f}% of simulated time"), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(),
            console=console, transient=True)
        self._bar.start()
        self._task = self._bar.add_task(self.description, total=max(duration_ns, 1))

    def close(self) -> None:
        """Remove the bar (if it was shown)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def make_progress(*, quiet: bool = False, stream: TextIO | None = None,
                  description: str = "simulating") -> Progress:
    """A progress bar enabled only when *stream* (default stderr) is a terminal and not *quiet*."""
    s = stream if stream is not None else sys.stderr
    try:
        tty = bool(s.isatty())
    except (AttributeError, ValueError):
        tty = False
    return Progress(enabled=tty and not quiet, stream=s, description=description)
