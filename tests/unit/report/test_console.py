"""The console report keeps numbers whole at any width, folds the setup into one line,
counts only the expectations the file asked for, and shows everything with --wide."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from apsim.cli import main
from apsim.report.console import render_report

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("r") / "r.json"
    assert main(["run", str(ROOT / "scenarios" / "three-guests.yaml"), "-q", "--json", str(out)]) == 0
    return json.loads(out.read_text())


def text_of(report: dict, width: int, **kw: object) -> str:
    buf = io.StringIO()
    render_report(report, Console(file=buf, width=width, highlight=False, color_system=None), **kw)
    return buf.getvalue()


def test_numbers_are_whole_on_a_narrow_console(report: dict) -> None:
    text = text_of(report, 40)
    assert "…" not in text.split("Timeline")[0]  # the figure tables, before the timeline
    completed = report["guests"]["guest1"]["completed"]
    assert f"{completed:,}" in text


def test_setup_actions_fold_into_one_line(report: dict) -> None:
    setup = [e for e in report["timeline"] if (e.get("args") or {}).get("setup")]
    assert len(setup) > 5
    text = text_of(report, 200)
    assert f"{len(setup)} setup actions" in text and "all ok" in text
    assert text.count("sysfs.write") == sum(1 for e in report["timeline"]
                                            if e["do"] == "sysfs.write" and not e["args"].get("setup"))


def test_expectation_count_is_only_what_the_file_asked(report: dict) -> None:
    asked = [e for e in report["expectations"] if not (e.get("args") or {}).get("setup")]
    assert len(asked) < len(report["expectations"])
    assert f"expectations: {len(asked)} passed, 0 failed" in text_of(report, 200)


def test_wide_shows_every_apqn_and_uncut_operands(report: dict) -> None:
    narrow, wide = text_of(report, 200), text_of(report, 200, wide=True)
    assert all(q in wide for q in report["apqns"])
    assert "0xf9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" in wide
    assert "0xf9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" not in narrow
