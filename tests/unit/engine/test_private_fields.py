"""No module outside apsim/engine reads or writes an engine object's private fields, or
imports a private name of an engine module.

The model layers call the engine through its public names (apsim/engine/api.py says
what the engine needs back). An AST scan finds every ``x._name`` outside the engine
where ``_name`` is a private attribute or method of an engine class (``self`` and
``cls`` excepted: a model subclass may use its own fields), and every name imported
from ``apsim.engine.*`` (:func:`engine_imports`, also used by test_interface.py).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

PKG = Path(__file__).resolve().parents[3] / "apsim"
ENGINE = PKG / "engine"

# Touches the scan may not flag (a model class's own private names that coincide with
# engine fields), each with its reason. The test fails on a touch not listed and on a
# listed one that is gone. None left.
ALLOWED: dict[str, frozenset[str]] = {}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def engine_private_names(engine: Path = ENGINE) -> set[str]:
    """Private attributes (assigned on ``self`` or in ``__slots__``) and methods of engine classes."""
    names: set[str] = set()
    for path in engine.glob("*.py"):
        for cls in (n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ClassDef)):
            for node in ast.walk(cls):
                if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                        and isinstance(node.value, ast.Name) and node.value.id == "self"
                        and _private(node.attr)):
                    names.add(node.attr)
                elif isinstance(node, ast.FunctionDef) and _private(node.name):
                    names.add(node.name)
            for stmt in cls.body:
                if isinstance(stmt, ast.Assign) and any(
                        isinstance(t, ast.Name) and t.id == "__slots__" for t in stmt.targets):
                    names |= {c.value for c in ast.walk(stmt.value)
                              if isinstance(c, ast.Constant) and isinstance(c.value, str) and _private(c.value)}
    return names


def touches(source: str, private: set[str]) -> set[str]:
    """The engine-private names *source* reads or writes on an object other than self/cls."""
    return {node.attr for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Attribute) and node.attr in private
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))}


def _outside_touches() -> dict[str, set[str]]:
    private = engine_private_names()
    found = {}
    for path in sorted(PKG.rglob("*.py")):
        if ENGINE in path.parents:
            continue
        hit = touches(path.read_text(), private)
        if hit:
            found[str(path.relative_to(PKG.parent))] = hit
    return found


def test_no_module_outside_the_engine_touches_an_engine_objects_private_fields():
    found = _outside_touches()
    new = {f: sorted(a - ALLOWED.get(f, frozenset())) for f, a in found.items()}
    new = {f: a for f, a in new.items() if a}
    assert not new, f"use the engine's public interface instead of its private fields: {new}"


def test_the_allow_list_names_only_touches_that_still_exist():
    found = _outside_touches()
    stale = {f: sorted(a - found.get(f, set())) for f, a in ALLOWED.items()}
    stale = {f: a for f, a in stale.items() if a}
    assert not stale, f"remove these from ALLOWED (the module no longer touches them): {stale}"


def test_a_touch_of_a_private_engine_field_is_found_and_self_is_not():
    src = "def f(q, wl):\n    q._settle(0)\n    self._settle(1)\n    return wl.targets\n"
    assert touches(src, {"_settle"}) == {"_settle"}
    assert touches("def f(self):\n    self._settle(1)\n", {"_settle"}) == set()
    assert "_settle" in engine_private_names()


class EngineImport(NamedTuple):
    """One name a module takes from the engine: ``from <module> import <name>``, or
    ``<alias>.<name>`` on an engine module imported as a whole."""

    file: str
    line: int
    module: str
    name: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.name} from {self.module}"


def _is_engine_module(dotted: str) -> bool:
    parts = dotted.split(".")
    return parts[:2] == ["apsim", "engine"] and (
        ENGINE.joinpath(*parts[2:]).with_suffix(".py").exists() if len(parts) > 2 else True)


def imports_from_engine(source: str, file: str) -> list[EngineImport]:
    """Every name *source* imports from ``apsim.engine`` and its modules, with the names
    it then reads from an engine module it imported whole (``codes.RC``)."""
    tree = ast.parse(source)
    found: list[EngineImport] = []
    whole: dict[str, str] = {}  # local name -> engine module imported as a whole
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and (node.module == "apsim.engine" or node.module.startswith("apsim.engine.")):
            for a in node.names:
                found.append(EngineImport(file, node.lineno, node.module, a.name))
                sub = f"{node.module}.{a.name}"
                if _is_engine_module(sub):
                    whole[a.asname or a.name] = sub
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("apsim.engine.") and a.asname:
                    found.append(EngineImport(file, node.lineno, a.name.rsplit(".", 1)[0],
                                              a.name.rsplit(".", 1)[1]))
                    whole[a.asname] = a.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in whole:
            found.append(EngineImport(file, node.lineno, whole[node.value.id], node.attr))
    return found


def engine_imports(pkg: Path = PKG) -> list[EngineImport]:
    """:func:`imports_from_engine` over every module of apsim/ outside apsim/engine."""
    found: list[EngineImport] = []
    for path in sorted(pkg.rglob("*.py")):
        if ENGINE in path.parents:
            continue
        found.extend(imports_from_engine(path.read_text(), str(path.relative_to(pkg.parent))))
    return found


def private_imports(found: list[EngineImport]) -> list[str]:
    """The imports of *found* that take a private (``_x``) name, as "file:line: name from module"."""
    return [str(i) for i in found if _private(i.name)]


def test_no_module_outside_the_engine_imports_a_private_engine_name():
    bad = private_imports(engine_imports())
    assert not bad, ("import the engine's public names instead (apsim/engine/export.py has the "
                     "bulk mode's):\n" + "\n".join(bad))


def test_a_private_import_is_reported_with_its_module_and_name():
    src = ("from apsim.engine.core import call_at, _NOOP\n"
           "from apsim.engine import codes\n"
           "x = codes._secret + codes.RC\n")
    bad = private_imports(imports_from_engine(src, "apsim/x.py"))
    assert bad == ["apsim/x.py:1: _NOOP from apsim.engine.core",
                   "apsim/x.py:3: _secret from apsim.engine.codes"]
