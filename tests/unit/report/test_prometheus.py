"""The Prometheus text exposition of a run's counters and latency histograms."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from prometheus_client.parser import text_string_to_metric_families

from apsim.cli import main
from apsim.engine.recorder import RequestRecorder
from apsim.report.prometheus import render

GOLDEN = Path(__file__).parents[1] / "interop" / "golden" / "prometheus" / "metrics.prom"
ROOT = Path(__file__).resolve().parents[3]
US = 1_000


def _result() -> SimpleNamespace:
    rec = RequestRecorder()
    g1 = rec.owner_index("g1")
    rec.record(g1, 0x0504, 0, 0, 150 * US, 200 * US)
    rec.record(g1, 0x0504, 0, 1000 * US, 2900 * US, 3000 * US)
    ledger = SimpleNamespace(summary=lambda: {"submitted": 4, "completed": 2, "rejected": {"0x01": 1},
                                              "dropped": {"reset": 1}, "in_flight": 0})
    return SimpleNamespace(recorder=rec, ledger=ledger,
                           adapters={5: {"type": "CEX7C", "utilization": 0.25, "completed": 2}})


def test_exposition_matches_the_documented_text_format():
    assert render(_result()) == GOLDEN.read_text()


def test_output_parses_and_the_histogram_counts_every_completed_request(tmp_path):
    """With no warm-up excluded (warmup: 0), every completed request is a histogram sample."""
    out = tmp_path / "m.prom"
    scenario = tmp_path / "two-guests.yaml"
    scenario.write_text((ROOT / "scenarios/two-guests.yaml").read_text().replace(
        "duration: 200ms\n", "duration: 200ms\nwarmup: 0ms\n", 1))
    assert main(["run", str(scenario), "-q", "--metrics", str(out),
                 "--json", str(tmp_path / "r.json")]) == 0
    fams = {f.name: f for f in text_string_to_metric_families(out.read_text())}
    counts = [s.value for s in fams["apsim_request_latency_seconds"].samples if s.name.endswith("_count")]
    completed = [s.value for s in fams["apsim_requests_completed"].samples][0]
    assert sum(counts) == completed > 0
