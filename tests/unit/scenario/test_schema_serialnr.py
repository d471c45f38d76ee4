"""machine.adapters[].serialnr in scenario files (apsim.scenario.schema)."""

from __future__ import annotations

from pathlib import Path

import pytest

from apsim.cli import main
from apsim.scenario import parse_scenario
from tests.unit.scenario_samples import SERIALS


def _line(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


def test_the_serial_reaches_the_card_spec_the_machine_installs():
    sc = parse_scenario(SERIALS, file="s.yaml")
    specs = [a.card_spec() for a in sc.machine.adapters]
    assert [s.serialnr for s in specs] == ["93AABEHR", "93AACFHS        ", None, None, "93AAXK2Q"]


@pytest.mark.parametrize(("old", "new", "index", "rule"), [
    ("{id: 7, type: CEX8A}", "{id: 7, type: CEX8A, serialnr: 93AABEHR}", 2, "an accelerator has no serial number"),
    ("serialnr: 93AABEHR", "serialnr: 93AABEH", 0, "a CCA card reports 8 characters"),
    ("serialnr: 93AACFHS", "serialnr: 93aacfhs", 1, "an EP11 card reports up to 16 characters"),
])
def test_a_bad_serial_is_refused_with_the_file_line_and_rule(tmp_path: Path, capsys, old, new, index, rule):
    path = tmp_path / "s.yaml"
    path.write_text(SERIALS.replace(old, new))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"s.yaml:{_line(SERIALS, old)}: machine.adapters[{index}].serialnr" in err and rule in err
    assert "Traceback" not in err
