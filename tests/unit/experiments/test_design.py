"""Points of the designs and the seeds of the runs."""

from __future__ import annotations

import numpy as np

from apsim.experiments.design import points, run_seed
from apsim.experiments.spec import SweepSpec


def spec(**kw) -> SweepSpec:
    return SweepSpec.model_validate({"base": "b.yaml", "metrics": ["latency.p99_us"], **kw})


def test_grid_is_every_combination_in_parameter_order():
    s = spec(parameters={"a": [1, 2], "b": {"from": 3, "to": 7, "step": 2}})
    assert points(s) == [{"a": 1, "b": 3}, {"a": 1, "b": 5}, {"a": 1, "b": 7},
                         {"a": 2, "b": 3}, {"a": 2, "b": 5}, {"a": 2, "b": 7}]


def test_random_design_draws_samples_from_the_values_reproducibly():
    s = spec(parameters={"a": {"from": 1, "to": 100}, "b": ["x", "y"]}, design="random", samples=30, seed=3)
    pts = points(s)
    assert len(pts) == 30 and pts == points(s)
    assert all(1 <= p["a"] <= 100 and p["b"] in ("x", "y") for p in pts)
    assert pts != points(spec(parameters=s.parameters, design="random", samples=30, seed=4))


def test_lhs_puts_one_sample_in_each_stratum_of_every_parameter():
    s = spec(parameters={"a": {"from": 0, "to": 9}, "b": {"from": 0, "to": 19}}, design="lhs", samples=10, seed=5)
    pts = points(s)
    assert sorted(p["a"] for p in pts) == list(range(10))       # 10 strata of one value each
    assert sorted(p["b"] // 2 for p in pts) == list(range(10))  # 10 strata of two values each


def test_run_seeds_are_the_seedsequence_children_spawned_by_point_and_replication():
    child = np.random.SeedSequence(11, spawn_key=(3, 1)).generate_state(1, dtype=np.uint64)[0]
    assert run_seed(11, 3, 1) == int(child) >> 1
    seeds = {run_seed(11, p, r) for p in range(20) for r in range(5)}
    assert len(seeds) == 100 and all(0 <= x < 1 << 63 for x in seeds)
