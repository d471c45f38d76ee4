"""Dotted paths: parameters into a scenario file, metrics into a JSON report.

A parameter path is keys separated by dots, each optionally followed by list
subscripts: ``guests[0].count``, ``machine.adapters[0].engines``,
``guests[*].workload.concurrency`` (``[*]`` = every item). It addresses the file as
written (before counted entries expand), so ``guests[0].count`` is the number of
guests that entry declares.

A metric path addresses the JSON report (``latency.p99_us``,
``guests.*.p99_us``): ``*`` stands for every key of a mapping, and the run's row gets
one column per key it matched (``guests.g00.p99_us``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = ["PathError", "parse_path", "set_path", "expand_metric", "STAR"]

STAR = "*"

_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)((?:\[(?:\d+|\*)\])*)$")
_INDEX = re.compile(r"\[(\d+|\*)\]")

Step = str | int


class PathError(ValueError):
    """A path that is malformed or does not lead anywhere in the document."""


def parse_path(text: str) -> tuple[Step, ...]:
    """``guests[*].workload.rate`` → ``("guests", "*", "workload", "rate")``."""
    if not isinstance(text, str) or not text.strip():
        raise PathError("a parameter path is keys separated by dots, e.g. guests[0].count")
    steps: list[Step] = []
    for seg in text.strip().split("."):
        m = _SEGMENT.match(seg)
        if m is None:
            raise PathError(f"{text!r}: {seg!r} is not a key with optional [N] or [*] subscripts "
                            f"(e.g. guests[0].count)")
        steps.append(m.group(1))
        steps.extend(STAR if i == STAR else int(i) for i in _INDEX.findall(m.group(2)))
    return tuple(steps)


def set_path(doc: Any, steps: tuple[Step, ...], value: Any) -> int:
    """Set *value* at every place *steps* reach in *doc*; returns how many places.

    The last key may be new (``guests[0].count`` on an entry without one); every
    other step must exist.
    """
    places = list(_parents(doc, steps[:-1], ()))
    last = steps[-1]
    n = 0
    for parent, where in places:
        if last == STAR:
            if not isinstance(parent, list | dict):
                raise PathError(f"{_fmt(where)} is a {_kind(parent)}, not a list or mapping")
            keys = range(len(parent)) if isinstance(parent, list) else list(parent)
            for k in keys:
                parent[k] = value
                n += 1
        elif isinstance(last, int):
            if not isinstance(parent, list) or not 0 <= last < len(parent):
                raise PathError(_missing(parent, where, last))
            parent[last] = value
            n += 1
        else:
            if not isinstance(parent, dict):
                raise PathError(f"{_fmt(where)} is a {_kind(parent)}, not a mapping with key {last!r}")
            parent[last] = value
            n += 1
    return n


def _parents(node: Any, steps: tuple[Step, ...], where: tuple[Step, ...]) -> Iterator[tuple[Any, tuple]]:
    if not steps:
        yield node, where
        return
    step, rest = steps[0], steps[1:]
    if step == STAR:
        if isinstance(node, list):
            items: Any = enumerate(node)
        elif isinstance(node, dict):
            items = node.items()
        else:
            raise PathError(f"{_fmt(where)} is a {_kind(node)}, not a list or mapping")
        for k, child in items:
            yield from _parents(child, rest, (*where, k))
        return
    ok = (isinstance(step, int) and isinstance(node, list) and 0 <= step < len(node)) or \
         (isinstance(step, str) and isinstance(node, dict) and step in node)
    if not ok:
        raise PathError(_missing(node, where, step))
    yield from _parents(node[step], rest, (*where, step))


def _missing(node: Any, where: tuple[Step, ...], step: Step) -> str:
    here = _fmt(where) or "the scenario"
    if isinstance(step, int):
        size = len(node) if isinstance(node, list) else 0
        return f"{here} has no item [{step}] ({size} item{'s' if size != 1 else ''})"
    keys = ", ".join(map(str, node)) if isinstance(node, dict) else ""
    return f"{here} has no key {step!r}" + (f" (keys: {keys})" if keys else "")


def _fmt(where: tuple[Step, ...]) -> str:
    out = ""
    for s in where:
        out += f"[{s}]" if isinstance(s, int) else (f".{s}" if out else str(s))
    return out


def _kind(v: Any) -> str:
    return "list" if isinstance(v, list) else "mapping" if isinstance(v, dict) else type(v).__name__


def expand_metric(report: dict[str, Any], pattern: str) -> list[tuple[str, Any]]:
    """The (column, value) pairs *pattern* matches in *report*, in the report's key order.

    A number, boolean or null is a value. A key the report lacks, or a path that ends
    at a mapping or list, is a :class:`PathError` (a misspelt metric must not pass
    unnoticed); ``*`` over an empty mapping matches nothing.
    """
    parts = pattern.split(".")
    out: list[tuple[str, Any]] = []

    def walk(node: Any, i: int, name: tuple[str, ...]) -> None:
        here = ".".join(name) or "the report"
        if i == len(parts):
            if node is None or isinstance(node, bool | int | float):
                out.append((".".join(name), node))
                return
            raise PathError(f"metric {pattern!r}: {here} is a {_kind(node)}, not a number "
                            f"(name a key inside it)")
        if not isinstance(node, dict):
            raise PathError(f"metric {pattern!r}: {here} is a {_kind(node)}, it has no key {parts[i]!r}")
        if parts[i] == STAR:
            for k, child in node.items():
                walk(child, i + 1, (*name, str(k)))
        elif parts[i] in node:
            walk(node[parts[i]], i + 1, (*name, parts[i]))
        else:
            keys = ", ".join(map(str, list(node)[:12])) + (", ..." if len(node) > 12 else "")
            raise PathError(f"metric {pattern!r}: {here} has no key {parts[i]!r} (keys: {keys})")

    walk(report, 0, ())
    return out
