"""Counted guest entries: one YAML entry that stands for N similar guests and their mdevs.

A guest entry with ``count: N`` becomes N guests. In its strings (at any depth,
nested guests included) ``{expr}`` or ``{expr:spec}`` is replaced for guest
``i`` = 0..N-1, where *expr* is integer arithmetic (``+ - * // %``, parentheses) on
the index and ``count``, and *spec* a Python format spec (``02d``, ``012x``); a
string that is exactly one ``{expr}`` becomes the number itself, so
``assign_domain: ["{i}"]`` assigns domain i. ``{{``/``}}`` are literal braces. The
index is called ``i`` unless the entry names it with ``index:`` (nested counted
entries need their own name to use both indices).

A guest's ``mdev`` may also be a mapping (an mdev entry): it is added to the mdevs
of the guest's level, after the ones listed there, and the guest refers to it by its
UUID. With ``count`` this declares N guests with N mdevs in one entry.

The expansion runs on the plain data before validation; :class:`Expansion` remembers
where every produced entry came from, so an error in guest 5 of a counted entry names
the entry's line and ``i=5``.
"""

from __future__ import annotations

import ast
import copy
import string
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Expansion", "ExpansionError", "expand", "extend_schema", "MAX_COUNT"]

MAX_COUNT = 4096
"""The largest ``count`` (an absurd count is an error, not a memory blow-up)."""

Loc = tuple[str | int, ...]


class ExpansionError(ValueError):
    """A counted entry that cannot be expanded; *loc* is its place in the file."""

    def __init__(self, message: str, loc: Loc, index: str | None = None) -> None:
        super().__init__(message)
        self.loc = loc
        self.index = index


@dataclass
class Expansion:
    """The expanded data and, for each produced entry, where it came from in the file."""

    data: Any
    origins: dict[Loc, tuple[Loc, str]] = field(default_factory=dict)
    """Expanded entry path → (its source path in the file, ``"i=5"``-style index text)."""

    def source(self, loc: Loc) -> tuple[Loc, str | None]:
        """The file path of the expanded *loc* and the index it was produced for, if any."""
        for n in range(len(loc), 0, -1):
            hit = self.origins.get(tuple(loc[:n]))
            if hit is not None:
                src, index = hit
                return (*src, *loc[n:]), (index or None)
        return tuple(loc), None


def expand(data: Any) -> Expansion:
    """Expand every counted guest entry and inline mdev of the scenario *data* (plain values)."""
    out = Expansion(data)
    if isinstance(data, dict) and isinstance(data.get("guests"), list):
        data = dict(data)
        guests, mdevs = _expand_level(data["guests"], data.get("mdevs"), ("guests",), ("guests",),
                                      ("mdevs",), {}, "", out.origins)
        data["guests"] = guests
        if mdevs is not None:
            data["mdevs"] = mdevs
        out.data = data
    return out


def _expand_level(guests: list[Any], mdevs: Any, src: Loc, dst: Loc, mdst: Loc, env: dict[str, int],
                  label: str, origins: dict[Loc, tuple[Loc, str]]) -> tuple[list[Any], Any]:
    """Expand one level's guests; inline mdevs join that level's *mdevs*."""
    out: list[Any] = []
    inline: list[tuple[Any, Loc, str]] = []
    for k, item in enumerate(guests):
        sloc = (*src, k)
        if not isinstance(item, dict):
            origins[(*dst, len(out))] = (sloc, label)
            out.append(item)
            continue
        for ienv, ilabel in _instances(item, sloc, env, label):
            body = {key: v for key, v in item.items() if key not in ("count", "index")}
            nested = body.pop("guests", None)
            if ienv:
                body = _substitute(body, ienv, sloc, ilabel)
            gdst = (*dst, len(out))
            origins[gdst] = (sloc, ilabel)
            mdev = body.get("mdev")
            if isinstance(mdev, dict):
                inline.append((mdev, (*sloc, "mdev"), ilabel))
                body["mdev"] = mdev.get("uuid")
            if isinstance(nested, list):
                body["guests"], sub_mdevs = _expand_level(
                    nested, body.get("mdevs"), (*sloc, "guests"), (*gdst, "guests"), (*gdst, "mdevs"),
                    ienv, ilabel, origins)
                if sub_mdevs is not None:
                    body["mdevs"] = sub_mdevs
            elif nested is not None:
                body["guests"] = nested
            out.append(body)
    if inline:
        listed = list(mdevs) if isinstance(mdevs, list) else []
        if mdevs is not None and not isinstance(mdevs, list):
            return out, mdevs  # the schema reports the wrong type of mdevs itself
        for m, mloc, mlabel in inline:
            origins[(*mdst, len(listed))] = (mloc, mlabel)
            listed.append(m)
        mdevs = listed
    return out, mdevs


def _instances(item: dict[str, Any], loc: Loc, env: dict[str, int],
               label: str) -> list[tuple[dict[str, int], str]]:
    """The (names, label) of each guest the entry stands for: one, or ``count``."""
    if "count" not in item:
        if "index" in item:
            raise ExpansionError("index: names the index of a counted entry; add count:", (*loc, "index"))
        return [(env, label)]
    count = item["count"]
    if isinstance(count, bool) or not isinstance(count, int):
        raise ExpansionError(f"count must be a whole number 0..{MAX_COUNT} (got {count!r})", (*loc, "count"))
    if not 0 <= count <= MAX_COUNT:
        raise ExpansionError(f"count {count} is out of range 0..{MAX_COUNT}", (*loc, "count"))
    var = item.get("index", "i")
    if not isinstance(var, str) or not var.isidentifier() or var == "count":
        raise ExpansionError(f"index must be a name such as i or j, not count (got {var!r})", (*loc, "index"))
    sep = ", " if label else ""
    return [({**env, var: n, "count": count}, f"{label}{sep}{var}={n}") for n in range(count)]


def _substitute(value: Any, env: dict[str, int], loc: Loc, label: str) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, env, (*loc, k), label) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, env, (*loc, n), label) for n, v in enumerate(value)]
    if isinstance(value, str) and ("{" in value or "}" in value):
        return _template(value, env, loc, label)
    return copy.copy(value)


_FORMATTER = string.Formatter()


def _template(text: str, env: dict[str, int], loc: Loc, label: str) -> Any:
    try:
        parts = list(_FORMATTER.parse(text))
    except ValueError as e:
        raise ExpansionError(f"bad template {text!r}: {e} (write {{{{ and }}}} for literal braces)",
                             loc, label) from None
    if len(parts) == 1 and parts[0][0] == "" and parts[0][1] is not None and not parts[0][2] \
            and parts[0][3] is None:
        return _eval(parts[0][1], env, loc, label, text)  # exactly "{expr}": the number itself
    out = []
    for literal, expr, spec, conv in parts:
        out.append(literal)
        if expr is None:
            continue
        if conv is not None:
            raise ExpansionError(f"bad template {text!r}: no !{conv} conversions", loc, label)
        n = _eval(expr, env, loc, label, text)
        try:
            out.append(format(n, spec or ""))
        except ValueError as e:
            raise ExpansionError(f"bad format spec {spec!r} in {text!r}: {e}", loc, label) from None
    return "".join(out)


_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
        ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b}


def _eval(expr: str, env: dict[str, int], loc: Loc, label: str, text: str) -> int:
    """Integer arithmetic on the indices and ``count``; nothing else is evaluated."""
    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in env:
                names = ", ".join(sorted(env))
                raise ExpansionError(f"unknown name {node.id!r} in {text!r} (names here: {names})", loc, label)
            return env[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.FloorDiv | ast.Mod) and b == 0:
                raise ExpansionError(f"division by zero in {text!r}", loc, label)
            return _OPS[type(node.op)](a, b)
        raise ExpansionError(f"{text!r}: only whole numbers, index names, + - * // % and "
                             f"parentheses are allowed in a template", loc, label)
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        raise ExpansionError(f"bad expression {expr!r} in {text!r}", loc, label) from None
    return ev(tree)


# --- JSON Schema -----------------------------------------------------------------------------
_TEMPLATE = {"type": "string", "pattern": r"\{[^{}]+\}",
             "description": "In a counted guest entry: a template of the index, e.g. "
                            "\"g{i:02d}\" or \"{i % 4}\"."}


def extend_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Add ``count``/``index``, inline mdevs and templates to the generated scenario schema."""
    defs = schema.get("$defs", {})
    guest = defs.get("GuestSpec")
    if guest is None:
        return schema
    props = guest["properties"]
    props["count"] = {"type": "integer", "minimum": 0, "maximum": MAX_COUNT,
                      "description": "Declare this many similar guests from this entry; strings may "
                                     "use {i} (docs/scenarios.md, counted guests)."}
    props["index"] = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$",
                      "description": "The index's name in templates (default i)."}
    mdev = props["mdev"]
    props["mdev"] = {"anyOf": [*mdev.get("anyOf", [mdev]), {"$ref": "#/$defs/MdevSpec"}],
                     "default": mdev.get("default"),
                     "description": (mdev.get("description", "") + " Or an mdev entry, added to this "
                                     "level's mdevs.").strip()}
    for name in ("GuestSpec", "MdevSpec"):
        for key, prop in defs[name]["properties"].items():
            if key not in ("count", "index", "guests", "mdevs", "cpu", "workload", "host"):
                defs[name]["properties"][key] = _templated(prop)
    return schema


def _templated(prop: dict[str, Any]) -> dict[str, Any]:
    if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
        return {**prop, "items": _templated(prop["items"])}
    if "anyOf" in prop:
        return {**prop, "anyOf": [*prop["anyOf"], _TEMPLATE]}
    if "$ref" in prop:
        return prop
    rest = {k: v for k, v in prop.items() if k in ("description", "default", "title")}
    inner = {k: v for k, v in prop.items() if k not in rest}
    return {**rest, "anyOf": [inner, _TEMPLATE]}

