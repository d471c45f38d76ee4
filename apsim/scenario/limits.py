"""Bounds on what a scenario file may ask for, checked before any work grows with it.

A scenario file is user input: a few hundred bytes of YAML can describe gigabytes
(an alias bomb), a thousand brackets exhaust Python's stack in the composer, and a
trace "file" may be an endless device. Every limit here is far above what a real
scenario uses (the largest shipped one is 4 KB, 6 levels deep, about 2,000 nodes)
and far below what hurts; docs/robustness.md lists them with their reasons.

The YAML check walks the parser's *events*, which ruamel produces with an explicit
state stack (no recursion) and without building anything, so it costs one linear
pass and bounds depth and alias expansion before the composer and ``plain()`` run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.events import (AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent,
                                ScalarEvent)

from apsim.errors import ScenarioError

__all__ = ["MAX_FILE_BYTES", "MAX_TRACE_BYTES", "MAX_DEPTH", "MAX_NODES", "MAX_RATE",
           "read_bounded", "check_yaml_events"]

MAX_FILE_BYTES = 1 << 20
"""A scenario file: 1 MiB, 250 times the largest shipped one (counted guests keep files small)."""

MAX_TRACE_BYTES = 64 << 20
"""An arrival-trace file: 64 MiB, about 5 million arrival lines."""

MAX_DEPTH = 64
"""Nested mappings/lists: the schema needs at most about 12 (nested guests add 3 each)."""

MAX_NODES = 200_000
"""YAML nodes after alias expansion: a 64-guest scenario has about 2,000."""

MAX_RATE = 1e9
"""Open-loop arrivals per second: the clock counts whole nanoseconds, so one per ns at most."""


def read_bounded(path: str | Path, limit: int, what: str) -> str:
    """The UTF-8 text of *path*, refusing more than *limit* bytes without reading further.

    Works for devices and pipes too (``/dev/zero`` stops at the limit). Raises
    :class:`ScenarioError` naming the file; ``FileNotFoundError``/``IsADirectoryError``/
    ``OSError`` pass through for the caller to word.
    """
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ScenarioError(f"{what} is larger than {_size(limit)} (the limit; see docs/robustness.md)",
                            file=str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError(f"not UTF-8 text ({e.reason} at byte {e.start})", file=str(path)) from None


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


def check_yaml_events(text: str, file: str) -> None:
    """Refuse YAML nested deeper than :data:`MAX_DEPTH` or expanding to more than :data:`MAX_NODES`.

    Each anchored node's expanded size is remembered, so an alias counts as the whole
    subtree it stands for: the nine-level "billion laughs" is caught at its first
    oversized alias, before anything is built. Syntax errors are left to the loader.
    """
    _check_flow_depth(text, file)
    sizes: dict[str, int] = {}
    # One frame per open collection: [anchor, nodes so far]; the bottom frame is the document.
    stack: list[list[Any]] = [[None, 0]]
    total = 0
    for ev in YAML(typ="rt").parse(text):
        if isinstance(ev, CollectionStartEvent):
            if len(stack) > MAX_DEPTH:
                raise ScenarioError(f"nesting deeper than {MAX_DEPTH} levels (the limit; a scenario "
                                    f"needs about 12)", file=file, line=_line(ev))
            stack.append([ev.anchor, 1])
        elif isinstance(ev, CollectionEndEvent):
            anchor, n = stack.pop()
            if anchor:
                sizes[anchor] = n
            stack[-1][1] += n
        elif isinstance(ev, NodeEvent):
            n = sizes.get(ev.anchor, 1) if isinstance(ev, AliasEvent) else 1
            if isinstance(ev, ScalarEvent) and ev.anchor:
                sizes[ev.anchor] = 1
            stack[-1][1] += n
            total = sum(frame[1] for frame in stack)
        if total > MAX_NODES:
            raise ScenarioError(f"the YAML expands to more than {MAX_NODES:,} nodes (aliases count "
                                f"as the nodes they repeat; the limit, a scenario needs a few "
                                f"thousand)", file=file, line=_line(ev))


# Flow brackets, quoted scalars (skipped whole; a quote opens one only after a space,
# a flow indicator or the line start, as in YAML) and comments.
_FLOW_RE = re.compile(r"""[\[\]{}]|(?<![^\s\[{,:])(?:'(?:[^']|'')*'|"(?:[^"\\]|\\.)*")|(?<!\S)#[^\n]*""")


def _check_flow_depth(text: str, file: str) -> None:
    # ruamel's scanner looks ahead over every "[" that might start an implicit key
    # before the parser yields an event, which is quadratic in a run of brackets; this
    # linear pass refuses deep flow nesting first. (Block nesting needs no pre-pass.)
    depth = 0
    for m in _FLOW_RE.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ScenarioError(f"nesting deeper than {MAX_DEPTH} levels (the limit; a scenario "
                                    f"needs about 12)", file=file, line=text.count("\n", 0, m.start()) + 1)
        elif c in "]}":
            depth = max(0, depth - 1)


def _line(ev: Any) -> int | None:
    mark = getattr(ev, "start_mark", None)
    return mark.line + 1 if mark is not None else None
