"""What ``apsim check-isolation`` writes (apsim.isolation.output): the console summary, the
reach CSV, the heatmap, and the replayable counterexample scenario."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import numpy as np
from rich.console import Console
from ruamel.yaml import YAML

from apsim.isolation.output import (exhaustive_counterexample, render_console, write_counterexample, write_csv,
                                    write_heatmap)
from apsim.isolation.probe import Checkpoint, Finding, IsolationResult

A, B = 0x0504, 0x0604
SOURCE = """name: s
duration: 50ms
timeline:
  - {at: 1ms, do: host.dmesg}
  - {at: 30ms, do: host.dmesg}
"""


def _source(d) -> str:  # noqa: ANN001
    (d / "s.yaml").write_text(SOURCE)
    return str(d / "s.yaml")


def _result(violation: bool) -> IsolationResult:
    reached = np.array([[True, violation], [False, True]])
    allowed = np.array([[True, False], [False, True]])
    findings = [Finding(20_000_000, "g1", "NQAP", B, "cc 0")] if violation else []
    cp = Checkpoint(20_000_000, "after setup", [A, B], ["g1", "g2"], reached, allowed, findings)
    return IsolationResult(SimpleNamespace(name="s"), [cp], instructions=32)


def test_the_console_shows_each_checkpoint_what_each_guest_reaches_and_every_violation():
    console = Console(record=True, width=200)
    render_console(_result(True), console)
    text = console.export_text()
    assert "check-isolation s: 1 checkpoints × guests × 2 APQNs × 8 instructions = 32 instructions" in text
    assert "after setup: 2 guests, 3 guest×APQN reached, 2 allowed: 1 VIOLATIONS" in text
    assert "  g1: 05.0004, 06.0004" in text and "  g2: 06.0004" in text
    assert "VIOLATION at 20ms: g1 NQAP 06.0004 reached the queue (cc 0) outside its allowed set" in text
    console = Console(record=True, width=200)
    render_console(_result(False), console)
    assert "allowed: ok" in console.export_text() and "VIOLATION" not in console.export_text()


def test_reach_csv_has_a_row_per_guest_and_apqn_with_the_violation_flag(tmp_path):
    p = write_csv(_result(True), tmp_path)
    rows = list(csv.DictReader(p.open()))
    assert len(rows) == 4
    assert [(r["guest"], r["apqn"], r["reached"], r["allowed"], r["violation"]) for r in rows] == [
        ("g1", "05.0004", "1", "1", "0"), ("g1", "06.0004", "1", "0", "1"),
        ("g2", "05.0004", "0", "0", "0"), ("g2", "06.0004", "1", "1", "0")]


def test_the_heatmap_is_a_png(tmp_path):
    p = write_heatmap(_result(True).checkpoints[0], tmp_path)
    assert p.name == "reach.png" and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_counterexample_keeps_the_timeline_before_the_violation_and_probes_expecting_rc_1(tmp_path):
    p = write_counterexample(_source(tmp_path), tmp_path, 20_000_000, [("g1", "AQIC_ON", B), ("g1", "AQIC_ON", B)],
                             why="because")
    text = p.read_text()
    assert text.startswith("# apsim check-isolation: because\n")
    tree = YAML(typ="safe").load(text)
    assert tree["duration"] == "20000001ns"
    assert [a["do"] for a in tree["timeline"]] == ["host.dmesg", "guest.instruction"]  # one probe, deduplicated
    probe = tree["timeline"][-1]
    assert probe == {"at": "20000000ns", "do": "guest.instruction", "guest": "g1", "op": "AQIC", "enable": True,
                     "isc": 3, "apqn": "06.0004", "expect": {"cc": 3, "rc": 1}}


def test_the_exhaustive_counterexample_is_written_only_for_a_violation(tmp_path):
    assert exhaustive_counterexample(_result(False), _source(tmp_path), tmp_path) is None
    p = exhaustive_counterexample(_result(True), _source(tmp_path), tmp_path)
    assert "g1 NQAP 06.0004 reached the queue at 20ms outside its allowed set." in p.read_text()
