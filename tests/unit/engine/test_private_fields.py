"""No module outside apsim/engine reads or writes an engine object's private fields.

The model layers call the engine through its public names (apsim/engine/api.py says
what the engine needs back). An AST scan finds every ``x._name`` outside the engine
where ``_name`` is a private attribute or method of an engine class (``self`` and
``cls`` excepted: a model subclass may use its own fields).
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[3] / "apsim"
ENGINE = PKG / "engine"

# bulk/chunk.py saves and restores the service sampler's blocks (apsim.hw.sampler, not an
# engine class; its private names coincide with engine fields). The test fails on a
# touch not listed and on a listed one that is gone.
ALLOWED: dict[str, frozenset[str]] = {
    "apsim/bulk/chunk.py": frozenset({"_n", "_rows"}),
}


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
