"""Model layers call only the engine's documented interface.

``apsim.engine.api.INTERFACE`` lists, per engine module, the names a module outside
``apsim/engine`` may import (or read from an engine module it imports whole). An AST
scan of apsim/ (tests excluded: they may test the engine's insides) finds every
such import and fails on one the table does not list, naming file, line and name.
"""

from __future__ import annotations

import importlib

from apsim.engine.api import INTERFACE, PUBLIC
from tests.unit.engine.test_private_fields import ENGINE, EngineImport, engine_imports, imports_from_engine


def _allowed(i: EngineImport) -> bool:
    names = INTERFACE.get(i.module)
    if names is None:
        return False
    if names is PUBLIC:
        return not i.name.startswith("_")
    return i.name in names


def outside_interface(found: list[EngineImport]) -> list[str]:
    """The imports of *found* that INTERFACE does not list, as "file:line: name from module"."""
    return [str(i) for i in found if not _allowed(i)]


def test_modules_outside_the_engine_import_only_the_engines_interface():
    bad = outside_interface(engine_imports())
    assert not bad, ("these imports reach past the engine's interface (add the name to "
                     "apsim.engine.api.INTERFACE if the model needs it):\n" + "\n".join(bad))


def test_every_name_the_interface_lists_exists_and_is_used():
    used = {(i.module, i.name) for i in engine_imports()}
    missing, unused = [], []
    for module, names in INTERFACE.items():
        mod = importlib.import_module(module)
        if names is PUBLIC:
            assert any(m == module for m, _ in used), f"{module} is in INTERFACE but no model uses it"
            continue
        for name in sorted(names):
            if not hasattr(mod, name) and not (ENGINE / f"{name}.py").exists():
                missing.append(f"{module}.{name}")
            if (module, name) not in used:
                unused.append(f"{module}.{name}")
    assert not missing, f"INTERFACE lists names the engine does not define: {missing}"
    assert not unused, f"INTERFACE lists names no model imports (remove them): {unused}"


def test_an_import_outside_the_interface_is_reported_with_file_line_and_name():
    src = ("from apsim.engine.core import call_at\n"
           "from apsim.engine.queue import APQueue, GENERIC\n"
           "from apsim.engine import codes, rows\n"
           "x = codes.RC\n")
    assert outside_interface(imports_from_engine(src, "apsim/x.py")) == [
        "apsim/x.py:2: GENERIC from apsim.engine.queue",
        "apsim/x.py:3: rows from apsim.engine",
    ]
