"""The sweep's progress bar: runs done of total, failures, ETA; on a terminal only."""

from __future__ import annotations

import sys
from typing import Any, TextIO

__all__ = ["SweepProgress"]


class SweepProgress:
    """A rich progress bar over a sweep's runs; a no-op when not on a terminal or *quiet*."""

    def __init__(self, total: int, *, quiet: bool = False, stream: TextIO | None = None,
                 description: str = "runs") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = not quiet and self.stream.isatty()
        self.done = 0
        self.failed = 0
        self._bar: Any = None
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                                 TextColumn("ETA"), TimeRemainingColumn(),
                                 console=Console(file=self.stream), transient=False)
            self._task = self._bar.add_task(description, total=total, failed=0)

    def __enter__(self) -> SweepProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def add_total(self, n: int) -> None:
        """More runs are coming (a search's next probe)."""
        if self._bar is not None:
            task = self._bar.tasks[0]
            self._bar.update(self._task, total=(task.total or 0) + n)

    def advance(self, runs: int, failed: int) -> None:
        """*runs* more finished, *failed* of them with an error."""
        self.done += runs
        self.failed += failed
        if self._bar is not None:
            self._bar.update(self._task, advance=runs, failed=self.failed)
