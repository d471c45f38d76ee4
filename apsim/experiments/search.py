"""Capacity search: the largest (or smallest) value of an integer parameter that meets a bound.

The metric is assumed monotone in the parameter (more guests, longer latency). A value
*meets* the bound when the upper end of the 95 % confidence interval of the metric's
mean over its replications is at most the bound, so a "yes" is a yes with 95 %
confidence. The search first steps exponentially away from the range's first value
(1, 2, 4, 8, ... values on) until the answer is bracketed, then halves the bracket:
about 2·log2(range) points instead of the whole range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from apsim.experiments.spec import SearchSpec

__all__ = ["Probe", "search", "meets"]


@dataclass(frozen=True)
class Probe:
    """One searched value: the metric's statistics there and the decision."""

    value: int
    point: int
    runs: int
    mean: float | None
    ci95: float | None
    upper: float | None
    passed: bool


def meets(stats: dict[str, Any], bound: float) -> tuple[float | None, bool]:
    """(upper end of the CI, whether it is at most *bound*); no successful run never meets."""
    if stats["mean"] is None:
        return None, False
    upper = stats["mean"] + (stats["ci95"] or 0.0)
    return upper, upper <= bound


def search(spec: SearchSpec, values: list[int],
           evaluate: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    """Search *values* (sorted) for the answer; *evaluate(i)* runs point i and returns the
    metric's :func:`~apsim.experiments.results.point_stats`. Returns search.json's content."""
    probes: dict[int, Probe] = {}
    first = evaluate(0)
    if spec.max is not None:
        bound = float(spec.max)
    elif first["mean"] is None:
        bound = float("nan")
    else:
        bound = float(spec.max_ratio_to_first) * first["mean"]  # type: ignore[arg-type]

    def probe(i: int, stats: dict[str, Any] | None = None) -> bool:
        if i not in probes:
            s = stats if stats is not None else evaluate(i)
            upper, ok = meets(s, bound)
            probes[i] = Probe(values[i], i, s["n"], s["mean"], s["ci95"], upper, ok)
        return probes[i].passed

    last = len(values) - 1
    # Walk from the first value while a probe says what the first value should say
    # (largest: passes, then fails; smallest: fails, then passes), then bisect.
    want = spec.direction == "largest"
    answer: int | None
    capped = False
    if probe(0, first) != want:
        answer = 0 if not want else None
    else:
        good, bad, step = 0, None, 1
        while good < last:
            j = min(good + step, last)
            if probe(j) == want:
                good = j
                step *= 2
            else:
                bad = j
                break
        if bad is None:
            answer, capped = (good, True) if want else (None, False)
        else:
            while bad - good > 1:
                mid = (good + bad) // 2
                if probe(mid) == want:
                    good = mid
                else:
                    bad = mid
            answer = good if want else bad
    return {
        "parameter": spec.parameter, "metric": spec.metric, "direction": spec.direction,
        "bound": {"kind": "max" if spec.max is not None else "max_ratio_to_first",
                  "given": spec.max if spec.max is not None else spec.max_ratio_to_first, "value": bound},
        "decided_on": "upper end of the 95% confidence interval of the mean over the replications",
        "answer": None if answer is None else values[answer],
        "capped_by_range": capped,
        "probes": [asdict(probes[i]) for i in sorted(probes)],
        "points_run": len(probes), "range": [values[0], values[-1]],
    }
