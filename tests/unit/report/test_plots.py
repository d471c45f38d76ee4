"""Plots stay readable with 64 guests: the busiest few drawn one by one, the rest as one
band, legends outside, admin actions labelled, utilization over time; no warnings."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from apsim.hw.timing import request_type
from apsim.ids import apqn
from apsim.engine.recorder import RequestRecorder, TimelineEntry
from apsim.report.json_report import build_report
from apsim.units import MS, US
from tests.unit.fake_run import make_run

pytest.importorskip("matplotlib")


def sixty_four_guests():  # noqa: ANN201
    run = make_run(n=10)
    rec = RequestRecorder()
    rng = np.random.default_rng(3)
    rt = request_type("rsa2048").index
    for g in range(64):
        owner = rec.owner_index(f"g{g:02d}")
        for _ in range(20 + g):
            t = int(rng.integers(0, 45 * MS))
            lat = int(rng.integers(50 * US, 3 * MS))
            rec.record(owner, apqn(5, g), rt, t, t + lat - 10 * US, t + lat, t_start=t + 5 * US)
    run.recorder = rec
    run.adapters = {5: {"type": "CEX8C", "engines": 4, "utilization": 0.5, "completed": 100}}
    run.timeline.add(TimelineEntry(at_ns=20 * MS, do="se.configure_off", args={"adapters": [6]}))
    return run


def test_64_guest_plots_have_top_k_lines_a_band_an_outside_legend_and_no_warnings(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    from apsim.report import plots

    run = sixty_four_guests()
    report = build_report(run)
    seen = {}
    save = plots._save

    def keep(plt_, fig, path):  # noqa: ANN001, ANN202
        ax = fig.axes[0]
        leg = ax.get_legend()
        seen[path.name] = ([t.get_text() for t in leg.get_texts()] if leg else [],
                           leg.get_bbox_to_anchor().x0 > ax.get_window_extent().x1 if leg else None,
                           [t.get_text() for t in ax.texts])
        return save(plt_, fig, path)

    plots._save = keep
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            files = plots.write_plots(run, report, tmp_path)
    finally:
        plots._save = save
        plt.close("all")
    assert {f.name for f in files} >= {"latency_cdf.png", "throughput.png", "adapter_utilization_over_time.png"}
    labels, outside, texts = seen["latency_cdf.png"]
    assert len(labels) == plots.TOP_K + 1 and labels[0] == "56 other guests (range)" and outside
    assert labels[1].startswith("g63")  # the busiest guest first
    labels, outside, texts = seen["throughput.png"]
    assert "all guests" in labels and outside and "se.configure_off" in texts
    labels, _, texts = seen["adapter_utilization_over_time.png"]
    assert labels == ["05 CEX8C"] and "se.configure_off" in texts
