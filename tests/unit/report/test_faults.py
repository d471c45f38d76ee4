"""The report's ``faults`` block (apsim.report.faults): every injected fault with its window
and each firing, times as durations and microseconds; no block for a run without faults."""

from __future__ import annotations

from types import SimpleNamespace

from apsim.engine.core import new_env
from apsim.hw.faults import Fault, FaultTable
from apsim.report.faults import faults_block


def _result(table) -> SimpleNamespace:  # noqa: ANN001
    return SimpleNamespace(sim=SimpleNamespace(machine=SimpleNamespace(faults=table)))


def test_a_run_without_injected_faults_has_no_block():
    assert faults_block(_result(None)) is None
    assert faults_block(SimpleNamespace()) is None


def test_each_fault_shows_its_window_and_firings_as_durations_and_microseconds():
    table = FaultTable(new_env())
    f = Fault(id=1, kind="busy", start=2_000_000, end=None, code=0x05, line=12)
    f.fire(2_500_000, "NQAP", "05.0004")
    g = Fault(id=2, kind="response", start=0, end=1_500, count=3, code=0x02)
    table.faults.extend([f, g])
    block = faults_block(_result(table))
    assert block[0] == {"id": 1, "kind": "busy", "start": "2ms", "end": None, "count": None, "fired": 1,
                        "line": 12, "firings": [{"at": "2500us", "at_us": 2500.0, "what": "NQAP",
                                                 "where": "05.0004"}]}
    assert (block[1]["start"], block[1]["end"], block[1]["firings"]) == ("0ns", "1500ns", [])
