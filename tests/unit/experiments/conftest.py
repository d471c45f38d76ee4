"""Fixtures of the experiments tests: tiny scenarios and one Dask LocalCluster of two
worker processes shared by the tests that run sweeps (starting one costs seconds)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

# Two guests (a counted entry) in closed loops on one CEX8C; the guests boot in the
# first ~50 ms, hence the warm-up.
TINY = """\
apiVersion: apsim/v1
name: tiny
duration: 110ms
warmup: 95ms
machine:
  model: z16
  adapters:
    - {id: 1, type: CEX8C, engines: 2}
lpar: {adapters: [1], usage_domains: [0, 1, 2, 3, 4, 5, 6, 7]}
host: {apmask: "-1"}
guests:
  - count: 2
    name: g{i}
    mdev: {uuid: "c0000000-0000-4000-8000-{i:012x}", assign_adapter: [1], assign_domain: ["{i}"]}
    workload: {kind: closed, concurrency: 2, mix: {rsa2048: 1.0}}
"""


def write(folder: Path, name: str, text: str) -> Path:
    """Write *text* to folder/name and return the path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def dask_client():
    """A client of a LocalCluster with two single-threaded worker processes."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
