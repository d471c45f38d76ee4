"""The fast paths keep the model's behaviour.

* FIFO adapters plan each request's engine schedule when it is accepted (one
  event per request instead of an engine event plus a pickup event). The same
  model run engine by engine (``Adapter.use_engine_events``) must give the same
  sample path — rows, ledger, drop sequence, every counter — including under
  resets, configure off/on, checkstops, busy windows and interruptions switched
  off while requests are on the engines.
* The event count per request stays at the design's budget.
"""

from __future__ import annotations

import numpy as np
import pytest

from apsim.engine.core import call_at, events_scheduled, new_env
from apsim.engine.port import LparPort
from apsim.engine.workload import Workload
from apsim.engine.workload_spec import WorkloadSpec
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.engine.instructions import Executor
from apsim.hw.machine import Machine
from apsim.hw.timing import get_profile
from apsim.engine.recorder import COLUMNS, RequestRecorder
from benchmarks.models import build_capacity

MS = 1_000_000


def run(*, planned: bool, select: str, kind: str, reply: str, profile: str, seed: int = 5) -> dict:
    env = new_env()
    m = Machine(env, model="z16", seed=seed, max_domain_id=255, profile=get_profile(profile))
    for a in range(3):
        ad = m.install_adapter(a, CardSpec(CardType.CEX8, Mode.ACCELERATOR, engines=2 + a))
        if not planned:
            ad.use_engine_events()
    lp = m.add_lpar("l", adapters=range(3), usage_domains=range(6), control_domains=range(6))
    rate = 1.1 * 9 / (m.adapters[0].sampler.mean_ns[0] / 1e9)  # overloaded: held requests, queue full
    rec = RequestRecorder()
    drops: list = []
    m.ledger.drop_listeners.append(lambda r, c: drops.append((r.psmid, c, env.now, r.t_start, r.t_done)))
    for g in range(2):
        spec = WorkloadSpec(kind=kind, rate=rate / 2, concurrency=12, select=select, reply=reply,
                            mix={"rsa2048": 0.6, "rsa1024_me": 0.4},
                            targets=[q for q in sorted(lp.queues) if (q & 0xFF) % 2 == g])
        Workload(LparPort(m, lp.config, name=f"g{g}"), spec, rec, rec.owner_index(f"g{g}"),
                 m.streams.get(f"w{g}")).start()
    cpu = Executor(m, lp.config)
    actions = [lambda: cpu.rapq(0x0002), lambda: cpu.zapq(0x0103),
               lambda: m.se_configure(lp, [1], on=False), lambda: m.se_configure(lp, [1], on=True),
               lambda: m.checkstop(2, True), lambda: m.checkstop(2, False),
               lambda: cpu.aqic(0x0004, enable=False), lambda: m.set_busy(0, 3 * MS)]
    for i, t in enumerate([3, 5, 7, 9, 11, 13, 15, 16]):
        call_at(env, t * MS + 123, lambda ev: actions[ev.value](), i)
    env.run(until=25 * MS)
    now = env.now
    m.ledger.check(m.live_requests())
    cols = rec.arrays()
    for ad in m.adapters.values():
        for q in ad.queues.values():
            q.replies  # noqa: B018 - settles a planned queue to now, so its counters are current
    return {
        "rows": np.stack([cols[k] for k in COLUMNS]),
        "ledger": m.ledger.summary(),
        "drops": drops,
        "adapters": [(ad.completed, ad.busy_ns, round(ad.utilization(now), 12), ad.free, len(ad.waiting),
                      sorted(r.psmid for r in ad.on_engine)) for ad in m.adapters.values()],
        "queues": [(q.apqn, q.touched, q.nqap_count, q.dqap_count, q.irq_count, q.mean_occupancy(now),
                    q.count, [r.psmid for r in q.replies], sorted((r.psmid, r.state) for r in q.live))
                   for ad in m.adapters.values() for q in ad.queues.values()],
    }


@pytest.mark.parametrize("select", ["round_robin", "least_loaded"])
@pytest.mark.parametrize("kind", ["open", "closed"])
@pytest.mark.parametrize("reply", ["interrupt", "poll"])
def test_planned_fifo_equals_engine_by_engine_fifo(select, kind, reply):
    a = run(planned=True, select=select, kind=kind, reply=reply, profile="default")
    b = run(planned=False, select=select, kind=kind, reply=reply, profile="default")
    assert np.array_equal(a["rows"], b["rows"])
    for k in ("ledger", "drops", "adapters", "queues"):
        assert a[k] == b[k], k


def test_planned_fifo_with_lognormal_service():
    a = run(planned=True, select="least_loaded", kind="closed", reply="interrupt", profile="lognormal")
    b = run(planned=False, select="least_loaded", kind="closed", reply="interrupt", profile="lognormal")
    assert np.array_equal(a["rows"], b["rows"]) and a["queues"] == b["queues"]


def test_full_mode_event_budget():
    """Open loop on FIFO adapters with interrupt pickup: two events per request
    (the arrival and the folded interruption + pickup); engine by engine: three."""
    m = build_capacity()
    m.start()
    e0 = events_scheduled(m.env)
    m.env.run(until=200 * MS)
    per_req = (events_scheduled(m.env) - e0) / len(m.recorder)
    assert per_req < 2.05
    m = build_capacity(arbitration="round_robin")
    m.start()
    e0 = events_scheduled(m.env)
    m.env.run(until=200 * MS)
    assert (events_scheduled(m.env) - e0) / len(m.recorder) < 3.05


def test_request_state_reads_the_plan_at_the_current_time():
    env = new_env()
    m = Machine(env, model="z16", seed=1, max_domain_id=255,
                profile=get_profile("default").with_overrides({"distribution": "deterministic"}))
    m.install_adapter(5, CardSpec(CardType.CEX8, Mode.CCA, engines=1))
    lp = m.add_lpar("l", adapters=[5], usage_domains=[4], control_domains=[4])
    cpu = Executor(m, lp.config)
    r1 = cpu.enqueue(0x0504, 1).extra["request"]
    r2 = cpu.enqueue(0x0504, 2).extra["request"]
    svc = r1.service_ns
    assert (r1.state, r2.state) == (1, 0)  # SERVICE, QUEUED
    assert m.adapters[5].free == 0 and len(m.adapters[5].waiting) == 1
    env.run(until=svc + 1)
    assert (r1.state, r2.state) == (2, 1)  # REPLY, SERVICE
    assert cpu.tapq(0x0504).replies_waiting
    assert cpu.dequeue(0x0504).psmid == 1
    assert r1.state == 3  # DONE
