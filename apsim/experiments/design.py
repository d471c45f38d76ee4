"""Which points a sweep runs (grid, random, Latin hypercube) and the seed of every run.

Seeds come from ``numpy.random.SeedSequence(seed)``: run (point, replication) uses
the child whose spawn key is ``(point, replication)``, so a run's seed depends on
nothing but the sweep's root seed and its own indices — not on the worker count, the
order runs finish in or the cluster. The random designs draw from the child at spawn
key ``(DESIGN_KEY,)``, which no run uses.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from apsim.experiments.spec import SweepSpec

__all__ = ["points", "run_seed", "DESIGN_KEY"]

DESIGN_KEY = 2**32 - 1
"""The spawn key (of length one) the random designs draw from."""


def run_seed(root: int, point: int, replication: int) -> int:
    """The scenario seed of run (*point*, *replication*): 63 bits of its SeedSequence child."""
    child = np.random.SeedSequence(root, spawn_key=(point, replication))
    return int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def points(spec: SweepSpec) -> list[dict[str, Any]]:
    """The sweep's points in order: each maps a parameter path to its value."""
    names = list(spec.parameters)
    values = [spec.values(n) for n in names]
    if not names:
        return [{}]
    if spec.design == "grid":
        return [dict(zip(names, combo)) for combo in itertools.product(*values)]
    n = int(spec.samples or 1)
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(DESIGN_KEY,)))
    if spec.design == "random":
        picks = [rng.integers(0, len(v), size=n) for v in values]
    else:  # lhs: one draw in each of n equal strata of every parameter, strata shuffled
        picks = []
        for v in values:
            u = (rng.permutation(n) + rng.random(n)) / n
            picks.append(np.minimum((u * len(v)).astype(np.int64), len(v) - 1))
    return [{name: values[j][int(picks[j][i])] for j, name in enumerate(names)} for i in range(n)]
