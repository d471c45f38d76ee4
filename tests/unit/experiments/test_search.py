"""The exponential + binary capacity search, on metrics with a known crossing."""

from __future__ import annotations

import pytest

from apsim.experiments.search import search
from apsim.experiments.spec import SearchSpec


def linear(slope: float, ci: float = 0.0):  # noqa: ANN201
    """A metric slope*value with a fixed CI half-width; records which values were run."""
    calls = []

    def evaluate(i: int) -> dict:
        calls.append(i)
        return {"n": 3, "mean": slope * (i + 1), "sd": 0.0, "ci95": ci}
    return evaluate, calls


@pytest.mark.parametrize("bound,answer", [(10.5, 10), (1.0, 1), (64.0, 64), (100.0, 64), (0.5, None)])
def test_largest_value_meeting_a_max_bound(bound, answer):
    evaluate, calls = linear(1.0)
    out = search(SearchSpec(parameter="p", metric="m", max=bound), list(range(1, 65)), evaluate)
    assert out["answer"] == answer
    assert out["capped_by_range"] == (bound >= 64)
    assert len(set(calls)) <= 2 * 7 + 1  # far fewer than the 64 values of the range


def test_the_ci_upper_end_decides():
    evaluate, _ = linear(1.0, ci=0.6)  # value 10 has upper end 10.6 > 10.5
    out = search(SearchSpec(parameter="p", metric="m", max=10.5), list(range(1, 65)), evaluate)
    assert out["answer"] == 9


def test_ratio_to_first_bounds_by_a_multiple_of_the_first_values_mean():
    evaluate, _ = linear(3.0)
    out = search(SearchSpec(parameter="p", metric="m", max_ratio_to_first=2), list(range(1, 33)), evaluate)
    assert out["answer"] == 2 and out["bound"]["value"] == 6.0


def test_smallest_value_meeting_the_bound_when_the_metric_falls():
    def evaluate(i: int) -> dict:
        return {"n": 2, "mean": 100.0 / (i + 1), "sd": 0.0, "ci95": 0.0}
    out = search(SearchSpec(parameter="p", metric="m", max=7.0, direction="smallest"), list(range(1, 41)), evaluate)
    assert out["answer"] == 15  # 100/15 = 6.67 <= 7 < 100/14


def test_a_value_without_successful_runs_never_meets_the_bound():
    out = search(SearchSpec(parameter="p", metric="m", max=5.0), [1, 2],
                 lambda i: {"n": 0, "mean": None, "sd": None, "ci95": None})
    assert out["answer"] is None and out["probes"][0]["passed"] is False
