"""The run's counters and latency histograms in the Prometheus text exposition format.

Written with ``prometheus_client`` (a private registry and a collector that yields
the families from the finished run, so nothing is global and the same run gives
the same bytes): the request ledger (``apsim_requests_*``), per-adapter
completions and utilization, and the latency from NQAP to DQAP per guest and APQN
as a histogram whose buckets suit AP requests (10 µs to 1 s). Extra families
(the k8s CEX plugin's ``cex_plugin_*``) come from :data:`EXTRA` providers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from apsim.ids import format_apqn

__all__ = ["BUCKETS_S", "render", "write_metrics", "RunCollector"]

BUCKETS_S = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1,
             0.25, 0.5, 1.0)
"""Upper bounds (seconds) of the latency histogram buckets (then +Inf)."""


class RunCollector(Collector):
    """Yields the metric families of one finished run."""

    def __init__(self, result: Any, extra: list[Callable[[Any], Iterator[Any]]] | None = None) -> None:
        self.result = result
        self.extra = extra or []

    def collect(self) -> Iterator[Any]:
        r = self.result
        led = r.ledger.summary()
        yield _counter("apsim_requests_submitted", "Requests NQAP accepted or refused.", led["submitted"])
        yield _counter("apsim_requests_completed", "Requests whose reply was dequeued.", led["completed"])
        rej = CounterMetricFamily("apsim_requests_rejected", "Requests refused, by response code.",
                                  labels=["rc"])
        for rc, n in sorted(led["rejected"].items()):
            rej.add_metric([str(rc)], n)
        yield rej
        drop = CounterMetricFamily("apsim_requests_dropped", "Requests lost to a named event.",
                                   labels=["cause"])
        for cause, n in sorted(led["dropped"].items()):
            drop.add_metric([str(cause)], n)
        yield drop
        yield GaugeMetricFamily("apsim_requests_in_flight", "Requests held at the end of the run.",
                                value=led["in_flight"])
        util = GaugeMetricFamily("apsim_adapter_utilization", "Busy fraction of the adapter's engines.",
                                 labels=["adapter", "type"])
        done = CounterMetricFamily("apsim_adapter_completed", "Requests the adapter completed.",
                                   labels=["adapter", "type"])
        for apid, a in sorted(r.adapters.items()):
            labels = [f"{apid:02x}", str(a["type"])]
            util.add_metric(labels, float(a["utilization"]))
            done.add_metric(labels, int(a["completed"]))
        yield util
        yield done
        yield self._latency()
        for provider in self.extra:
            yield from provider(r)

    def _latency(self) -> HistogramMetricFamily:
        cols = self.result.recorder.arrays()
        lat = (cols["t_deq"] - cols["t_submit"]) / 1e9
        owners = list(self.result.recorder.owners)
        h = HistogramMetricFamily("apsim_request_latency_seconds",
                                  "Latency from NQAP to DQAP of completed requests.",
                                  labels=["guest", "apqn"])
        keys = np.stack([cols["owner"], cols["apqn"]], axis=1) if len(lat) else np.empty((0, 2), np.int64)
        for owner, apqn in sorted({(int(o), int(q)) for o, q in keys.tolist()}):
            sel = lat[(cols["owner"] == owner) & (cols["apqn"] == apqn)]
            counts = np.searchsorted(np.sort(sel), BUCKETS_S, side="right")
            buckets = [(floatToGoString(b), float(c)) for b, c in zip(BUCKETS_S, counts.tolist())]
            buckets.append(("+Inf", float(len(sel))))
            h.add_metric([owners[owner] if owner < len(owners) else str(owner), format_apqn(apqn)],
                         buckets, sum_value=float(np.sum(sel)))
        return h


def _counter(name: str, doc: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def render(result: Any, extra: list[Callable[[Any], Iterator[Any]]] | None = None) -> str:
    """The exposition text of *result*."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RunCollector(result, extra))
    return generate_latest(registry).decode("utf-8")


def write_metrics(result: Any, path: str | Path,
                  extra: list[Callable[[Any], Iterator[Any]]] | None = None) -> Path:
    """Write the exposition text of *result* to *path*."""
    p = Path(path)
    p.write_text(render(result, extra), encoding="utf-8")
    return p
