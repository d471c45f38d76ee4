"""A sweep's plots: each metric against the swept parameter (mean, 95 % CI band, the
search's bound), or a heatmap of the mean over two parameters of a grid."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["write_plots", "MAX_PLOTS"]

MAX_PLOTS = 24
"""At most this many metric columns get a plot (``guests.*`` may expand to hundreds)."""


def _file(metric: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", metric) + ".png"


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def write_plots(summary: list[dict[str, Any]], parameters: list[str], design: str, out: Path,
                search: dict[str, Any] | None = None) -> list[Path]:
    """Write the PNGs into *out*; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not summary or not parameters:
        return []
    out.mkdir(parents=True, exist_ok=True)
    metrics = list(summary[0]["stats"]) if summary else []
    for row in summary[1:]:
        metrics += [m for m in row["stats"] if m not in metrics]
    varying = [p for p in parameters if len({str(r["parameters"][p]) for r in summary}) > 1] or parameters[:1]
    written = []
    for metric in metrics[:MAX_PLOTS]:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        if design == "grid" and len(varying) == 2 and search is None:
            _heatmap(fig, ax, summary, varying, metric)
        else:
            _line(ax, summary, varying[0], metric, search)
        ax.set_title(metric)
        fig.tight_layout()
        path = out / _file(metric)
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        written.append(path)
    return written


def _line(ax: Any, summary: list[dict[str, Any]], param: str, metric: str,
          search: dict[str, Any] | None) -> None:
    pts = []
    for r in summary:
        s = r["stats"].get(metric, {})
        x, m = _num(r["parameters"][param]), s.get("mean")
        if x is not None and m is not None:
            pts.append((x, m, s.get("ci95") or 0.0))
    pts.sort()
    if pts:
        xs, ms, cs = zip(*pts)
        ax.plot(xs, ms, marker="o", label="mean")
        ax.fill_between(xs, [m - c for m, c in zip(ms, cs)], [m + c for m, c in zip(ms, cs)],
                        alpha=0.25, label="95% CI")
    if search is not None and search["metric"] == metric and search["bound"]["value"] == search["bound"]["value"]:
        b = search["bound"]
        what = f" ({b['given']:g}x the first)" if b["kind"] == "max_ratio_to_first" else ""
        ax.axhline(b["value"], color="tab:red", linestyle="--", label=f"bound {b['value']:.6g}{what}")
        if search["answer"] is not None:
            ax.axvline(search["answer"], color="tab:green", linestyle=":", label=f"answer {search['answer']}")
    ax.set_xlabel(param)
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")


def _heatmap(fig: Any, ax: Any, summary: list[dict[str, Any]], params: list[str], metric: str) -> None:
    import numpy as np

    xs = list(dict.fromkeys(r["parameters"][params[0]] for r in summary))
    ys = list(dict.fromkeys(r["parameters"][params[1]] for r in summary))
    grid = np.full((len(ys), len(xs)), np.nan)
    for r in summary:
        m = r["stats"].get(metric, {}).get("mean")
        if m is not None:
            grid[ys.index(r["parameters"][params[1]]), xs.index(r["parameters"][params[0]])] = m
    im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    ax.set_xlabel(params[0])
    ax.set_ylabel(params[1])
    fig.colorbar(im, ax=ax, label=f"{metric} (mean)")
