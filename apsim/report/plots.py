"""``--plots DIR``: PNG figures of a run (matplotlib, imported only when asked for).

* ``latency_cdf.png``: the empirical CDF of NQAP→DQAP latency per guest (log x);
* ``throughput.png``: completions per second over time per guest, with the
  timeline's admin actions as labelled vertical lines;
* ``adapter_utilization.png``: busy fraction of each adapter's engines;
* ``adapter_utilization_over_time.png``: the same per time window.

With many guests the :data:`TOP_K` busiest are drawn one by one and the others as
one grey band (their range); legends sit outside the axes, admin actions are
labelled lines.

matplotlib costs about half a second to import, so this module imports it inside
:func:`write_plots` only, with the non-interactive Agg backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from apsim.errors import ApsimError
from apsim.units import US

__all__ = ["write_plots"]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ApsimError("--plots needs matplotlib: pip install 'apsim[plot]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


TOP_K = 8
"""Guests drawn one by one; the others become one aggregate band (64 lines help no one)."""

MAX_ACTION_LABELS = 12
"""Admin actions labelled by name on the time plots; later ones are drawn unlabelled."""


def write_plots(result: Any, report: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write the PNGs for *result* (its recorder) and *report* into *out_dir*; returns the files."""
    plt = _pyplot()
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    files = [_latency_cdf(plt, result, d / "latency_cdf.png"),
             _throughput(plt, report, d / "throughput.png"),
             _utilization(plt, report, d / "adapter_utilization.png"),
             _utilization_over_time(plt, result, report, d / "adapter_utilization_over_time.png")]
    return files


def _save(plt: Any, fig: Any, path: Path) -> Path:
    # bbox_inches="tight" keeps a legend placed outside the axes in the file; no
    # timestamps or software tags, so plots are reproducible too.
    fig.savefig(path, dpi=110, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return path


def _legend_outside(ax: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)


def _top(counts: dict[str, int], k: int = TOP_K) -> tuple[list[str], list[str]]:
    """The *k* guests with the most completions (ties by name), and the rest."""
    order = sorted(counts, key=lambda n: (-counts[n], n))
    return order[:k], order[k:]


def _latency_cdf(plt: Any, result: Any, path: Path) -> Path:
    cols = result.recorder.arrays()
    lat_us = (cols["t_deq"] - cols["t_submit"]) / US
    per = {name: np.sort(lat_us[cols["owner"] == idx]) for idx, name in enumerate(result.recorder.owners)}
    per = {n: v for n, v in per.items() if v.size}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    top, rest = _top({n: int(v.size) for n, v in per.items()})
    if rest:
        # The other guests as one band: at each latency, the lowest and highest CDF among them.
        lo, hi = min(float(per[n][0]) for n in rest), max(float(per[n][-1]) for n in rest)
        grid = np.geomspace(max(lo, 1e-3), max(hi, lo * 1.0001, 1e-3), 200)
        cdfs = np.array([np.searchsorted(per[n], grid, side="right") / per[n].size for n in rest])
        ax.fill_between(grid, cdfs.min(axis=0), cdfs.max(axis=0), step="post", color="grey", alpha=0.3,
                        label=f"{len(rest)} other guests (range)")
    for name in top:
        v = per[name]
        ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", label=f"{name} (n={v.size:,})")
    if per:
        ax.set_xscale("log")
        _legend_outside(ax)
    else:
        ax.text(0.5, 0.5, "no completed requests", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("latency NQAP→DQAP (µs)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("Latency CDF per guest" + (f" (top {len(top)} by completions)" if rest else ""))
    ax.grid(True, alpha=0.3)
    return _save(plt, fig, path)


def _admin_actions(ax: Any, report: dict[str, Any]) -> None:
    """Vertical lines at the file's admin actions (not the setup), the first few labelled."""
    entries = [e for e in report.get("timeline") or []
               if not (e.get("args") or {}).get("setup") and e.get("do") != "guest.ready"]
    for i, e in enumerate(entries):
        x = float(e.get("at_us", 0)) / 1000
        color = "red" if e.get("passed") is False else "grey"
        ax.axvline(x, color=color, linestyle="--", linewidth=0.8)
        if i < MAX_ACTION_LABELS:
            ax.annotate(str(e.get("do")), (x, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                        fontsize=6, va="top", ha="right", color=color)


def _finish_time_plot(plt: Any, fig: Any, ax: Any, report: dict[str, Any], path: Path, ylabel: str,
                      title: str) -> Path:
    """Admin actions, labels, the legend outside and the grid of a plot over simulated time."""
    _admin_actions(ax, report)
    ax.set_xlabel("simulated time (ms)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _legend_outside(ax)
    ax.grid(True, alpha=0.3)
    return _save(plt, fig, path)


def _throughput(plt: Any, report: dict[str, Any], path: Path) -> Path:
    s = report.get("series", {})
    t_ms = np.asarray(s.get("t_us", []), dtype=float) / 1000
    w_s = (s.get("window_us") or 1) / 1e6
    fig, ax = plt.subplots(figsize=(8, 4.5))
    by_guest = {n: np.asarray(c, dtype=float) / w_s for n, c in (s.get("completions_by_guest") or {}).items()}
    top, rest = _top({n: int(v.sum()) for n, v in by_guest.items()})
    if rest and t_ms.size:
        band = np.array([by_guest[n] for n in rest])
        ax.fill_between(t_ms, band.min(axis=0), band.max(axis=0), step="post", color="grey", alpha=0.3,
                        label=f"{len(rest)} other guests (range)")
    for name in top:
        if t_ms.size:
            ax.step(t_ms, by_guest[name], where="post", label=name)
    if t_ms.size and (not by_guest or rest):
        ax.step(t_ms, np.asarray(s.get("completions", []), dtype=float) / w_s, where="post", color="black",
                linewidth=1.2, label="all guests")
    return _finish_time_plot(plt, fig, ax, report, path, "completions / s", "Throughput over time")


def _utilization(plt: Any, report: dict[str, Any], path: Path) -> Path:
    adapters = report.get("adapters") or {}
    keys = list(adapters)
    util = [100 * float(adapters[k].get("utilization") or 0.0) for k in keys]
    labels = [f"{k} {adapters[k].get('type') or ''}".strip() for k in keys]
    fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(keys) + 2), 4))
    ax.bar(range(len(keys)), util, color="tab:blue")
    ax.set_xticks(range(len(keys)), labels, rotation=45 if len(keys) > 8 else 0)
    ax.set_ylim(0, 100)
    ax.set_ylabel("utilization (%)")
    ax.set_title("Adapter utilization")
    ax.grid(True, axis="y", alpha=0.3)
    return _save(plt, fig, path)


def _utilization_over_time(plt: Any, result: Any, report: dict[str, Any], path: Path) -> Path:
    """Busy fraction of each adapter's engines per window, from the start and done times of the
    dequeued requests (warm-up included: the engines were busy then too; requests still in
    service at the end are not in the recorder, so the last window can read low)."""
    cols = result.recorder.arrays(include_warmup=True)
    s = report.get("series", {})
    t_us = np.asarray(s.get("t_us", []), dtype=float)
    w_ns = float(s.get("window_us") or 1) * US
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if t_us.size and "t_start" in cols and cols["t_start"].size:
        edges = np.append(t_us * US, t_us[-1] * US + w_ns)
        start, done = cols["t_start"].astype(float), cols["t_done"].astype(float)
        ok = start >= 0
        apid = cols["apqn"] >> 8
        for key, row in (report.get("adapters") or {}).items():
            sel = ok & (apid == int(key, 16))
            busy = np.zeros(t_us.size)
            for i in range(t_us.size):  # windows are few (about 100): overlap per window, vectorized
                lo, hi = edges[i], edges[i + 1]
                busy[i] = np.clip(np.minimum(done[sel], hi) - np.maximum(start[sel], lo), 0, None).sum()
            engines = max(1, int(row.get("engines") or result.adapters.get(int(key, 16), {}).get("engines", 1)))
            ax.step(t_us / 1000, 100 * busy / (w_ns * engines), where="post", label=f"{key} {row.get('type', '')}")
    else:
        ax.text(0.5, 0.5, "no engine times recorded", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(0, 105)
    return _finish_time_plot(plt, fig, ax, report, path, "engines busy (%)", "Adapter utilization over time")
