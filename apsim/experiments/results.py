"""A sweep's tables: ``runs.csv`` (a row per run) and ``summary.csv`` (a row per point).

``runs.csv`` is always sorted by (point, replication) and rewritten whole (through a
temporary file) as batches finish, so it is complete and ordered at every moment —
an interrupted sweep can be resumed from it — and does not depend on which worker ran
what. Numbers are written as Python prints them (the shortest text that reads back
as the same float), so the file reads back exactly.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from apsim.errors import ScenarioError

__all__ = ["Row", "RunTable", "point_stats", "write_summary", "fmt_value", "parse_value"]

Row = dict[str, Any]
"""``{"point", "replication", "seed", "status", "wall_s", "metrics": {column: value}}``."""

_FIXED = ("point", "replication", "seed", "status", "wall_s")


def fmt_value(v: Any) -> str:
    """A value as runs.csv writes it."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ""
    return str(v)


def parse_value(text: str) -> Any:
    """The inverse of :func:`fmt_value` for metric cells."""
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


class RunTable:
    """The runs of a sweep so far, keyed by (point, replication), and their CSV file."""

    def __init__(self, path: Path, parameters: list[str], points: list[dict[str, Any]]) -> None:
        self.path = path
        self.parameters = parameters
        self.points = points
        self.rows: dict[tuple[int, int], Row] = {}

    def add(self, rows: list[Row]) -> None:
        """Record finished runs (a later row for the same run replaces the earlier)."""
        for r in rows:
            self.rows[(r["point"], r["replication"])] = r

    def ok(self, point: int) -> list[Row]:
        """The successful runs of *point*, by replication."""
        return [r for (p, _), r in sorted(self.rows.items()) if p == point and r["status"] == "ok"]

    def columns(self) -> list[str]:
        """Metric columns in order of first appearance over the sorted rows."""
        seen: dict[str, None] = {}
        for key in sorted(self.rows):
            for c in self.rows[key]["metrics"]:
                seen.setdefault(c, None)
        return list(seen)

    def write(self) -> None:
        """Rewrite runs.csv, sorted, atomically."""
        cols = self.columns()
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["point", *self.parameters, "replication", "seed", "status", "wall_s", *cols])
            for key in sorted(self.rows):
                r = self.rows[key]
                params = self.points[r["point"]] if r["point"] < len(self.points) else {}
                w.writerow([r["point"], *(fmt_value(params.get(p)) for p in self.parameters),
                            r["replication"], r["seed"], r["status"], f"{r['wall_s']:.3f}",
                            *(fmt_value(r["metrics"].get(c)) for c in cols)])
        os.replace(tmp, self.path)

    def load(self, seeds: dict[tuple[int, int], int]) -> int:
        """Read an earlier runs.csv (``--resume``); its runs must be runs of this sweep.

        Failed runs are left out, so a resume runs them again. Returns how many runs
        were kept.
        """
        if not self.path.is_file():
            return 0
        with self.path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            want = ["point", *self.parameters, "replication", "seed", "status", "wall_s"]
            if header[:len(want)] != want:
                raise ScenarioError(f"was written by a different sweep (columns {', '.join(header[:len(want)])}; "
                                    f"this sweep writes {', '.join(want)}); use another --out or delete it",
                                    file=str(self.path), line=1)
            metrics = header[len(want):]
            kept = 0
            for n, rec in enumerate(reader, start=2):
                try:
                    key = (int(rec["point"]), int(rec["replication"]))
                    seed = int(rec["seed"])
                except (TypeError, ValueError):
                    raise ScenarioError("not a runs.csv row (point, replication and seed are whole numbers)",
                                        file=str(self.path), line=n) from None
                if seeds.get(key) != seed:
                    raise ScenarioError(f"run (point {key[0]}, replication {key[1]}) with seed {seed} is not a "
                                        f"run of this sweep (changed since?); use another --out or delete it",
                                        file=str(self.path), line=n)
                if rec["status"] != "ok":
                    continue
                self.rows[key] = {"point": key[0], "replication": key[1], "seed": seed, "status": "ok",
                                  "wall_s": float(rec["wall_s"] or 0),
                                  "metrics": {c: parse_value(rec[c]) for c in metrics if rec[c] != ""}}
                kept += 1
        return kept


def point_stats(values: list[Any]) -> dict[str, float | int | None]:
    """Mean, sample standard deviation and 95 % CI half-width (Student t) of *values*."""
    from apsim.scenario.run import t95

    x = np.array([float(v) for v in values if isinstance(v, int | float) and v is not None], dtype=float)
    n = int(x.size)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "ci95": None}
    sd = float(x.std(ddof=1)) if n > 1 else None
    ci = t95(n - 1) * sd / math.sqrt(n) if sd is not None else None
    return {"n": n, "mean": float(x.mean()), "sd": sd, "ci95": ci}


def write_summary(table: RunTable, path: Path, point_ids: list[int]) -> list[dict[str, Any]]:
    """Write summary.csv (a row per point: runs, failures, mean/sd/ci95 per metric); return its rows."""
    cols = table.columns()
    out = []
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["point", *table.parameters, "runs", "failed",
                    *(f"{c}.{s}" for c in cols for s in ("mean", "sd", "ci95"))])
        for p in point_ids:
            ok = table.ok(p)
            failed = sum(1 for (q, _), r in table.rows.items() if q == p and r["status"] != "ok")
            stats = {c: point_stats([r["metrics"].get(c) for r in ok]) for c in cols}
            params = table.points[p]
            w.writerow([p, *(fmt_value(params.get(k)) for k in table.parameters), len(ok), failed,
                        *(fmt_value(stats[c][s]) for c in cols for s in ("mean", "sd", "ci95"))])
            out.append({"point": p, "parameters": params, "runs": len(ok), "failed": failed, "stats": stats})
    return out
