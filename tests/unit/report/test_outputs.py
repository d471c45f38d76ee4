"""PNG plots, the Chrome/Perfetto trace and the console report (smoke tests on a hand-made
run; the CSV tables are tested in test_csv_report.py)."""

from __future__ import annotations

import json

from rich.console import Console

from apsim.report.console import render_report
from apsim.report.json_report import build_report
from apsim.report.plots import write_plots
from apsim.report.trace import build_trace, write_trace
from tests.unit.fake_run import make_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plots_are_pngs(tmp_path):
    """Three PNG files: latency CDF, throughput over time, adapter utilization."""
    run = make_run(n=300)
    files = write_plots(run, build_report(run), tmp_path / "plots")
    assert sorted(p.name for p in files) == ["adapter_utilization.png", "adapter_utilization_over_time.png",
                                             "latency_cdf.png", "throughput.png"]
    for p in files:
        assert p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 1000


def test_plots_without_requests(tmp_path):
    """A run with no completed request still plots (empty axes with a note)."""
    run = make_run(n=0)
    for p in write_plots(run, build_report(run), tmp_path):
        assert p.read_bytes()[:8] == PNG_MAGIC


def test_trace_events(tmp_path):
    """An async slice per request (begin and end), instant events for admin actions."""
    run = make_run(n=30)
    path = write_trace(run, tmp_path / "trace.json")
    data = json.loads(path.read_text())
    ev = data["traceEvents"]
    xs = [e for e in ev if e["ph"] == "b"]
    ends = {e["id"]: e for e in ev if e["ph"] == "e"}
    assert len(xs) == 30 and len(ends) == 30
    assert all(ends[e["id"]]["ts"] > e["ts"] and e["name"] == "rsa2048_crt"
               and e["args"]["guest"] in ("guest1", "guest2") for e in xs)
    assert [e["ts"] for e in xs] == sorted(e["ts"] for e in xs)
    threads = {e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
    assert threads == {"05.0004", "06.0004", "05.0047"}
    procs = {e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "process_name"}
    assert procs == {"admin", "card05", "card06"}
    inst = [e for e in ev if e["ph"] == "i"]
    assert [e["name"] for e in inst] == ["se.configure_off", "sysfs.write", "guest.instruction"]
    assert data["otherData"]["requests"] == 30 and "note" not in data["otherData"]


def test_trace_is_capped_with_a_note():
    """Beyond the cap the earliest requests are kept and the file says how many were left out."""
    data = build_trace(make_run(n=50), max_events=10)
    assert sum(1 for e in data["traceEvents"] if e["ph"] == "b") == 10
    assert data["otherData"]["requests_in_trace"] == 10 and "40 later requests" in data["otherData"]["note"]


def test_console_report_shows_tables_and_failures():
    """Tables for requests, guests, adapters, APQNs, timeline; failed expectations called out."""
    con = Console(record=True, width=140, color_system=None)
    render_report(build_report(make_run(failed=True)), con, top_n=2)
    text = con.export_text()
    for word in ("Requests", "Guests", "Adapters", "APQNs (top 2 by completions; 2 more",
                 "Timeline", "Failed expectations", "Kernel log", "guest1", "CEX5C", "43.2%",
                 "FAILED", "expectations: 1 passed, 1 failed", "vfio_ap: mdev 62177883 opened"):
        assert word in text, word
