"""The compiled and the pure-Python request path are the same program (apsim._engine)."""

from __future__ import annotations

import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path

from apsim import _engine

ROOT = Path(__file__).resolve().parents[2]


def _report(scenario: str, *, pure: bool) -> bytes:
    env = dict(os.environ)
    env.pop("APSIM_PURE", None)
    if pure:
        env["APSIM_PURE"] = "1"
    out = subprocess.run([sys.executable, "-m", "apsim.cli", "run", str(ROOT / "scenarios" / scenario),
                          "--quiet", "--json", "-"], capture_output=True, env=env, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout


def _engine_of(*, pure: bool) -> str:
    env = dict(os.environ)
    env.pop("APSIM_PURE", None)
    if pure:
        env["APSIM_PURE"] = "1"
    code = "import apsim._engine as e, apsim.engine.workload as w; print(e.engine(), w.__file__)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          check=True).stdout.strip()


def test_pure_and_installed_request_paths_write_byte_identical_reports():
    # configure-off-under-load exercises drops, re-planning and rejections as well as
    # the plain path; three-guests has closed loops, polling and mixed request types.
    for name in ("configure-off-under-load.yaml", "three-guests.yaml"):
        assert _report(name, pure=True) == _report(name, pure=False), name


def test_apsim_pure_imports_every_request_path_module_from_source():
    kind, path = _engine_of(pure=True).split()
    assert kind == "pure" and path.endswith("workload.py")


def test_installed_engine_is_compiled_exactly_when_the_build_is_complete_and_current():
    kind, path = _engine_of(pure=False).split()
    state = _engine.build_state()
    if state == "ok":
        assert kind == "compiled" and not path.endswith(".py")
    else:
        assert kind == "pure" and path.endswith(".py")


def _fake_package(tmp_path: Path, *, built: bool = True) -> Path:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for name in _engine.COMPILED_MODULES:
        parts = name.split(".")[1:]
        folder = tmp_path.joinpath(*parts[:-1])
        folder.mkdir(parents=True, exist_ok=True)
        for ext in (".py", ".pxd"):
            (folder / f"{parts[-1]}{ext}").write_text("")
            os.utime(folder / f"{parts[-1]}{ext}", (1_000, 1_000))
        if built:
            (folder / f"{parts[-1]}{suffix}").write_text("")
            os.utime(folder / f"{parts[-1]}{suffix}", (2_000, 2_000))
    return tmp_path


def test_build_state_is_ok_only_when_every_extension_is_newer_than_its_py_and_pxd(tmp_path):
    root = _fake_package(tmp_path)
    assert _engine.build_state(root) == "ok"
    os.utime(root / "engine" / "queue.pxd", (3_000, 3_000))  # a type declaration edited after the build
    assert _engine.build_state(root) == "stale"


def test_build_state_is_missing_when_one_module_was_not_compiled(tmp_path):
    root = _fake_package(tmp_path)
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    (root / "engine" / f"workload{suffix}").unlink()
    assert _engine.build_state(root) == "missing"
    assert _engine.build_state(_fake_package(tmp_path / "none", built=False)) == "missing"


def _pxd_classes(pxd: Path) -> dict[str, str]:
    """``cdef class`` name -> its declaration block in a .pxd file."""
    import re
    out: dict[str, str] = {}
    for m in re.finditer(r"^cdef class (\w+)[^\n]*:\n((?:[ \t]+[^\n]*\n|\n)*)", pxd.read_text(), re.M):
        out[m.group(1)] = m.group(2)
    return out


def test_every_compiled_class_takes_new_attributes_in_both_forms_or_in_neither():
    """A class with ``__slots__`` in its source must not get ``cdef dict __dict__`` in its
    .pxd (and one without must): otherwise setting an undeclared attribute works in one
    form and raises AttributeError in the other."""
    import ast
    mismatched = []
    for name in _engine.COMPILED_MODULES:
        src = ROOT.joinpath(*name.split(".")).with_suffix(".py")
        pxd = _pxd_classes(src.with_suffix(".pxd"))
        for node in ast.parse(src.read_text()).body:
            if not isinstance(node, ast.ClassDef) or node.name not in pxd:
                continue
            slots = any(isinstance(s, ast.Assign) and any(getattr(t, "id", "") == "__slots__" for t in s.targets)
                        for s in node.body)
            has_dict = "cdef dict __dict__" in pxd[node.name]
            if slots == has_dict:
                mismatched.append(f"{name}.{node.name}: __slots__={slots}, cdef dict __dict__={has_dict}")
    assert not mismatched, mismatched
