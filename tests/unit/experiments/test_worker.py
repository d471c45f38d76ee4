"""What a Dask worker runs (apsim.experiments.worker), run in this process: a run becomes a
row with its metrics as the JSON report prints them; a run that raises is a row with its
error and the batch goes on."""

from __future__ import annotations

from apsim._engine import engine
from apsim.experiments.worker import RunSpec, run_batch, run_one, warm
from apsim.scenario.loader import parse_scenario

SCENARIO = parse_scenario("""
name: w
duration: 5ms
machine: {model: z16, adapters: [{id: 5, type: CEX8A}]}
lpar: {adapters: [5], usage_domains: [4]}
other_lpars: [{name: l2, adapters: [5], usage_domains: [5], workload: {kind: closed, concurrency: 2}}]
""")


def test_warm_imports_the_layers_and_names_the_engine():
    assert warm() == engine()


def test_a_run_is_a_row_with_the_metrics_its_report_prints():
    row = run_one(RunSpec(point=3, replication=1, seed=7, scenario=SCENARIO, metrics=("requests.completed",)))
    assert (row["point"], row["replication"], row["seed"], row["status"]) == (3, 1, 7, "ok")
    assert row["metrics"]["requests.completed"] > 0 and row["wall_s"] >= 0 and row["cpu_s"] >= 0


def test_the_same_seed_gives_the_same_metrics():
    spec = RunSpec(point=0, replication=0, seed=11, scenario=SCENARIO, metrics=("requests.completed",))
    assert run_one(spec)["metrics"] == run_one(spec)["metrics"]


def test_a_run_that_raises_is_recorded_with_its_error_and_the_batch_goes_on():
    bad = RunSpec(point=0, replication=0, seed=1, scenario=None, metrics=())
    good = RunSpec(point=1, replication=0, seed=1, scenario=SCENARIO, metrics=("requests.completed",))
    rows = run_batch([bad, good])
    assert rows[0]["status"].startswith("error: ") and rows[0]["metrics"] == {}
    assert "\n" not in rows[0]["status"] and rows[1]["status"] == "ok"
