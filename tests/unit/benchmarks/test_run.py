"""Smoke test of the benchmark harness (``make bench``) on tiny sizes: it runs and writes its keys.

No speed thresholds here: timings on shared CI machines are too noisy; the
numbers are for ``make bench`` to report.
"""

from __future__ import annotations

import json

from benchmarks.run import run

KEYS = ("full_ratio", "bulk_ratio", "scaling_guests_ratio", "scaling_apqns_ratio", "scaling_guests_ratio_best",
        "scaling_apqns_ratio_best", "build_1000_mdevs_s",
        "peak_rss_mib")


def test_quick_benchmark_writes_every_key(tmp_path):
    out = tmp_path / "latest.json"
    doc = run(quick=True, out=out)
    written = json.loads(out.read_text())
    for key in KEYS:
        assert key in written, key
        assert isinstance(written[key], float) and written[key] > 0, (key, written[key])
    assert written["machine"]["python"] and written["machine"]["simpy"]
    assert doc["full"]["rounds"] and doc["bulk"]["rounds"]
