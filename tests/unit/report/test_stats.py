"""Run statistics: exact percentiles from all samples, throughput over the measured span,
per-group tables and time series."""

from __future__ import annotations

import numpy as np
import pytest

from apsim.hw.timing import request_type
from apsim.ids import apqn
from apsim.engine.recorder import RequestRecorder
from apsim.report.stats import PERCENTILES, choose_window_ns, compute_stats, latency_stats
from apsim.units import MS, S, US


def test_percentiles_match_numpy_exactly():
    """p50/p90/p99/p99.9 are np.percentile over every sample (linear), in µs."""
    rng = np.random.default_rng(3)
    lat = rng.integers(1, 10_000_000, size=12_345).astype(np.int64)
    st = latency_stats(lat)
    for key, p in PERCENTILES:
        assert st[key] == np.percentile(lat, p) / 1000
    assert st["mean_us"] == lat.mean() / 1000 and st["max_us"] == lat.max() / 1000 and st["count"] == lat.size


def test_percentiles_on_known_samples():
    """Hand-checkable values: 1..100 µs."""
    lat = np.arange(1, 101, dtype=np.int64) * US
    st = latency_stats(lat)
    assert st["p50_us"] == pytest.approx(50.5) and st["p90_us"] == pytest.approx(90.1)
    assert st["p99_us"] == pytest.approx(99.01) and st["p999_us"] == pytest.approx(99.901)
    assert st["mean_us"] == 50.5 and st["max_us"] == 100.0


def test_empty_samples_give_none():
    """No samples: count 0 and no percentiles (not NaN)."""
    st = latency_stats(np.empty(0, np.int64))
    assert st["count"] == 0 and all(st[k] is None for k, _ in PERCENTILES) and st["max_us"] is None


def _recorder(warmup_ns: int = 0) -> RequestRecorder:
    rec = RequestRecorder(warmup_ns=warmup_ns)
    a, b = rec.owner_index("a"), rec.owner_index("b")
    rt = request_type("rsa2048").index
    rt2 = request_type("cca_low").index
    # guest a: 05.0004 latencies 10,20,30 µs; guest b: 06.0047 latency 100 µs (twice)
    for t, lat in ((1 * MS, 10), (2 * MS, 20), (3 * MS, 30)):
        rec.record(a, apqn(5, 4), rt, t, t + lat * US - 1, t + lat * US)
    for t in (4 * MS, 9 * MS):
        rec.record(b, apqn(6, 0x47), rt2, t, t + 100 * US, t + 100 * US)
    return rec


def test_groups_and_throughput():
    """Per guest / APQN / adapter / request type rows; throughput over the run's span."""
    st = compute_stats(_recorder(), sim_time_ns=10 * MS,
                       adapters={5: {"type": "CEX7C", "utilization": 0.25, "engines": 4}, 7: {"type": "CEX7P"}},
                       apqn_occupancy={apqn(5, 4): 0.5, "07.0001": 0.0})
    assert st.span_ns == 10 * MS
    assert st.overall["completed"] == 5 and st.overall["throughput_rps"] == 500.0
    a = st.guests["a"]
    assert a["completed"] == 3 and a["throughput_rps"] == 300.0 and a["p50_us"] == 20.0
    assert a["apqns"] == ["05.0004"]
    assert st.guests["b"]["mean_us"] == 100.0
    assert list(st.apqns) == ["05.0004", "06.0047", "07.0001"]
    assert st.apqns["05.0004"]["occupancy"] == 0.5 and st.apqns["05.0004"]["guests"] == ["a"]
    assert st.apqns["06.0047"]["occupancy"] is None and st.apqns["06.0047"]["adapter"] == "06"
    assert st.apqns["07.0001"]["completed"] == 0
    assert list(st.adapters) == ["05", "06", "07"]
    assert st.adapters["05"]["type"] == "CEX7C" and st.adapters["05"]["utilization"] == 0.25
    assert st.adapters["05"]["engines"] == 4 and st.adapters["06"]["type"] is None
    assert st.request_types["rsa2048_crt"]["completed"] == 3 and st.request_types["cca_low"]["completed"] == 2


def test_warmup_is_left_out():
    """Requests submitted before the warm-up ends are not counted; the span shrinks."""
    st = compute_stats(_recorder(warmup_ns=2 * MS), sim_time_ns=10 * MS)
    assert st.span_ns == 8 * MS
    assert st.guests["a"]["completed"] == 2
    assert st.overall["throughput_rps"] == pytest.approx(4 / 0.008)
    assert st.series["t_us"][0] == 2000.0


def test_series_sums_to_completions():
    """The time series has fixed windows and counts every completion once."""
    st = compute_stats(_recorder(), sim_time_ns=10 * MS, window_ns=1 * MS)
    s = st.series
    assert s["window_us"] == 1000.0 and len(s["t_us"]) == 10
    assert sum(s["completions"]) == 5
    assert s["completions"][1] == 1 and s["mean_latency_us"][1] == 10.0
    assert s["mean_latency_us"][0] is None
    assert sum(s["completions_by_guest"]["b"]) == 2


def test_window_choice_is_round():
    """Windows are 1/2/5 × 10^k ns, about 100 per run, at least 1 µs."""
    assert choose_window_ns(50 * MS) == 500 * US
    assert choose_window_ns(1 * S) == 10 * MS
    assert choose_window_ns(30 * MS) == 500 * US
    assert choose_window_ns(10 * US) == 1 * US
    assert choose_window_ns(0) == 1 * US
