"""A lower layer never imports a higher one (the table in apsim/layers.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from apsim.layers import LAYERS, layer_of

PKG = Path(__file__).resolve().parents[2] / "apsim"
DOC = PKG.parent / "docs" / "architecture.md"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    base = PKG.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """Every apsim module ``path`` imports, anywhere in the file (TYPE_CHECKING included)."""
    found = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            # `from apsim.x import y` may import the submodule y: judge the most specific name.
            found += [(node.lineno, f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base)
                      for a in node.names]
    return [(line, name) for line, name in found if name == "apsim" or name.startswith("apsim.")]


def upward_imports(path: Path, module: str) -> list[str]:
    """The imports in ``path`` (module ``module``) of a layer above the module's own."""
    mine = layer_of(module)
    out = []
    for line, target in _imports(path, module):
        theirs = layer_of(target)
        if mine is not None and theirs is not None and theirs > mine:
            out.append(f"{path.name}:{line} ({module}, layer {mine}) imports {target} (layer {theirs})")
    return out


def _all_modules() -> list[tuple[Path, str]]:
    return [(p, _module_name(p)) for p in sorted(PKG.rglob("*.py"))]


def test_every_module_belongs_to_a_listed_layer():
    unlisted = [m for _, m in _all_modules() if layer_of(m) is None]
    assert not unlisted, f"add these to apsim/layers.py LAYERS (and docs/architecture.md): {unlisted}"


def test_no_module_imports_a_module_of_a_higher_layer():
    upward = [u for path, module in _all_modules() for u in upward_imports(path, module)]
    assert not upward, "a lower layer imports a higher one:\n" + "\n".join(upward)


def test_an_upward_import_is_reported_and_a_downward_one_is_not(tmp_path):
    src = tmp_path / "probe.py"
    src.write_text("from apsim.engine.queue import APQueue\n"
                   "def f():\n    from apsim.guest import guest\n")
    assert upward_imports(src, "apsim.kvm.probe") == [
        "probe.py:3 (apsim.kvm.probe, layer 3) imports apsim.guest.guest (layer 5)"]
    assert upward_imports(src, "apsim.bulk.probe") == []


def test_the_architecture_page_shows_the_same_layer_order():
    shown = re.findall(r"^\| (\d+) \| ([^|]+) \|", DOC.read_text(), re.M)
    rows = [tuple(sorted(n.strip(" `") for n in names.split(","))) for _, names in shown]
    assert rows == [tuple(sorted(r)) for r in LAYERS], \
        "docs/architecture.md's layer table differs from apsim/layers.py LAYERS"
