"""How a timeline entry's expectation compares with what happened."""

from __future__ import annotations

import errno as _errno
from typing import Any

from apsim.engine.recorder import TimelineEntry

__all__ = ["errno_number", "expect_outcome"]


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
