"""Simulated time: an integer count of nanoseconds.

SimPy's clock in apsim only ever holds ints, so time never drifts and equal
timestamps tie deterministically. Scenario files write durations with a unit
suffix (``ns``, ``us``, ``ms``, ``s``); reports show microseconds.
"""

from __future__ import annotations

import re

NS = 1
US = 1_000
MS = 1_000_000
S = 1_000_000_000

MAX_TIME_NS = (1 << 63) - 1
"""The clock is a signed 64-bit count of ns in the compiled engine (about 292 years)."""

_UNITS = {"ns": NS, "us": US, "µs": US, "ms": MS, "s": S}
_DUR_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(ns|us|µs|ms|s)\s*$")


def parse_duration(value: str | int, *, allow_bare_int: bool = True) -> int:
    """Parse ``"1.5ms"`` into integer nanoseconds.

    A bare int is taken as nanoseconds. Negative values, unknown units and
    durations that are not a whole number of nanoseconds raise ValueError.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int):
        if not allow_bare_int:
            raise ValueError(f"{value!r} needs a unit (ns, us, ms, s)")
        if value < 0:
            raise ValueError(f"negative duration {value}")
        return _bounded(value, value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration (write e.g. 10ms)")
    if value.strip().startswith("-"):
        raise ValueError(f"negative duration {value!r}")
    m = _DUR_RE.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a duration (a number with ns, us, ms or s, e.g. 10ms)")
    number, unit = m.group(1), m.group(2)
    scale = _UNITS[unit]
    if "." in number:
        whole, frac = number.split(".")
        whole = whole or "0"
        frac_scaled = int(frac or "0") * scale
        denom = 10 ** len(frac or "0")
        if frac_scaled % denom:
            raise ValueError(f"{value!r} is not a whole number of nanoseconds")
        return _bounded(int(whole) * scale + frac_scaled // denom, value)
    return _bounded(int(number) * scale, value)


def _bounded(ns: int, text: str | int) -> int:
    if ns > MAX_TIME_NS:
        raise ValueError(f"{text!r} is beyond the simulated clock's range (at most 2**63-1 ns, "
                         f"about 292 years)")
    return ns


def ns_to_us(ns: int | float) -> float:
    """Nanoseconds to microseconds for reports."""
    return ns / US


def format_duration(ns: int) -> str:
    """Shortest exact text for a duration: ``1500000`` → ``1500us``, ``30000000000`` → ``30s``."""
    for unit, scale in (("s", S), ("ms", MS), ("us", US)):
        if ns % scale == 0 and ns >= scale:
            return f"{ns // scale}{unit}"
    return f"{ns}ns"
