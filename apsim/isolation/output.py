"""What ``apsim check-isolation`` writes: console summary, reach-matrix CSV and PNG heatmap,
and a replayable counterexample scenario per violation."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from apsim.ids import format_apqn
from apsim.isolation.probe import OPS, Checkpoint, IsolationResult
from apsim.units import format_duration

__all__ = ["render_console", "write_csv", "write_heatmap", "write_counterexample", "exhaustive_counterexample"]


def render_console(res: IsolationResult, console: Any) -> None:
    """One line per checkpoint, then each violation; the last checkpoint's matrix per guest."""
    n_apqn = len(res.checkpoints[0].apqns) if res.checkpoints else 0
    console.print(f"check-isolation {res.scenario.name}: {len(res.checkpoints)} checkpoints × guests × "
                  f"{n_apqn} APQNs × {len(OPS)} instructions = {res.instructions:,} instructions",
                  markup=False, soft_wrap=True)
    for cp in res.checkpoints:
        status = "ok" if not cp.findings else f"{len(cp.findings)} VIOLATIONS"
        console.print(f"  {cp.label}: {len(cp.guests)} guests, {int(cp.reached.sum())} guest×APQN reached, "
                      f"{int(cp.allowed.sum())} allowed: {status}", markup=False, soft_wrap=True)
    if res.checkpoints:
        cp = res.checkpoints[-1]
        console.print(f"reach at {cp.label} (allowed = assigned ∩ configured ∩ bound to vfio_ap):",
                      markup=False, soft_wrap=True)
        for gi, g in enumerate(cp.guests):
            got = [format_apqn(q) for q, r in zip(cp.apqns, cp.reached[gi]) if r]
            console.print(f"  {g}: {', '.join(got) or '-'}", markup=False, soft_wrap=True)
    for f in res.findings:
        console.print(f"VIOLATION at {format_duration(f.at_ns)}: {f.guest} {f.op} {format_apqn(f.apqn)} "
                      f"reached the queue ({f.outcome}) outside its allowed set", markup=False, soft_wrap=True)


def write_csv(res: IsolationResult, out: Path) -> Path:
    """``reach.csv``: checkpoint, guest, APQN, reached, allowed (one row per pair)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["at_ns", "checkpoint", "guest", "apqn", "reached", "allowed", "violation"])
    for cp in res.checkpoints:
        for gi, g in enumerate(cp.guests):
            for ai, q in enumerate(cp.apqns):
                r, a = bool(cp.reached[gi, ai]), bool(cp.allowed[gi, ai])
                w.writerow([cp.at_ns, cp.label, g, format_apqn(q), int(r), int(a), int(r and not a)])
    p = out / "reach.csv"
    p.write_text(buf.getvalue())
    return p


def write_heatmap(cp: Checkpoint, out: Path) -> Path:
    """``reach.png``: guests × APQNs; reached inside (green), outside (red), allowed but unused (grey)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    grid = np.zeros(cp.reached.shape, dtype=int)
    grid[cp.allowed & ~cp.reached] = 1
    grid[cp.reached & cp.allowed] = 2
    grid[cp.reached & ~cp.allowed] = 3
    rows, cols = grid.shape
    fig, ax = plt.subplots(figsize=(min(40, max(6.0, 2 + cols * 0.12)), min(40, max(2.5, 1.5 + rows * 0.18))))
    ax.imshow(grid if grid.size else np.zeros((1, 1), dtype=int),
              cmap=ListedColormap(["white", "lightgrey", "seagreen", "crimson"]), vmin=0, vmax=3,
              aspect="auto", interpolation="nearest")
    ax.set_yticks(range(rows), cp.guests, fontsize=6)
    step = max(1, cols // 40)
    ax.set_xticks(range(0, cols, step), [format_apqn(q) for q in cp.apqns[::step]], rotation=90, fontsize=6)
    ax.set_title(f"What each guest reaches {cp.label}\ngreen: reached, grey: allowed but not reached, "
                 f"red: VIOLATION", fontsize=9)
    p = out / "reach.png"
    fig.savefig(p, dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return p


def write_counterexample(source: str, out: Path, at_ns: int, probes: list[tuple[str, str, int]],
                         actions: list[dict[str, Any]] | None = None, why: str = "") -> Path:
    """``counterexample.yaml``: the user's file up to *at_ns*, the explored *actions*, then each
    probe ``(guest, op, apqn)`` expecting RC 0x01; ``apsim run`` fails it on the faulty build."""
    from ruamel.yaml import YAML

    from apsim.scenario.loader import read_yaml

    tree = read_yaml(source)
    kept: list[Any] = [a for a in (tree.get("timeline") or []) if _at(a.get("at")) < at_ns]
    kept += list(actions or [])
    for guest, op, apqn in dict.fromkeys(probes):
        kept.append({"at": f"{at_ns}ns", "do": "guest.instruction", "guest": guest,
                     **_INSTRUCTION[op], "apqn": format_apqn(apqn), "expect": {"cc": 3, "rc": 1}})
    tree["timeline"] = kept
    tree["duration"] = f"{at_ns + 1}ns"
    tree.pop("warmup", None)
    p = out / "counterexample.yaml"
    buf = io.StringIO()
    buf.write(f"# apsim check-isolation: {why}\n# Replay: apsim run {p.name} (exit 1 while the fault is there).\n")
    YAML(typ="rt").dump(tree, buf)
    p.write_text(buf.getvalue())
    return p


def exhaustive_counterexample(res: IsolationResult, source: str, out: Path) -> Path | None:
    """The counterexample of the exhaustive part's first violating checkpoint, or None."""
    if not res.findings:
        return None
    first = res.findings[0]
    probes = [(f.guest, f.op, f.apqn) for f in res.findings if f.at_ns == first.at_ns]
    why = (f"{first.guest} {first.op} {format_apqn(first.apqn)} reached the queue at "
           f"{format_duration(first.at_ns)} outside its allowed set.")
    return write_counterexample(source, out, first.at_ns, probes, why=why)


# A probe as a scenario action (docs/scenarios.md, guest.instruction).
_INSTRUCTION: dict[str, dict[str, Any]] = {
    "TAPQ": {"op": "TAPQ"}, "TAPQ_T": {"op": "TAPQ", "t": True}, "NQAP": {"op": "NQAP"},
    "DQAP": {"op": "DQAP"}, "RAPQ": {"op": "RAPQ"}, "ZAPQ": {"op": "ZAPQ"},
    "AQIC_ON": {"op": "AQIC", "enable": True, "isc": 3}, "AQIC_OFF": {"op": "AQIC", "enable": False},
}


def _at(value: Any) -> int:
    from apsim.scenario.types import parse_scenario_duration

    return parse_scenario_duration(value if value is not None else 0)
