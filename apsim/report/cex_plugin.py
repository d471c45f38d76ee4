"""Per-set figures of the k8s CEX device plugin, under its own metric names, beside latency.

The plugin's gauges (``cex_plugin_plugindevs_available``, ``cex_plugin_plugindevs_used``,
``cex_plugin_request_counter`` per set, and the ``cex_plugin_total_*`` sums) are the
values of its metrics collector's last poll, as a dashboard would show them at the end
of the run (null before the first poll). Beside them apsim adds what the plugin cannot
show: the latency and throughput of each set's containers, and each container's
device, APQN, state and time spent Pending.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from prometheus_client.core import GaugeMetricFamily

from apsim.report.stats import latency_row

__all__ = ["cex_plugin_block", "cex_plugin_metrics", "GAUGES"]

GAUGES = ("cex_plugin_plugindevs_available", "cex_plugin_plugindevs_used", "cex_plugin_request_counter")


def cex_plugin_block(result: Any) -> dict[str, Any] | None:
    """The report's ``cex_plugin`` block (None without a plugin)."""
    summary = getattr(result, "cex_plugin", None)
    if summary is None:
        return None
    rec = result.recorder
    cols = rec.arrays()
    lat = cols["t_deq"] - cols["t_submit"]
    span = int(result.sim_time_ns) - int(rec.warmup_ns or 0)
    owners = list(rec.owners)
    by_set: dict[str, list[int]] = {}
    for name, c in summary["containers"].items():
        by_set.setdefault(c["setname"], []).append(owners.index(name))
    gauges = summary["gauges"]
    sets = {}
    for setname in sorted(summary["now"]):
        idx = by_set.get(setname, [])
        row: dict[str, Any] = {g: (gauges[setname][g] if gauges is not None else None) for g in GAUGES}
        row["containers"] = sorted(n for n, c in summary["containers"].items() if c["setname"] == setname)
        row.update(latency_row(lat[np.isin(cols["owner"], idx)], span))
        sets[setname] = row
    polled = summary["polled_at_ns"]
    return {
        "error": summary["error"],
        "scans": summary["scans"],
        "polled_at_us": None if polled is None else polled / 1000,
        "totals": {g.replace("cex_plugin_", "cex_plugin_total_"):
                   (sum(s[g] for s in sets.values()) if gauges is not None else None) for g in GAUGES},
        "sets": sets,
        "containers": summary["containers"],
    }


def cex_plugin_metrics(result: Any) -> Iterator[GaugeMetricFamily]:
    """The plugin's Prometheus gauges as its exporter publishes them (nothing before a poll)."""
    block = cex_plugin_block(result)
    if block is None or block["polled_at_us"] is None:
        return
    helps = {"cex_plugin_plugindevs_available": "Number of CEX plugin devices available, partitioned by configset",
             "cex_plugin_plugindevs_used": "Number of CEX plugin devices in use, partitioned by configset",
             "cex_plugin_request_counter": "Sum of request counter values of all CEX resources managed by "
                                           "all CEX plugins, partitioned by configset"}
    totals = {"cex_plugin_total_plugindevs_available": "Total number of CEX plugin devices available",
              "cex_plugin_total_plugindevs_used": "Total number of CEX plugin devices in use",
              "cex_plugin_total_request_counter": "Sum of all request counter values of all CEX resources "
                                                  "managed by all CEX plugins"}
    for name, doc in totals.items():
        yield GaugeMetricFamily(name, doc, value=block["totals"][name])
    for g in GAUGES:
        fam = GaugeMetricFamily(g, helps[g], labels=["setname"])
        for setname, row in block["sets"].items():
            fam.add_metric([setname], row[g])
        yield fam
