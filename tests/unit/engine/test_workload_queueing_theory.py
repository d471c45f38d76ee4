"""apsim against queueing theory (formulas and tolerances in docs/performance.md).

Models: one adapter with c engines behind 64 APQNs fed round-robin (so the
driver's 8-slot limit never binds and the adapter is a FIFO c-server queue),
open-loop Poisson arrivals, service times exponential (or deterministic) with a
100 µs mean. Waiting time W = t_start − t_submit (NQAP to engine start).

Seeds are fixed. Long open-loop runs use the bulk mode (exactly the event
engine's sample path, see tests/unit/bulk/test_window.py); Little's law and the
closed loop use the event engine. Tolerances are about three standard
deviations of each estimator at its N, measured over ten seeds (the table in
docs/performance.md): e.g. the M/M/1 mean waiting time at N = 10^6 has a
relative standard deviation of ~0.8 %, so 3 % is the tolerance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from apsim.bulk import run_window
from apsim.engine.core import new_env
from apsim.engine.port import LparPort
from apsim.engine.workload import Workload
from apsim.engine.workload_spec import WorkloadSpec
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.machine import Machine
from apsim.hw.timing import get_profile
from apsim.engine.recorder import RequestRecorder

MEAN_NS = 100_000  # mean service time
MEAN_US = MEAN_NS / 1e3


def build(engines: int, *, dist: str = "exponential", seed: int = 1, domains: int = 64):  # noqa: ANN201
    prof = get_profile("default").with_overrides({"distribution": dist,
                                                  "service_overrides": {"rsa2048": MEAN_NS}})
    env = new_env()
    m = Machine(env, model="z16", seed=seed, max_domain_id=255, profile=prof)
    m.install_adapter(0, CardSpec(CardType.CEX8, Mode.ACCELERATOR, engines=engines))
    lp = m.add_lpar("t", adapters=[0], usage_domains=range(domains), control_domains=range(domains))
    return env, m, lp


def open_loop(engines: int, rho: float, n: int, *, dist: str = "exponential", seed: int = 1,
              bulk: bool = True):  # noqa: ANN201
    """Run an open-loop model for about *n* requests; return (waits in µs, env, machine, recorder, λ)."""
    env, m, lp = build(engines, dist=dist, seed=seed)
    lam = rho * engines / (MEAN_NS / 1e9)
    rec = RequestRecorder()
    wl = Workload(LparPort(m, lp.config), WorkloadSpec(kind="open", rate=lam, select="round_robin"),
                  rec, 0, m.streams.get("workload"))
    wl.start()
    until = int(n / lam * 1e9)
    if bulk:
        run_window(env, [wl], until)
    else:
        env.run(until=until)
    cols = rec.arrays()
    w = (cols["t_start"] - cols["t_submit"]) / 1e3
    return w[len(w) // 100:], env, m, rec, lam  # drop a 1 % warm-up


def erlang_c(c: int, a: float) -> float:
    """Probability of waiting in M/M/c with offered load a = λ/μ (a < c)."""
    head = sum(a ** k / math.factorial(k) for k in range(c))
    tail = a ** c / math.factorial(c) * c / (c - a)
    return tail / (head + tail)


def mmc_wait(c: int, rho: float) -> tuple[float, float]:
    """(mean, 90th percentile) of the M/M/c waiting time in µs; P(W > t) = C e^{-(cμ-λ)t}."""
    C = erlang_c(c, rho * c)
    rate = (c - rho * c) / MEAN_US  # cμ − λ per µs
    return C / rate, (math.log(C / 0.1) / rate if C > 0.1 else 0.0)


def rel(x: float, y: float) -> float:
    return abs(x / y - 1)


def test_mm1_waiting_time_mean_and_p90():
    w, *_ = open_loop(1, 0.7, 1_000_000)
    mean, p90 = mmc_wait(1, 0.7)  # = ρ/(μ−λ) and ln(ρ/0.1)/(μ−λ)
    assert mean == pytest.approx(0.7 * MEAN_US / 0.3)
    assert rel(w.mean(), mean) < 0.03, (w.mean(), mean)
    assert rel(np.percentile(w, 90), p90) < 0.03, (np.percentile(w, 90), p90)


def test_mmc_erlang_c_with_the_adapters_four_engines():
    w, *_ = open_loop(4, 0.7, 1_000_000)
    mean, p90 = mmc_wait(4, 0.7)
    assert rel(w.mean(), mean) < 0.04, (w.mean(), mean)
    assert rel(np.percentile(w, 90), p90) < 0.035, (np.percentile(w, 90), p90)
    # P(wait) = Erlang C
    assert np.mean(w > 0) == pytest.approx(erlang_c(4, 2.8), abs=0.01)


def test_md1_pollaczek_khinchine():
    w, *_ = open_loop(1, 0.7, 400_000, dist="deterministic")
    # P-K: Wq = λ E[S²] / (2(1−ρ)) = ρ E[S] / (2(1−ρ)) for constant service
    pk = 0.7 * MEAN_US / (2 * 0.3)
    assert rel(w.mean(), pk) < 0.02, (w.mean(), pk)


def test_littles_law_on_every_queue():
    """Mean occupancy = throughput × mean time in the queue (NQAP to DQAP), per APQN, event engine."""
    _w, env, m, rec, _lam = open_loop(4, 0.8, 60_000, bulk=False)
    now = env.now
    cols = rec.arrays()
    dq = m.profile.dqap_ns
    for q in m.adapters[0].queues.values():
        sel = cols["apqn"] == q.apqn
        # the queue count drops at the pickup (t_deq = pickup + k × dqap_ns; k = 1 here)
        time_in_queue = cols["t_deq"][sel] - dq - cols["t_submit"][sel]
        in_flight = q.count  # still held at the end: each counts from its NQAP to now
        live = sum(now - r.t_submit for r in q.live)
        throughput = (sel.sum() + in_flight) / now
        mean_time = (time_in_queue.sum() + live) / (sel.sum() + in_flight)
        assert q.mean_occupancy(now) == pytest.approx(throughput * mean_time, rel=0.01)


def repairman(n: int, c: int, service_s: float, think_s: float) -> tuple[float, float]:
    """Finite-source (machine-repairman) model: throughput X (1/s) and mean response R (s).

    n customers alternate between thinking (mean think_s; any distribution: the
    model is insensitive to it) and an exponential c-server station. Birth–death
    chain on the number at the station.
    """
    p = [1.0]
    for k in range(1, n + 1):
        p.append(p[-1] * ((n - k + 1) / think_s) / (min(k, c) / service_s))
    s = sum(p)
    p = [x / s for x in p]
    X = sum(pk * min(k, c) / service_s for k, pk in enumerate(p))
    L = sum(k * pk for k, pk in enumerate(p))
    return X, L / X


def test_closed_loop_matches_the_machine_repairman_model():
    env, m, lp = build(2, seed=3)
    think = 200_000
    rec = RequestRecorder()
    wl = Workload(LparPort(m, lp.config),
                  WorkloadSpec(kind="closed", concurrency=6, think_ns=think, select="round_robin"),
                  rec, 0, m.streams.get("workload"))
    wl.start()
    T = 2_000_000_000
    env.run(until=T)
    cols = rec.arrays()
    warm = T // 50
    sel = cols["t_submit"] >= warm
    X = sel.sum() / ((T - warm) / 1e9)
    R = (cols["t_done"] - cols["t_submit"])[sel].mean() / 1e9
    # A customer "thinks" from its reply to its next NQAP: the interruption latency
    # (the pickup) plus the think time.
    Xa, Ra = repairman(6, 2, MEAN_NS / 1e9, (think + wl.irq_latency) / 1e9)
    assert rel(X, Xa) < 0.02, (X, Xa)
    assert rel(R, Ra) < 0.03, (R, Ra)
