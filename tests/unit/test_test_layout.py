"""Tests mirror the package: the unit test of ``apsim/<package>/<module>.py`` is
``tests/unit/<package>/test_<module>.py`` (or ``test_<module>_<topic>.py``; a private
``_x.py`` maps to ``test_x``), so the test of a rule is found from the module's name.

A module without one is listed in :data:`UNMIRRORED` with the test files that do cover it
and a one-line reason. The table only shrinks: an entry whose module now has its mirrored
file, whose module is gone, or that names a test file that does not exist fails here.
Engine modules may not be in it at all: each has its own unit test file.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "apsim"
UNIT = ROOT / "tests" / "unit"

ENGINE = "apsim/engine/"
REFERENCE = "apsim/engine/reference/"
"""The engine's pure reference is tested against the engine itself by the differential
tests ``tests/engine/test_reference_*.py``, not module by module."""

Table = dict[str, tuple[str, tuple[str, ...]]]
"""module -> (why it has no mirrored unit test, the test files that cover it)"""

UNMIRRORED: Table = {
    "apsim/__main__.py": (
        "the `python -m apsim` entry point, run as a subprocess",
        ("tests/unit/test_cli.py", "tests/unit/mount/test_server.py")),
    "apsim/bulk/chunk.py": (
        "one bulk stretch: tested by the bulk window reproducing the event engine's rows exactly",
        ("tests/unit/bulk/test_window.py", "tests/unit/engine/test_workload_queueing_theory.py")),
    "apsim/bulk/state.py": (
        "taking the engine's state into and out of a bulk window: tested by the window's exact hand-back",
        ("tests/unit/bulk/test_window.py", "tests/unit/benchmarks/test_run.py")),
    "apsim/experiments/engine.py": (
        "the Dask runner of sweeps: tested by running sweeps on a local cluster",
        ("tests/unit/experiments/test_sweep.py", "tests/unit/experiments/test_cli_sweep.py")),
    "apsim/guest/guest.py": (
        "a whole KVM guest (QEMU, its VM, the vfio-ap device, its Linux): only tested end to end",
        ("tests/conformance/test_qemu_device.py", "tests/unit/isolation/test_probe.py",
         "tests/property/test_isolation_world.py", "tests/scenario/test_scenarios.py")),
    "apsim/kvm/sie.py": (
        "SIE interpretation and interception of guest AP instructions: conformance tests per path",
        ("tests/conformance/test_sie_paths.py", "tests/conformance/test_kvm_unit_tests_ap.py",
         "tests/unit/isolation/test_probe.py")),
    "apsim/kvm/vsie.py": (
        "the shadow CRYCB of a nested guest: conformance tests against vsie.c's rules",
        ("tests/conformance/test_vsie_shadow.py", "tests/conformance/test_nested_validity.py")),
    "apsim/linux/apbus_attrs.py": (
        "the AP bus's sysfs files: conformance tests of each file's errnos, and reads in the bus tests",
        ("tests/conformance/test_apbus_errnos.py", "tests/unit/linux/test_lszcrypt.py",
         "tests/unit/linux/test_apbus_scan.py")),
    "apsim/mount/cli.py": (
        "the mount and sysfs export/import subcommands: tested by running them",
        ("tests/unit/mount/test_export.py", "tests/unit/mount/test_importer.py",
         "tests/unit/mount/test_server.py")),
    "apsim/scenario/actions.py": (
        "the timeline action models: tested with the rest of the scenario schema",
        ("tests/unit/scenario/test_schema.py", "tests/unit/scenario/test_loader.py",
         "tests/unit/scenario/test_schema_shipped.py")),
    "apsim/scenario/build.py": (
        "building a simulation from a scenario: every scenario run goes through it",
        ("tests/scenario/test_scenarios.py", "tests/conformance/test_guest_boot.py",
         "tests/conformance/test_nested_validity.py")),
    "apsim/scenario/containers.py": (
        "the k8s CEX device plugin in a running simulation: tested with the plugin scenarios",
        ("tests/unit/scenario/test_cex_plugin.py", "tests/scenario/test_scenarios.py")),
    "apsim/scenario/exports.py": (
        "apsim export's formats: tested by exporting and importing again",
        ("tests/unit/interop/test_libvirt.py", "tests/unit/scenario/test_imports.py")),
    "apsim/scenario/run.py": (
        "running a scenario and collecting its results: every scenario run goes through it",
        ("tests/scenario/test_scenarios.py", "tests/scenario/test_determinism_cli.py",
         "tests/unit/report/test_health.py")),
}


def _modules() -> list[str]:
    """Every module of apsim (``__init__.py`` files left out), as ``apsim/...`` paths."""
    return sorted(p.relative_to(ROOT).as_posix() for p in PKG.rglob("*.py") if p.name != "__init__.py")


def _mirrored(module: str) -> list[Path]:
    """The unit test files named after *module*.

    ``test_<stem>_<topic>.py`` counts unless ``<stem>_<topic>.py`` is a module of the same
    package: ``test_apbus_scan.py`` is the test of apbus_scan.py, not of apbus.py.
    """
    rel = Path(module).relative_to("apsim")
    folder = UNIT / rel.parent
    stem = rel.stem.strip("_")
    siblings = {p.stem.strip("_") for p in (PKG / rel.parent).glob("*.py")}
    topical = [p for p in sorted(folder.glob(f"test_{stem}_*.py")) if p.stem[len("test_"):] not in siblings]
    return sorted(folder.glob(f"test_{stem}.py")) + topical


def _expected(module: str) -> str:
    rel = Path(module).relative_to("apsim")
    return (Path("tests/unit") / rel.parent / f"test_{rel.stem.strip('_')}.py").as_posix()


def _missing(table: Table) -> list[str]:
    """Modules with neither a mirrored unit test nor a table entry."""
    return [m for m in _modules() if not m.startswith(REFERENCE) and not _mirrored(m) and m not in table]


def _table_problems(table: Table) -> list[str]:
    """Entries that must go or be fixed: gone modules, filled gaps, engine modules, entries
    without a one-line reason, entries naming test files that do not exist."""
    modules = set(_modules())
    bad = []
    for module, (reason, files) in table.items():
        if module not in modules:
            bad.append(f"{module}: no such module any more; remove the entry")
        elif _mirrored(module):
            bad.append(f"{module}: has its unit test now ({', '.join(p.name for p in _mirrored(module))}); "
                       f"remove the entry")
        if module.startswith(ENGINE):
            bad.append(f"{module}: an engine module may not be excused from its unit test")
        if not reason.strip() or "\n" in reason:
            bad.append(f"{module}: the reason must be one non-empty line")
        if not files:
            bad.append(f"{module}: name the test files that cover it")
        for f in files:
            path = ROOT / f
            if not f.startswith("tests/") or path.suffix != ".py" or not path.is_file():
                bad.append(f"{module}: no test file {f}")
    return bad


def test_every_module_has_its_mirrored_unit_test_or_a_table_entry():
    missing = _missing(UNMIRRORED)
    assert not missing, ("modules without their unit test (write it, or list the module in "
                         "UNMIRRORED with the tests that cover it and why):\n"
                         + "\n".join(f"  {m} -> {_expected(m)}" for m in missing))


def test_every_table_entry_is_a_module_that_still_lacks_its_test_with_its_covering_tests_and_why():
    bad = _table_problems(UNMIRRORED)
    assert not bad, "\n".join(bad)


def test_every_engine_module_has_its_own_unit_test_file():
    engine = [m for m in _modules() if m.startswith(ENGINE) and not m.startswith(REFERENCE)]
    assert len(engine) >= 20, "apsim/engine/ lost its modules: the layout changed, update this test"
    missing = [m for m in engine if not _mirrored(m)]
    assert not missing, "engine modules without their unit test: " + ", ".join(
        f"{m} -> {_expected(m)}" for m in missing)


def test_package_init_files_only_re_export_so_they_need_no_unit_test():
    defining = [p.relative_to(ROOT).as_posix() for p in PKG.rglob("__init__.py")
                if any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                       for n in ast.parse(p.read_text()).body)]
    assert not defining, f"these __init__.py files define code: move it into a module with its test: {defining}"


def test_the_engine_reference_is_covered_by_the_differential_tests():
    reference = [m for m in _modules() if m.startswith(REFERENCE)]
    if reference:
        assert sorted((ROOT / "tests" / "engine").glob("test_reference_*.py")), (
            f"{REFERENCE} has modules but tests/engine/ has no test_reference_*.py")


# --- the checks themselves fail on what they guard against ----------------------------------------
def _without_test(monkeypatch, module: str) -> None:  # noqa: ANN001
    """Pretend *module* has no mirrored unit test."""
    real = _mirrored
    monkeypatch.setattr(sys.modules[__name__], "_mirrored", lambda m: [] if m == module else real(m))


def test_a_module_without_its_test_and_left_out_of_the_table_is_reported(monkeypatch):
    _without_test(monkeypatch, "apsim/masks.py")
    assert _missing(UNMIRRORED) == ["apsim/masks.py"]
    assert _missing({**UNMIRRORED, "apsim/masks.py": ("why", ("tests/unit/test_cli.py",))}) == []
    assert _expected("apsim/masks.py") == "tests/unit/test_masks.py"


def test_a_table_entry_for_a_gone_module_or_a_missing_test_file_is_reported(monkeypatch):
    _without_test(monkeypatch, "apsim/masks.py")
    bad = _table_problems({"apsim/no_such.py": ("gone", ("tests/unit/test_cli.py",)),
                           "apsim/masks.py": ("covered", ("tests/unit/test_no_such_file.py",
                                                          "apsim/masks.py"))})
    assert bad == ["apsim/no_such.py: no such module any more; remove the entry",
                   "apsim/masks.py: no test file tests/unit/test_no_such_file.py",
                   "apsim/masks.py: no test file apsim/masks.py"]


def test_a_table_entry_for_a_module_with_its_unit_test_is_reported_so_the_table_shrinks():
    bad = _table_problems({"apsim/masks.py": ("covered", ("tests/unit/test_masks.py",))})
    assert bad == ["apsim/masks.py: has its unit test now (test_masks.py); remove the entry"]


def test_an_engine_module_or_an_entry_without_reason_or_files_is_reported():
    bad = _table_problems({"apsim/engine/queue.py": ("", ())})
    assert "apsim/engine/queue.py: an engine module may not be excused from its unit test" in bad
    assert "apsim/engine/queue.py: the reason must be one non-empty line" in bad
    assert "apsim/engine/queue.py: name the test files that cover it" in bad


def test_the_mirror_rule_finds_suffixed_and_private_module_tests():
    workload = [p.name for p in _mirrored("apsim/engine/workload.py")]
    assert workload[0] == "test_workload.py" and "test_workload_hints.py" in workload
    assert "test_engine.py" in [p.name for p in _mirrored("apsim/_engine.py")]
    # test_apbus_scan.py belongs to apbus_scan.py; test_apbus_rebind.py (no such module) to apbus.py
    apbus = [p.name for p in _mirrored("apsim/linux/apbus.py")]
    assert "test_apbus_rebind.py" in apbus and "test_apbus_scan.py" not in apbus
    assert _expected("apsim/linux/vfio_ap/ops.py") == "tests/unit/linux/vfio_ap/test_ops.py"
