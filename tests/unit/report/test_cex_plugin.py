"""The report's k8s CEX plugin figures (apsim.report.cex_plugin): the plugin's gauges per
set and their totals as of its last poll, each set's latency beside them, and the
Prometheus families (nothing before the first poll)."""

from __future__ import annotations

from types import SimpleNamespace

from apsim.engine.recorder import RequestRecorder
from apsim.report.cex_plugin import GAUGES, cex_plugin_block, cex_plugin_metrics


def _result(polled: bool = True) -> SimpleNamespace:
    rec = RequestRecorder()
    for name in ("web-0", "web-1", "db-0"):
        rec.owner_index(name)
    for i in range(4):  # web-0: latencies 10..13 us; db-0: 50 us
        rec.record(0, 0x0504, 0, 1000 * i, 1000 * i + 9_000, 1000 * i + 10_000 + 1000 * i)
    rec.record(2, 0x0604, 0, 0, 40_000, 50_000)
    gauges = {"a": {"cex_plugin_plugindevs_available": 2, "cex_plugin_plugindevs_used": 2,
                    "cex_plugin_request_counter": 4},
              "b": {"cex_plugin_plugindevs_available": 1, "cex_plugin_plugindevs_used": 1,
                    "cex_plugin_request_counter": 1}} if polled else None
    summary = {"now": {"a": {}, "b": {}}, "gauges": gauges, "error": None, "scans": 3,
               "polled_at_ns": 7_000_000 if polled else None,
               "containers": {"web-0": {"setname": "a"}, "web-1": {"setname": "a"}, "db-0": {"setname": "b"}}}
    return SimpleNamespace(cex_plugin=summary, recorder=rec, sim_time_ns=1_000_000_000)


def test_a_run_without_the_plugin_has_no_block_and_no_metrics():
    r = SimpleNamespace(cex_plugin=None)
    assert cex_plugin_block(r) is None and list(cex_plugin_metrics(r)) == []


def test_each_set_has_the_plugins_gauges_its_containers_and_their_latency():
    block = cex_plugin_block(_result())
    a, b = block["sets"]["a"], block["sets"]["b"]
    assert [a[g] for g in GAUGES] == [2, 2, 4] and a["containers"] == ["web-0", "web-1"]
    assert a["completed"] == 4 and b["completed"] == 1
    assert (block["polled_at_us"], block["scans"], block["error"]) == (7000.0, 3, None)


def test_totals_are_the_sums_over_the_sets():
    block = cex_plugin_block(_result())
    assert block["totals"] == {"cex_plugin_total_plugindevs_available": 3, "cex_plugin_total_plugindevs_used": 3,
                               "cex_plugin_total_request_counter": 5}


def test_before_the_first_poll_the_gauges_are_null_and_no_metric_is_published():
    r = _result(polled=False)
    block = cex_plugin_block(r)
    assert block["polled_at_us"] is None and set(block["totals"].values()) == {None}
    assert block["sets"]["a"]["cex_plugin_plugindevs_used"] is None
    assert list(cex_plugin_metrics(r)) == []


def test_the_prometheus_families_are_the_totals_then_a_gauge_per_set():
    fams = {f.name: f for f in cex_plugin_metrics(_result())}
    assert fams["cex_plugin_total_request_counter"].samples[0].value == 5
    assert [(s.labels["setname"], s.value) for s in fams["cex_plugin_plugindevs_available"].samples] == [
        ("a", 2), ("b", 1)]
