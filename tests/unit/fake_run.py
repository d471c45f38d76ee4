"""A hand-made run result for report and command-line tests.

It has the attributes :class:`apsim.scenario.run.RunResult` promises (recorder,
ledger, timeline, adapters, apqn_occupancy, kernel_log, sim_time_ns, seed, mode,
scenario, expectations_passed), filled with known numbers, so report tests do not
depend on the simulation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from apsim.engine.request import Ledger
from apsim.hw.timing import request_type
from apsim.ids import apqn
from apsim.engine.recorder import RequestRecorder, Timeline, TimelineEntry
from apsim.units import MS, US


@dataclass
class FakeRun:
    """Duck-typed RunResult."""

    recorder: RequestRecorder
    ledger: Ledger
    timeline: Timeline
    adapters: dict[int, dict[str, Any]]
    apqn_occupancy: dict[int, float]
    kernel_log: list[str]
    sim_time_ns: int
    seed: int
    mode: str
    scenario: Any
    expectations_passed: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def make_run(*, n: int = 2000, seed: int = 7, failed: bool = False, sim_time_ns: int = 50 * MS) -> FakeRun:
    """Two guests on APQNs 05.0004/06.0004 and 05.0047, *n* completed requests with random latency."""
    rng = np.random.default_rng(seed)
    rec = RequestRecorder()
    g1, g2 = rec.owner_index("guest1"), rec.owner_index("guest2")
    rec.owner_index("idle")  # a guest that completed nothing
    queues = [(g1, apqn(5, 4)), (g1, apqn(6, 4)), (g2, apqn(5, 0x47))]
    rt = request_type("rsa2048").index
    led = Ledger()
    for i in range(n):
        owner, q = queues[i % 3]
        t_sub = int(rng.integers(0, sim_time_ns - 2 * MS))
        lat = int(rng.integers(20 * US, 900 * US))
        rec.record(owner, q, rt, t_sub, t_sub + lat - 5 * US, t_sub + lat)
        led.accept()
        led.complete()
    led.reject(0x01)
    led.reject(0x01)
    led.accept()
    led.dropped["configure_off"] += 1
    led.accept()  # one in flight
    tl = Timeline()
    tl.add(TimelineEntry(10 * MS, "se.configure_off", {"adapters": [5]}, line=20))
    tl.add(TimelineEntry(30 * MS, "sysfs.write", {"path": "/sys/bus/ap/apmask", "value": "-5"},
                         outcome="EBUSY", expected="EBUSY", actual="EBUSY", passed=True, line=21))
    tl.add(TimelineEntry(32 * MS, "guest.instruction", {"guest": "guest1", "op": "TAPQ", "apqn": "06.0047"},
                         expected={"cc": 3, "rc": 1}, actual={"cc": 0 if failed else 3, "rc": 0 if failed else 1},
                         passed=not failed, line=22))
    return FakeRun(
        recorder=rec, ledger=led, timeline=tl,
        adapters={5: {"type": "CEX5C", "utilization": 0.4321}, 6: {"type": "CEX5A", "utilization": 0.1},
                  7: {"type": "CEX5P", "utilization": 0.0}},
        apqn_occupancy={apqn(5, 4): 1.25, apqn(6, 4): 0.5, apqn(5, 0x47): 2.0, apqn(7, 0xff): 0.0},
        kernel_log=["vfio_ap: mdev 62177883 opened", "ap: card 05 configured off"],
        sim_time_ns=sim_time_ns, seed=seed, mode="full",
        scenario=SimpleNamespace(name="fake-three-guests"),
        expectations_passed=not failed,
    )
