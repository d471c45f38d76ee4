"""Load a scenario file: YAML 1.2 → :class:`~apsim.scenario.schema.Scenario`, or one clear error.

ruamel.yaml's round-trip loader keeps the line of every key and list item, so an
error anywhere in the file is reported as ``file:line: key.path: rule``. The steps:

1. read and parse the YAML (YAML 1.2: ``off``/``on``/``yes``/``no`` stay strings;
   duplicate keys are errors);
2. expand counted guest entries and inline mdevs (:mod:`apsim.scenario.expand`),
   remembering where each produced entry came from;
3. validate the shapes with pydantic, cross-reference checks deferred; pydantic's
   error ``loc`` tuples are walked through the YAML nodes to find the line (the
   discriminator tag a union puts into ``loc`` is skipped);
4. run :func:`apsim.scenario.checks.check_scenario` and locate its first problem
   the same way.

Only the first error is reported, with a count of the others: later errors are
often consequences of the first.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

from apsim.errors import ScenarioError
from apsim.scenario.actions import ACTION_MODELS, ACTION_NAMES
from apsim.scenario.checks import check_scenario, format_loc
from apsim.scenario.expand import Expansion, ExpansionError, expand
from apsim.scenario.imports import expand_imports
from apsim.scenario.limits import MAX_FILE_BYTES, check_yaml_events, read_bounded
from apsim.scenario.schema import Scenario

__all__ = ["load_scenario", "parse_scenario", "read_yaml", "scenario_from_yaml", "parse_yaml", "locate", "plain"]

_TAGS = {m.model_fields["do"].annotation.__args__[0]: m for m in ACTION_MODELS}  # type: ignore[union-attr]


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate the scenario file at *path*.

    Raises :class:`~apsim.errors.ScenarioError` (``file:line: key: rule``) for a
    missing or unreadable file, malformed YAML, unknown keys, wrong types, unknown
    actions, out-of-range ids, bad UUIDs, unknown references and negative times.
    """
    return scenario_from_yaml(read_yaml(path), file=str(path), base_dir=Path(path).resolve().parent)


def parse_scenario(text: str, *, file: str = "<scenario>", base_dir: str | Path | None = None) -> Scenario:
    """Validate scenario YAML *text*; errors name *file*. Relative paths resolve in *base_dir*."""
    return scenario_from_yaml(parse_yaml(text, file), file=file, base_dir=base_dir)


def read_yaml(path: str | Path) -> Any:
    """The round-trip YAML tree of a scenario file (for tools that edit it, e.g. sweeps)."""
    try:
        text = read_bounded(path, MAX_FILE_BYTES, "the scenario file")
    except FileNotFoundError:
        raise ScenarioError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise ScenarioError("is a directory, not a scenario file", file=str(path)) from None
    except OSError as e:
        raise ScenarioError(f"cannot read: {e.strerror or e}", file=str(path)) from None
    return parse_yaml(text, str(path))


def scenario_from_yaml(root: Any, *, file: str = "<scenario>", base_dir: str | Path | None = None) -> Scenario:
    """Validate a parsed YAML tree (:func:`read_yaml`); errors name *file* and the tree's lines."""
    data = plain(root)
    if data is None:
        raise ScenarioError("the file is empty (a scenario needs at least duration and machine)",
                            file=file, line=1)
    if not isinstance(data, dict):
        raise ScenarioError(f"a scenario is a mapping of keys (name:, duration:, machine:, ...), "
                            f"not a {_kind(data)}", file=file, line=1)
    if "name" not in data:
        data["name"] = Path(file).stem if file != "<scenario>" else "scenario"
    # Imported configuration (mdevctl, chzdev, libvirt, ...) first: a counted guest
    # entry may name an mdev that an imported definition provides.
    expand_imports(data, file=file, base_dir=base_dir, line_of=lambda loc: locate(root, loc)[0])
    try:
        expansion = expand(data)
    except ExpansionError as e:
        line, loc = locate(root, e.loc)
        raise ScenarioError(str(e), file=file, line=line, key=_key(loc, e.index)) from None
    context = {"defer_checks": True, "base_dir": str(base_dir) if base_dir is not None else None}
    try:
        scenario = Scenario.model_validate(expansion.data, context=context)
    except ValidationError as e:
        raise _from_pydantic(e, root, expansion, file) from None
    problems = check_scenario(scenario)
    if problems:
        loc, rule = problems[0]
        src, index = expansion.source(tuple(loc))
        line, src = locate(root, src)
        raise ScenarioError(rule + _more(len(problems) - 1), file=file, line=line, key=_key(src, index))
    _annotate(scenario, root, file)
    return scenario


def _key(loc: tuple[Any, ...], index: str | None) -> str:
    """The key path in the file, with the index of a counted entry (``guests[0].name (i=5)``)."""
    return format_loc(loc) + (f" ({index})" if index else "")


# --- YAML ------------------------------------------------------------------------------------
def parse_yaml(text: str, file: str) -> Any:
    yaml = YAML(typ="rt")  # round trip: keeps line numbers; YAML 1.2 by default
    try:
        check_yaml_events(text, file)  # depth and alias expansion, before anything is built
        return yaml.load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        what = str(e.problem or e.context or e)
        if e.context and e.problem:
            # e.g. "expected ',' or ']', but got ':' (while parsing a flow sequence at line 11)"
            ctx_line = e.context_mark.line + 1 if e.context_mark is not None else None
            where = f" at line {ctx_line}" if ctx_line is not None and ctx_line != line else ""
            what = f"{e.problem} ({e.context}{where})"
        raise ScenarioError(f"malformed YAML: {what}", file=file, line=line) from None
    except ReaderError as e:
        # A character YAML does not allow (a control character, say): the reader gives
        # its position in the text, not a line.
        pos = e.position if isinstance(e.position, int) and 0 <= e.position <= len(text) else 0
        line = text.count("\n", 0, pos) + 1
        char = e.character if isinstance(e.character, int) else ord(str(e.character)[:1] or "\0")
        raise ScenarioError(f"malformed YAML: character {char:#06x} is not allowed in a YAML file "
                            f"({e.reason})", file=file, line=line) from None
    except YAMLError as e:
        raise ScenarioError(f"malformed YAML: {e}", file=file) from None


def plain(node: Any) -> Any:
    """ruamel's round-trip objects (ScalarInt, CommentedMap, ...) as plain Python values."""
    if isinstance(node, dict):
        return {plain(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _kind(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", int: "number", float: "number",
            bool: "boolean", type(None): "null"}.get(type(value), type(value).__name__)


# --- locating errors -------------------------------------------------------------------------
def locate(root: Any, loc: tuple[Any, ...]) -> tuple[int | None, tuple[Any, ...]]:
    """The 1-based line of *loc* in the YAML tree, and *loc* without union tags."""
    node = root
    line = 1
    clean: list[Any] = []
    for part in loc:
        if isinstance(node, CommentedMap):
            if part in node:
                try:
                    line = node.lc.key(part)[0] + 1
                except (KeyError, TypeError):
                    pass
                node = node[part]
                clean.append(part)
                continue
            if isinstance(part, str) and (node.get("do") == part or part.startswith(("function-", "[key]"))
                                          or part in _UNION_BRANCHES):
                continue  # a discriminator tag or union branch in pydantic's loc
            clean.append(part)  # a missing key: stay at the mapping's line
            node = None
            continue
        if isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            try:
                line = node.lc.item(part)[0] + 1
            except (KeyError, TypeError, IndexError):
                pass
            node = node[part]
            clean.append(part)
            continue
        if isinstance(part, str) and (part in _UNION_BRANCHES or part.startswith("function-")):
            continue
        clean.append(part)
        node = None
    return line, tuple(clean)


# Names pydantic uses for the branches of plain unions (e.g. targets: "all" | [...]).
_UNION_BRANCHES = {"literal['all']", "list[int]", "str", "int", "float", "bool", "none"}


def _from_pydantic(err: ValidationError, root: Any, expansion: Expansion, file: str) -> ScenarioError:
    errors = err.errors(include_url=False)
    first = errors[0]
    raw_loc = tuple(first["loc"])
    src, index = expansion.source(raw_loc)
    line, loc = locate(root, src)
    etype = first["type"]
    msg = first["msg"]
    if etype == "union_tag_invalid":
        tag = first.get("ctx", {}).get("tag")
        close = difflib.get_close_matches(str(tag), ACTION_NAMES, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        rule = f"unknown action {tag!r}{hint} (actions: {', '.join(ACTION_NAMES)})"
        loc = (*loc, "do")
        line, _ = locate(root, loc)
    elif etype == "union_tag_not_found":
        rule = f"a timeline entry needs do: (the action: {', '.join(ACTION_NAMES)})"
    elif etype == "extra_forbidden":
        rule = _unknown_key(raw_loc)
    elif etype == "missing":
        rule = f"required key {loc[-1]!r} is missing"
    elif etype in ("value_error", "assertion_error"):
        rule = msg.split(", ", 1)[1] if ", " in msg else msg
    else:
        rule = msg[0].lower() + msg[1:] if msg else etype
        value = first.get("input")
        if isinstance(value, str | int | float | bool) or value is None:
            rule += f" (got {value!r})"
        elif isinstance(value, dict | list):
            rule += f" (got a {_kind(value)})"
    return ScenarioError(rule + _more(len(errors) - 1), file=file, line=line, key=_key(loc, index))


def _more(n: int) -> str:
    return f" (and {n} more error{'s' if n != 1 else ''}; fix this one first)" if n > 0 else ""


def _unknown_key(loc: tuple[Any, ...]) -> str:
    key = loc[-1]
    model = _model_at(loc[:-1])
    if model is None:
        return f"unknown key {key!r}"
    allowed = [f.alias or n for n, f in model.model_fields.items()]
    close = difflib.get_close_matches(str(key), allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r}{hint} (allowed here: {', '.join(allowed)})"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that validates the mapping at pydantic's *loc* (tags included)."""
    ann: Any = Scenario
    for part in loc:
        ann = _unwrap(ann)
        if _is_union(ann) and part in _TAGS:
            ann = _TAGS[part]
            continue
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            fields = {f.alias or n: f for n, f in ann.model_fields.items()}
            if part not in fields:
                return None
            ann = fields[part].annotation
            continue
        origin = typing.get_origin(ann)
        if origin is list and isinstance(part, int):
            ann = typing.get_args(ann)[0]
        elif origin is dict:
            ann = typing.get_args(ann)[1]
        else:
            return None
    ann = _unwrap(ann)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    return None


def _unwrap(ann: Any) -> Any:
    # Annotated[X, ...] -> X; Optional[X] -> X; the action union -> resolved later by tag.
    while True:
        origin = typing.get_origin(ann)
        if origin is typing.Annotated:
            ann = typing.get_args(ann)[0]
            continue
        if _is_union(ann):
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            if len(args) == 1:
                ann = args[0]
                continue
            return ann
        return ann


def _is_union(ann: Any) -> bool:
    return typing.get_origin(ann) in (typing.Union, types.UnionType)


def _annotate(scenario: Scenario, root: Any, file: str) -> None:
    """Record the source file and the line of each timeline action (for reports)."""
    scenario._source = file
    seq = root.get("timeline") if isinstance(root, CommentedMap) else None
    if not isinstance(seq, CommentedSeq):
        return
    for i, act in enumerate(scenario.timeline):
        try:
            act._line = seq.lc.item(i)[0] + 1
        except (KeyError, TypeError, IndexError):
            pass
