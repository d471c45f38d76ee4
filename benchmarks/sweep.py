"""Benchmark of ``apsim sweep`` on Dask distributed: parallel efficiency and per-run overhead.

Usage::

    python benchmarks/sweep.py            # both measurements, about a minute
    python benchmarks/sweep.py --quick    # tiny sizes (a smoke run)

* ``speedup_2_vs_1`` — the same sweep (40 runs of the capacity base scenario, each
  about half a second of computing) on a warm LocalCluster of 1 worker, then of 2
  workers, in the same invocation; wall time of the runs (cluster start excluded,
  it is paid once per sweep) 1 worker ÷ 2 workers; the median of three interleaved
  rounds (``_best``: the best round). Goal ≥ 1.7 on two free cores. Each round also
  records ``core_share_N``: the CPU time the runs got ÷ (wall time × workers) — below
  1 when other processes share the cores, which caps the speed-up at
  2 × core_share_2 ÷ core_share_1.
* ``overhead_ms_per_run`` — a sweep of 200 tiny runs (a scenario without guests,
  1 ms simulated) on one warm worker: wall time per run minus the time the run
  itself took inside the worker (``wall_s`` of runs.csv), with the default batching
  and (``_unbatched``) with one run per Dask task. Goal ≤ 50 ms.
  ``speedup_of_available`` per round: the speed-up ÷ that cap (1.0 = every core
  second the workers got was turned into runs).

Both are wall-clock figures: other processes on the machine slow them down, so
run it on an otherwise idle machine (the figures in benchmarks/README.md say how
busy the machine was). Results go to ``benchmarks/results/sweep.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apsim.experiments.design import run_seed  # noqa: E402
from apsim.experiments.engine import Engine  # noqa: E402
from apsim.experiments.spec import load_sweep  # noqa: E402
from apsim.experiments.sweep import resolve_points  # noqa: E402
from apsim.experiments.worker import RunSpec  # noqa: E402

HALF_SECOND = """\
base: {base}
parameters:
  guests[0].count: {{from: 1, to: {points}}}
  duration: ["{duration}"]
replications: {reps}
seed: 1
metrics: [latency.p99_us]
"""

TINY = """\
apiVersion: apsim/v1
name: tiny
duration: 1ms
machine:
  model: z16
  adapters:
    - {id: 1, type: CEX8C}
"""

TINY_SWEEP = """\
base: tiny.yaml
replications: {runs}
seed: 1
metrics: [requests.completed]
"""


def runs_of(sweep: Path) -> list[RunSpec]:
    """Every run of *sweep*, validated, as the engine receives them."""
    spec, root = load_sweep(sweep)
    _, pts, scenarios = resolve_points(spec, root, str(sweep))
    return [RunSpec(p, r, run_seed(spec.seed, p, r), scenarios[p], tuple(spec.metrics))
            for p in range(len(pts)) for r in range(spec.replications)]


def timed(workers: int, runs: list[RunSpec], batch: int | None = None) -> tuple[float, list[dict]]:
    """Wall seconds of running *runs* on a warm LocalCluster of *workers*, and the rows."""
    rows: list[dict] = []
    with Engine(workers=workers, batch_size=batch) as engine:
        t0 = time.perf_counter()
        engine.run(runs, rows.extend)
        return time.perf_counter() - t0, rows


def load_average() -> float:
    """The 1-minute load average (how busy the machine was)."""
    return os.getloadavg()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    logging.getLogger("distributed").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        base = ROOT / "scenarios" / "sweeps" / "capacity-closed-loop.yaml"
        points, reps, duration = (2, 2, "200ms") if args.quick else (8, 5, "8s")
        (d / "half.yaml").write_text(HALF_SECOND.format(base=base, points=points, reps=reps, duration=duration))
        (d / "tiny.yaml").write_text(TINY)
        n_tiny = 20 if args.quick else 200
        (d / "tiny-sweep.yaml").write_text(TINY_SWEEP.format(runs=n_tiny))
        half = runs_of(d / "half.yaml")
        tiny = runs_of(d / "tiny-sweep.yaml")

        load_before = load_average()
        rounds = []
        for _ in range(1 if args.quick else 3):  # interleaved: the machine's load drifts
            one, rows1 = timed(1, half)
            two, rows2 = timed(2, half)
            rounds.append({"wall_1_worker_s": one, "wall_2_workers_s": two, "speedup": one / two,
                           "core_share_1": sum(r["cpu_s"] for r in rows1) / one,
                           "core_share_2": sum(r["cpu_s"] for r in rows2) / (2 * two)})
            cap = 2 * rounds[-1]["core_share_2"] / rounds[-1]["core_share_1"]
            rounds[-1]["speedup_of_available"] = rounds[-1]["speedup"] / cap
        rows = rows1
        run_s = sum(r["wall_s"] for r in rows) / len(rows)
        tiny_wall, tiny_rows = timed(1, tiny)
        inside = sum(r["wall_s"] for r in tiny_rows)
        single_wall, single_rows = timed(1, tiny, batch=1)  # one run per Dask task: no batching
        single_inside = sum(r["wall_s"] for r in single_rows)
        result = {
            "runs": len(half), "mean_run_s": run_s, "rounds": rounds,
            "speedup_2_vs_1": sorted(r["speedup"] for r in rounds)[len(rounds) // 2],
            "speedup_2_vs_1_best": max(r["speedup"] for r in rounds),
            "tiny_runs": len(tiny), "tiny_wall_s": tiny_wall, "tiny_inside_ms_per_run": 1000 * inside / len(tiny),
            "overhead_ms_per_run": 1000 * (tiny_wall - inside) / len(tiny),
            "overhead_ms_per_run_unbatched": 1000 * (single_wall - single_inside) / len(tiny),
            "cpus": len(os.sched_getaffinity(0)), "load_average_before": load_before,
            "load_average_after": load_average(), "quick": args.quick,
        }
    print(json.dumps(result, indent=2))
    if not args.quick:
        out = ROOT / "benchmarks" / "results" / "sweep.json"
        out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
