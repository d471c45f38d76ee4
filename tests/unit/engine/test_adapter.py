"""Adapter engines are shared by all domains of the adapter (across LPARs and guests)."""

from __future__ import annotations

import pytest

from apsim.engine.codes import RC
from apsim.engine.instructions import Executor
from apsim.hw.timing import get_profile
from apsim.ids import apqn
from apsim.units import MS, S
from tests.conftest import build_machine


def saturate(domains: list[int], *, arbitration: str = "fifo", seconds: float = 0.5):  # noqa: ANN201
    """Keep every queue of adapter 5 full for a while; return completions per domain."""
    prof = get_profile("default").with_overrides({"distribution": "deterministic"})
    env, m, lp = build_machine(profile=prof, arbitration=arbitration, max_domain_id=255)
    m.se_configure(lp, [5, 6, 7], on=False)
    m.se_change_lpar_crypto(lp, add_usage_domains=domains, add_control_domains=domains)
    m.se_configure(lp, [5], on=True)
    cpu = Executor(m, lp.config)
    done = {d: 0 for d in domains}
    psmid = [0]

    def refill(ev=None):  # noqa: ANN001, ANN202
        for d in domains:
            q = apqn(5, d)
            while cpu.dequeue(q).rc == 0:
                done[d] += 1
            while True:
                psmid[0] += 1
                if cpu.enqueue(q, psmid[0], "rsa2048").rc != 0:
                    break
        from apsim.engine.core import call_at
        call_at(env, 50_000, refill)

    refill()
    env.run(until=int(seconds * S))
    return done, m


def test_domains_of_one_adapter_share_its_engines_so_per_domain_throughput_falls():
    per_domain = {}
    totals = {}
    for n in (1, 2, 4, 8):
        done, m = saturate(list(range(n)))
        per_domain[n] = min(done.values())
        totals[n] = sum(done.values())
    assert per_domain[1] > per_domain[2] > per_domain[4] > per_domain[8]
    # The adapter's total stays at its capacity (engines / service time) once saturated.
    svc = m.adapters[5].sampler.mean_ns[0] or None  # noqa: F841 - documented in the message below
    assert max(totals.values()) / min(totals.values()) < 1.05, totals


def test_engine_capacity_matches_engines_over_service_time():
    done, m = saturate([0, 1, 2, 3], seconds=1.0)
    from apsim.hw.timing import request_type
    mean = m.adapters[5].sampler.mean_ns[request_type("rsa2048").index]
    capacity = 4 * S / mean
    assert sum(done.values()) == pytest.approx(capacity, rel=0.03)


@pytest.mark.parametrize("policy", ["fifo", "round_robin"])
def test_arbitration_policies_serve_every_domain(policy):
    done, m = saturate([0, 1, 2], arbitration=policy)
    assert min(done.values()) > 0


def test_round_robin_is_fair_when_one_domain_floods():
    """With round robin a lightly loaded domain is not starved by a flooding one."""
    prof = get_profile("default").with_overrides({"distribution": "deterministic"})
    from apsim.engine.core import new_env  # noqa: F401
    env, m, lp = build_machine(profile=prof, arbitration="round_robin", engines=1)
    cpu = Executor(m, lp.config)
    heavy, light = apqn(5, 4), apqn(5, 0x47)
    for i in range(8):
        cpu.enqueue(heavy, i, "rsa2048")
    cpu.enqueue(light, 100, "rsa2048")
    env.run(until=3 * m.adapters[5].sampler.mean_ns[0] + 1)
    # FIFO would serve the 8 heavy requests first; round robin serves light second.
    assert cpu.dequeue(light).rc == 0


def test_queue_full_is_per_apqn_not_per_adapter():
    env, m, lp = build_machine()
    cpu = Executor(m, lp.config)
    for i in range(8):
        assert cpu.enqueue(apqn(5, 4), i).rc == 0
    assert cpu.enqueue(apqn(5, 4), 9).rc == RC.Q_FULL
    assert cpu.enqueue(apqn(5, 0x47), 10).rc == 0
    env.run(until=100 * MS)


def test_utilization_reflects_busy_engines():
    done, m = saturate([0, 1, 2, 3])
    assert m.adapters[5].utilization(m.env.now) > 0.95
