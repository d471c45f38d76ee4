"""How a timeline entry's expectation compares with what happened."""

from __future__ import annotations

import errno as _errno
import re
from typing import Any

from apsim.engine.recorder import TimelineEntry

__all__ = ["errno_number", "expect_lines", "expect_outcome"]


def errno_number(name: Any) -> int | None:
    """The number of an errno name such as ``"EBUSY"`` (None for anything else)."""
    value = getattr(_errno, name, None) if isinstance(name, str) and name.startswith("E") else None
    return value if isinstance(value, int) else None


def expect_outcome(entry: TimelineEntry, expected: Any, actual: Any) -> None:
    """Record *expected* and *actual* on *entry* and whether they agree."""
    entry.expected, entry.actual = expected, actual
    # errno names compare by number: EOPNOTSUPP is ENOTSUP, EWOULDBLOCK is EAGAIN.
    num = errno_number(expected)
    entry.passed = expected == actual or (num is not None and num == errno_number(actual))


def expect_lines(entry: TimelineEntry, lines: list[str], expect: list[str] | None,
                 absent: list[str] | None) -> None:
    """Log expectations: each *expect* pattern (``re.search``) must match a line after the
    previous pattern's line; no line may match an *absent* one. Nothing is recorded when
    neither is given."""
    got: dict[str, Any] = {}
    want: dict[str, Any] = {}
    if expect is not None:
        found, pos = [], 0
        for pattern in expect:
            rx = re.compile(pattern)
            hit = next((i for i in range(pos, len(lines)) if rx.search(lines[i])), None)
            if hit is None:
                found.append(None)
            else:
                found.append(lines[hit])
                pos = hit + 1
        want["expect"] = list(expect)
        # A pattern that matched reports itself, one that did not reports None.
        got["expect"] = [p if f is not None else None for p, f in zip(expect, found)]
        got["matched"] = [f for f in found if f is not None]
    if absent is not None:
        want["absent"] = []
        got["absent"] = [p for p in absent if any(re.search(p, line) for line in lines)]
    if want:
        entry.outcome = "ok"
        entry.expected, entry.actual = want, got
        entry.passed = all(got[k] == want[k] for k in want)
