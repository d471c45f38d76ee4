"""What a Dask worker runs: a batch of (point, replication) runs, each to one row.

A worker process imports the simulation once (:func:`warm`) and keeps it; a batch
holds several short runs so that the per-task overhead of the cluster does not
dominate. A run that raises is recorded with its error and the batch goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

__all__ = ["RunSpec", "run_batch", "run_one", "warm"]


@dataclass(frozen=True)
class RunSpec:
    """One run: which point and replication, its seed, the validated scenario, the metrics."""

    point: int
    replication: int
    seed: int
    scenario: Any  # apsim.scenario.schema.Scenario (pickled to the worker)
    metrics: tuple[str, ...]


def warm() -> str:
    """Import the simulation and report layers (called once on every worker)."""
    import apsim.report.json_report  # noqa: F401
    import apsim.scenario.run  # noqa: F401
    from apsim._engine import engine

    return engine()


def run_one(run: RunSpec) -> dict[str, Any]:
    """Run *run*: ``{"point", "replication", "seed", "status", "wall_s", "cpu_s", "metrics"}``."""
    from apsim.experiments.paths import expand_metric
    from apsim.report.json_report import build_report, canonical
    from apsim.scenario.run import run_scenario

    t0, c0 = time.perf_counter(), time.process_time()
    row: dict[str, Any] = {"point": run.point, "replication": run.replication, "seed": run.seed}
    try:
        # The metrics as the run's JSON report prints them (rounded the same way).
        report = canonical(build_report(run_scenario(run.scenario, seed=run.seed)))
        values: dict[str, Any] = {}
        for pattern in run.metrics:
            values.update(expand_metric(report, pattern))
        row.update(status="ok", metrics=values)
    except Exception as e:  # noqa: BLE001 - a failing run is a result, not the end of the sweep
        row.update(status=f"error: {type(e).__name__}: {e}".replace("\n", " "), metrics={})
    row["wall_s"] = time.perf_counter() - t0
    row["cpu_s"] = time.process_time() - c0  # for benchmarks: wall ≫ cpu means a shared core
    return row


def run_batch(runs: list[RunSpec]) -> list[dict[str, Any]]:
    """Run every run of the batch in order."""
    return [run_one(r) for r in runs]
