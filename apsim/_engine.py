"""Which form of apsim's request path runs: Cython-compiled or pure Python.

The request path (:data:`COMPILED_MODULES`) is plain, typed Python. When the
package is installed with a C compiler at hand, ``setup.py`` also compiles those
modules with Cython; the ``.pxd`` file beside each one declares the C types of its
classes' attributes and of the hot functions' locals, and nothing else. Python
imports an extension module in preference to the source of the same name, so an
installed build runs compiled and a machine without a compiler runs the same
source as pure Python. Both produce identical results (tests/unit/test_engine.py
runs a scenario both ways and compares the reports byte for byte).

``APSIM_PURE=1`` in the environment makes the ``apsim`` package import every
module from its ``.py`` source even where a compiled one exists: for debugging,
coverage, and the mutation check, whose patches edit the source. The package
does the same by itself when an extension is missing or older than its source
(an edit since the last ``make setup``), so a stale build never runs.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from pathlib import Path
from types import ModuleType

def _compiled_modules() -> tuple[str, ...]:
    engine = Path(__file__).resolve().parent / "engine"
    return tuple(f"apsim.engine.{p.stem}" for p in sorted(engine.glob("*.pxd")))


COMPILED_MODULES = _compiled_modules()
"""The modules ``setup.py`` compiles: every module of ``apsim/engine`` with a ``.pxd`` beside it."""


class _SourceOnlyFinder(importlib.abc.MetaPathFinder):
    """Finds ``apsim.*`` modules from their ``.py`` files only (APSIM_PURE=1)."""

    def find_spec(self, fullname: str, path, target: ModuleType | None = None):  # noqa: ANN001, ANN201
        if not fullname.startswith("apsim.") or not path:
            return None
        loader = (importlib.machinery.SourceFileLoader, importlib.machinery.SOURCE_SUFFIXES)
        for entry in path:
            spec = importlib.machinery.FileFinder(entry, loader).find_spec(fullname, target)
            if spec is not None:
                return spec
        return None


def install_pure_finder() -> None:
    """Import ``apsim.*`` from source from now on (idempotent)."""
    if not any(isinstance(f, _SourceOnlyFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceOnlyFinder())


def build_state(root: Path | None = None) -> str:
    """``"ok"`` when every module of :data:`COMPILED_MODULES` has an extension newer than
    its ``.py`` and ``.pxd``; ``"missing"`` when one has none; ``"stale"`` when the
    source changed after the build.

    The compiled modules share C types, so they run all compiled or all pure: a
    missing or stale extension makes the whole package import from source.
    """
    root = Path(__file__).resolve().parent if root is None else root
    for name in COMPILED_MODULES:
        parts = name.split(".")[1:]
        folder = root.joinpath(*parts[:-1])
        stem = parts[-1]
        built = [folder / f"{stem}{suf}" for suf in importlib.machinery.EXTENSION_SUFFIXES]
        ext = next((b for b in built if b.exists()), None)
        if ext is None:
            return "missing"
        t = ext.stat().st_mtime
        for src in (folder / f"{stem}.py", folder / f"{stem}.pxd"):
            if src.exists() and src.stat().st_mtime > t:
                return "stale"
    return "ok"


def choose() -> None:
    """Decide once, when ``apsim`` is imported, whether the compiled modules may load."""
    if pure_requested():
        install_pure_finder()
        return
    state = build_state()
    if state == "ok":
        return
    install_pure_finder()
    if state == "stale":
        sys.stderr.write("apsim: the compiled request path is older than its source; running it "
                         "as pure Python (rebuild with `make setup`)\n")


def pure_requested() -> bool:
    """Whether APSIM_PURE asks for the pure-Python request path."""
    return os.environ.get("APSIM_PURE", "").strip().lower() not in ("", "0", "no", "false")


def engine() -> str:
    """``"compiled"`` when every request-path module is a compiled extension, else ``"pure"``.

    A partial build (a module that failed to compile) reports ``"mixed"``.
    """
    import importlib

    kinds = set()
    for name in COMPILED_MODULES:
        mod = importlib.import_module(name)
        kinds.add(isinstance(getattr(mod, "__loader__", None), importlib.machinery.ExtensionFileLoader))
    if kinds == {True}:
        return "compiled"
    if kinds == {False}:
        return "pure"
    return "mixed"
