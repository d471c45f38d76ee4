"""Sweeps on a LocalCluster of two worker processes: grid, random, search, a failing
point, resume after an interruption, and runs.csv independent of the worker count."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from apsim.experiments import sweep as sweep_mod
from apsim.experiments.design import run_seed
from apsim.experiments.engine import Engine
from apsim.experiments.sweep import Interrupted, run_sweep
from tests.unit.experiments.conftest import TINY, write

GRID = """\
base: tiny.yaml
parameters:
  guests[0].count: [1, 2]
  guests[*].workload.concurrency: [1, 3]
replications: 2
seed: 9
metrics: [latency.p99_us, requests.completed, guests.*.throughput_rps]
"""


def table(path: Path, drop=("wall_s",)) -> list[dict[str, str]]:
    """runs.csv without its wall-time column."""
    with path.open(newline="") as f:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(f)]


def make(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    write(tmp_path, "tiny.yaml", TINY)
    return write(tmp_path, name, text)


def test_grid_runs_every_point_and_replication_and_summarizes(tmp_path, dask_client):
    out = run_sweep(make(tmp_path, GRID), tmp_path / "out", client=dask_client)
    assert (out.runs, out.failed) == (8, 0)
    rows = table(tmp_path / "out" / "runs.csv")
    assert [(r["point"], r["replication"]) for r in rows] == [(str(p), str(r)) for p in range(4) for r in range(2)]
    assert [int(r["seed"]) for r in rows] == [run_seed(9, p, r) for p in range(4) for r in range(2)]
    assert {r["guests[0].count"] for r in rows} == {"1", "2"}
    assert all(r["status"] == "ok" and float(r["requests.completed"]) > 0 for r in rows)
    assert rows[0]["guests.g1.throughput_rps"] == "" and rows[-1]["guests.g1.throughput_rps"] != ""
    with (tmp_path / "out" / "summary.csv").open(newline="") as f:
        summary = list(csv.DictReader(f))
    assert len(summary) == 4 and all(s["runs"] == "2" for s in summary)
    assert {"latency.p99_us.mean", "latency.p99_us.sd", "latency.p99_us.ci95"} <= set(summary[0])
    resolved = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert resolved["points"][3] == {"point": 3, "parameters": {"guests[0].count": 2,
                                     "guests[*].workload.concurrency": 3},
                                     "seeds": [run_seed(9, 3, 0), run_seed(9, 3, 1)]}
    assert (tmp_path / "out" / "plots" / "latency.p99_us.png").is_file()  # a heatmap of two parameters


def test_random_design_runs_its_samples(tmp_path, dask_client):
    text = GRID.replace("[1, 3]", "{from: 1, to: 4}").replace("seed: 9", "seed: 9\ndesign: random\nsamples: 3")
    out = run_sweep(make(tmp_path, text), tmp_path / "out", client=dask_client, plots=False)
    points = json.loads((tmp_path / "out" / "sweep.json").read_text())["points"]
    assert out.runs == 6 and len(points) == 3
    rows = table(tmp_path / "out" / "runs.csv")
    assert [r["guests[*].workload.concurrency"] for r in rows[::2]] == \
           [str(p["parameters"]["guests[*].workload.concurrency"]) for p in points]


def test_a_failing_run_is_recorded_with_its_error_and_the_sweep_goes_on(tmp_path, dask_client):
    text = GRID.replace("guests.*.throughput_rps", "guests.g1.throughput_rps")  # g1 exists only with 2 guests
    out = run_sweep(make(tmp_path, text), tmp_path / "out", client=dask_client, plots=False)
    rows = table(tmp_path / "out" / "runs.csv")
    assert out.failed == 4 and out.runs == 8
    for r in rows:
        if r["guests[0].count"] == "1":
            assert r["status"].startswith("error: PathError: metric 'guests.g1.throughput_rps': guests has no "
                                          "key 'g1' (keys: g0)")
        else:
            assert r["status"] == "ok" and r["guests.g1.throughput_rps"] != ""


def test_runs_csv_is_the_same_for_any_worker_count_and_batching(tmp_path, dask_client):
    path = make(tmp_path, GRID)
    run_sweep(path, tmp_path / "two", client=dask_client, batch_size=1, plots=False)
    run_sweep(path, tmp_path / "one", workers=1, batch_size=5, plots=False)
    assert table(tmp_path / "two" / "runs.csv") == table(tmp_path / "one" / "runs.csv")
    assert (tmp_path / "two" / "summary.csv").read_text() == (tmp_path / "one" / "summary.csv").read_text()


def test_resume_after_an_interruption_finishes_the_same_sweep(tmp_path, dask_client, monkeypatch):
    path = make(tmp_path, GRID)
    run_sweep(path, tmp_path / "whole", client=dask_client, plots=False)
    original = Engine.run

    def interrupted_run(self, runs, on_rows, progress=None):  # noqa: ANN001, ANN202
        done = []

        def then_ctrl_c(rows):  # noqa: ANN001, ANN202
            on_rows(rows)
            done.extend(rows)
            if len(done) >= 3:
                raise KeyboardInterrupt
        return original(self, runs, then_ctrl_c, progress)

    monkeypatch.setattr(sweep_mod.Engine, "run", interrupted_run)
    with pytest.raises(Interrupted, match="run again with --resume"):
        run_sweep(path, tmp_path / "out", client=dask_client, batch_size=1, plots=False)
    partial = table(tmp_path / "out" / "runs.csv")
    assert 3 <= len(partial) < 8
    monkeypatch.setattr(sweep_mod.Engine, "run", original)
    with pytest.raises(Exception, match="--resume"):  # no silent overwrite of earlier runs
        run_sweep(path, tmp_path / "out", client=dask_client, plots=False)
    out = run_sweep(path, tmp_path / "out", client=dask_client, resume=True, plots=False)
    assert out.skipped == len(partial) and out.runs == 8
    assert table(tmp_path / "out" / "runs.csv") == table(tmp_path / "whole" / "runs.csv")


# An M/D/1 adapter (one engine, 50 µs deterministic service) fed by n guests with
# Poisson arrivals at 2000/s each: its utilization is n·λ·S = 0.1·n (times the share
# of the run after the guests' boot, the same for every n), so utilization(n) /
# utilization(1) = n and the largest n within 4.5× the single-guest value is 4.
MD1 = """\
apiVersion: apsim/v1
name: md1
duration: 150ms
warmup: 50ms
timing: {profile: deterministic, service_overrides: {rsa2048: 50us}}
machine:
  model: z16
  adapters:
    - {id: 1, type: CEX8A, engines: 1}
lpar: {adapters: [1], usage_domains: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]}
host: {apmask: "-1"}
guests:
  - count: 1
    name: g{i}
    mdev: {uuid: "c0000000-0000-4000-8000-{i:012x}", assign_adapter: [1], assign_domain: ["{i}"]}
    workload: {kind: open, rate: 2000, mix: {rsa2048: 1.0}}
"""

SEARCH = """\
base: md1.yaml
parameters:
  guests[0].count: {from: 1, to: 9}
replications: 4
seed: 2
metrics: [adapters.01.utilization]
search: {parameter: 'guests[0].count', metric: adapters.01.utilization, max_ratio_to_first: 4.5}
"""


def test_search_finds_the_computable_capacity_of_an_md1_adapter(tmp_path, dask_client):
    write(tmp_path, "md1.yaml", MD1)
    out = run_sweep(write(tmp_path, "s.yaml", SEARCH), tmp_path / "out", client=dask_client)
    result = json.loads((tmp_path / "out" / "search.json").read_text())
    assert result["answer"] == 4 and out.search == result
    probed = [p["value"] for p in result["probes"]]
    assert 4 in probed and 5 in probed and len(probed) < 9  # bracketed without running the whole range
    first = result["probes"][0]
    assert result["bound"]["value"] == pytest.approx(4.5 * first["mean"])
    rows = table(tmp_path / "out" / "runs.csv")
    assert len(rows) == 4 * len(probed)
    assert (tmp_path / "out" / "plots" / "adapters.01.utilization.png").is_file()


def test_runs_of_a_lost_worker_are_retried_on_the_others(tmp_path, dask_client, monkeypatch):
    import logging
    import os
    import signal

    from distributed import Client, LocalCluster

    path = make(tmp_path, GRID)
    run_sweep(path, tmp_path / "whole", client=dask_client, plots=False)
    original = Engine.run
    killed = []

    def run_and_kill_a_worker(self, runs, on_rows, progress=None):  # noqa: ANN001, ANN202
        def kill_after_first(rows):  # noqa: ANN001, ANN202
            on_rows(rows)
            if not killed:  # SIGKILL one worker process while batches are still queued on it
                pid = next(iter(self._client.run(os.getpid).values()))
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        return original(self, runs, kill_after_first, progress)

    monkeypatch.setattr(sweep_mod.Engine, "run", run_and_kill_a_worker)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        out = run_sweep(path, tmp_path / "out", client=client, batch_size=1, plots=False)
    assert killed and (out.runs, out.failed) == (8, 0)
    assert table(tmp_path / "out" / "runs.csv") == table(tmp_path / "whole" / "runs.csv")


def test_a_sweep_row_agrees_with_a_hand_run_of_the_same_point_and_seed(tmp_path, dask_client):
    from apsim.cli import main

    run_sweep(make(tmp_path, GRID), tmp_path / "out", client=dask_client, plots=False)
    row = table(tmp_path / "out" / "runs.csv")[7]  # point 3: two guests at concurrency 3, replication 1
    by_hand = write(tmp_path, "point3.yaml", TINY.replace("concurrency: 2", "concurrency: 3"))
    assert main(["run", str(by_hand), "--seed", row["seed"], "--json", str(tmp_path / "r.json"), "-q"]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert row["latency.p99_us"] == repr(report["latency"]["p99_us"])
    assert row["requests.completed"] == str(report["requests"]["completed"])
    assert row["guests.g1.throughput_rps"] == repr(report["guests"]["g1"]["throughput_rps"])


SHIPPED_SWEEPS = [p for p in sorted((Path(__file__).resolve().parents[3] / "scenarios" / "sweeps").glob("*.yaml"))
                  if re.search(r"^base:", p.read_text(), re.MULTILINE)]  # sweep files, not their bases


@pytest.mark.skipif(not SHIPPED_SWEEPS, reason="no sweeps shipped")
@pytest.mark.parametrize("path", SHIPPED_SWEEPS, ids=lambda p: p.name)
def test_shipped_sweeps_resolve_every_point(path):
    from apsim.experiments.spec import load_sweep
    from apsim.experiments.sweep import resolve_points

    spec, root = load_sweep(path)
    _, pts, scenarios = resolve_points(spec, root, str(path))
    assert len(pts) == len(scenarios) >= 2


def test_shipped_overcommit_search_answer_agrees_with_hand_runs_of_its_deciding_points(tmp_path, dask_client):
    """scenarios/sweeps/cex-overcommit.yaml: the overcommit it answers passes the p99 bound
    and the next one fails, when those points are run by hand with `apsim run --seed`."""
    from apsim.cli import main
    from apsim.experiments.results import point_stats
    from apsim.experiments.search import meets
    from apsim.experiments.spec import load_sweep

    sweeps = Path(__file__).resolve().parents[3] / "scenarios" / "sweeps"
    spec, _ = load_sweep(sweeps / "cex-overcommit.yaml")
    out = run_sweep(sweeps / "cex-overcommit.yaml", tmp_path / "out", client=dask_client, plots=False)
    result = json.loads((tmp_path / "out" / "search.json").read_text())
    answer = result["answer"]
    assert out.failed == 0 and answer == 4 and not result["capped_by_range"]  # docs/ecosystem.md quotes 4
    rows = table(tmp_path / "out" / "runs.csv")
    base = (sweeps / "k8s-cex-overcommit.yaml").read_text()
    assert base.count("overcommit: 3") == 1
    metric = "cex_plugin.sets.cca-payments.p99_us"
    for value, should_pass in ((answer, True), (answer + 1, False)):
        point = [r for r in rows if r[spec.search.parameter] == str(value)]
        assert len(point) == spec.replications
        scenario = tmp_path / f"overcommit{value}.yaml"
        scenario.write_text(base.replace("overcommit: 3", f"overcommit: {value}"))
        by_hand = []
        for r in point:
            assert int(r["seed"]) == run_seed(spec.seed, int(r["point"]), int(r["replication"]))
            report_path = tmp_path / f"r{value}-{r['replication']}.json"
            assert main(["run", str(scenario), "--seed", r["seed"], "--json", str(report_path), "-q"]) == 0
            p99 = json.loads(report_path.read_text())["cex_plugin"]["sets"]["cca-payments"]["p99_us"]
            assert r[metric] == repr(p99)
            by_hand.append(p99)
        upper, passed = meets(point_stats(by_hand), float(spec.search.max))
        assert passed is should_pass
        probe = next(p for p in result["probes"] if p["value"] == value)
        assert (probe["passed"], probe["upper"]) == (passed, pytest.approx(upper))
