"""``--plots DIR``: PNG figures of a run (matplotlib, imported only when asked for).

* ``latency_cdf.png``: the empirical CDF of NQAP→DQAP latency per guest (log x);
* ``throughput.png``: completions per second over time per guest, with the
  timeline's admin actions as vertical lines;
* ``adapter_utilization.png``: busy fraction of each adapter's engines.

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


def write_plots(result: Any, report: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write the PNGs for *result* (its recorder) and *report* into *out_dir*; returns the files."""
    plt = _pyplot()
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    files = [_latency_cdf(plt, result, d / "latency_cdf.png"),
             _throughput(plt, report, d / "throughput.png"),
             _utilization(plt, report, d / "adapter_utilization.png")]
    return files


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    # No timestamps or software tags in the file, so plots are reproducible too.
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def _latency_cdf(plt: Any, result: Any, path: Path) -> Path:
    cols = result.recorder.arrays()
    lat_us = (cols["t_deq"] - cols["t_submit"]) / US
    fig, ax = plt.subplots(figsize=(7, 4.5))
    drawn = False
    for idx, name in enumerate(result.recorder.owners):
        v = np.sort(lat_us[cols["owner"] == idx])
        if v.size == 0:
            continue
        ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", label=f"{name} (n={v.size:,})")
        drawn = True
    if drawn:
        ax.set_xscale("log")
        ax.legend(loc="lower right", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no completed requests", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("latency NQAP→DQAP (µs)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("Latency CDF per guest")
    ax.grid(True, alpha=0.3)
    return _save(plt, fig, path)


def _throughput(plt: Any, report: dict[str, Any], path: Path) -> Path:
    s = report.get("series", {})
    t_ms = np.asarray(s.get("t_us", []), dtype=float) / 1000
    w_s = (s.get("window_us") or 1) / 1e6
    fig, ax = plt.subplots(figsize=(8, 4.5))
    by_guest = s.get("completions_by_guest") or {}
    for name, counts in by_guest.items():
        ax.step(t_ms, np.asarray(counts, dtype=float) / w_s, where="post", label=name)
    if not by_guest and t_ms.size:
        ax.step(t_ms, np.asarray(s.get("completions", []), dtype=float) / w_s, where="post", label="all")
    for i, e in enumerate(report.get("timeline") or []):
        color = "red" if e.get("passed") is False else "grey"
        ax.axvline(float(e.get("at_us", 0)) / 1000, color=color, linestyle="--", linewidth=0.8,
                   label="admin action" if i == 0 else None)
    ax.set_xlabel("simulated time (ms)")
    ax.set_ylabel("completions / s")
    ax.set_title("Throughput over time")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")
    ax.grid(True, alpha=0.3)
    return _save(plt, fig, path)


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
