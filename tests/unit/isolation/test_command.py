"""check-isolation refuses, before any work, what it cannot do or write."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from apsim.cli import main

TWO = Path(__file__).resolve().parents[3] / "scenarios" / "two-guests.yaml"


def test_a_budget_without_hypothesis_installed_is_exit_2_naming_the_extra(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "hypothesis" else real(name, *a))
    assert main(["check-isolation", str(TWO), "--budget", "3"]) == 2
    assert "pip install 'apsim[isolation]'" in capsys.readouterr().err


def test_an_out_path_that_is_a_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "f"
    f.write_text("")
    assert main(["check-isolation", str(TWO), "--budget", "0", "--out", str(f)]) == 2
    assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize("budget", ["-1", "x", "100001"])
def test_a_bad_budget_is_a_usage_error(budget: str) -> None:
    assert main(["check-isolation", str(TWO), "--budget", budget]) == 2
