"""The models the benchmark harness times: apsim capacity models and the bare-SimPy baseline.

A *capacity model* is anything with the :class:`CapacityModel` surface: a SimPy
environment, the machine, the workloads that drive it, the recorder that collects
completed requests, and a nominal request rate. :func:`build_capacity` builds the
standard one directly from ``Machine`` + ``LparPort``/``Workload`` (one port per
issuer). The harness only talks to that surface, so a scenario file can be
plugged in later through :data:`MODEL_BUILDERS` (``--scenario FILE``) without
touching the timing code.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from apsim.engine.core import events_scheduled, new_env
from apsim.engine.port import LparPort
from apsim.engine.workload import Workload
from apsim.engine.workload_spec import WorkloadSpec
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.machine import Machine
from apsim.hw.timing import request_type
from apsim.engine.recorder import RequestRecorder


@dataclass
class CapacityModel:
    """A built, not yet started, apsim model plus what the harness needs to time it."""

    env: simpy.Environment
    machine: Machine
    workloads: list[Workload]
    recorder: RequestRecorder
    rate_rps: float  # offered requests per simulated second (all issuers)
    description: str
    params: dict[str, Any] = field(default_factory=dict)

    def horizon_ns(self, n_requests: int) -> int:
        """Simulated time that offers about *n_requests* requests."""
        return max(1, int(n_requests / self.rate_rps * 1e9))

    def start(self) -> None:
        """Start every workload (at the current simulated time)."""
        for wl in self.workloads:
            wl.start()


def build_capacity(*, adapters: int = 4, engines: int = 4, domains: int = 16, guests: int = 1,
                   rho: float = 0.7, select: str = "round_robin", reply: str = "interrupt",
                   card: CardType = CardType.CEX8, mode: Mode = Mode.ACCELERATOR,
                   rtype: str = "rsa2048", seed: int = 1, profile: Any = None,
                   arbitration: str = "fifo") -> CapacityModel:
    """The standard capacity model: ``adapters`` × ``engines`` engines, ``domains`` domains each.

    One LPAR owns every queue. ``guests`` issuers (one :class:`LparPort` and one
    open-loop Poisson :class:`Workload` each) split the APQNs between them
    round-robin over the APQN list in domain-major order (issuer *g* gets every
    APQN whose rank is *g* modulo ``guests``; with more issuers than APQNs, issuers
    share them); each sends round robin over its APQNs in that order, so
    consecutive requests go to different adapters,
    and the total offered load makes every adapter's engines busy ``rho`` of the
    time. Adapter ids and domains start at 0; more than 85 domains raise the
    machine's ``max_domain_id``.
    """
    env = new_env()
    m = Machine(env, model="z16", seed=seed, max_domain_id=max(84, domains - 1), profile=profile,
                arbitration=arbitration)
    spec = CardSpec(card, mode, engines=engines)
    for a in range(adapters):
        m.install_adapter(a, spec)
    doms = list(range(domains))
    lp = m.add_lpar("capacity", adapters=range(adapters), usage_domains=doms, control_domains=doms)
    mean_ns = m.adapters[0].sampler.mean_ns[request_type(rtype).index]
    total_rate = rho * adapters * engines / (mean_ns / 1e9)
    rec = RequestRecorder()
    # Domain-major order, so round robin alternates adapters (as zcrypt's balancing
    # would) instead of sending a burst of `domains` requests to one adapter at a time.
    apqns = sorted(lp.queues, key=lambda q: (q & 0xFF, q >> 8))
    wls: list[Workload] = []
    for g in range(guests):
        mine = apqns[g::guests] if guests <= len(apqns) else [apqns[g % len(apqns)]]
        port = LparPort(m, lp.config, name=f"g{g}")
        ws = WorkloadSpec(kind="open", rate=total_rate / guests, select=select, reply=reply,
                          mix={rtype: 1.0}, targets=mine)
        wls.append(Workload(port, ws, rec, rec.owner_index(f"g{g}"), m.streams.get(f"workload.g{g}")))
    desc = (f"{adapters}×{card.name}{mode.letter} × {engines} engines, {domains} domains each "
            f"({adapters * domains} APQNs), {guests} issuer(s), open-loop Poisson ρ={rho}, "
            f"{reply} pickup, {select} select, {arbitration} arbitration")
    return CapacityModel(env, m, wls, rec, total_rate, desc,
                         dict(adapters=adapters, engines=engines, domains=domains, guests=guests,
                              rho=rho, select=select, reply=reply, seed=seed))


class ScenarioModel(CapacityModel):
    """A scenario file as a capacity model: guests, mdevs and the timeline exactly as ``apsim run``.

    ``start()`` schedules the timeline and boots the guests (their workloads exist
    only once a guest has started), then lists the workloads.
    """

    def __init__(self, sim: Any, path: str) -> None:
        rate = sum(float(ref.spec.workload.rate or 0.0) for ref in sim.scenario.walk_guests()
                   if ref.spec.workload is not None and ref.spec.workload.kind == "open")
        super().__init__(sim.env, sim.machine, [], sim.recorder, rate or 1.0, f"scenario {path}",
                         {"scenario": path})
        self.sim = sim

    def start(self) -> None:
        """Schedule the timeline, boot the guests (time 0) and collect their workloads."""
        from apsim.scenario.run import schedule_timeline

        schedule_timeline(self.sim)
        self.env.run(until=self.env.now + 1)
        self.workloads = [g.workload for g in self.sim.guests.values() if g.workload is not None]
        self.workloads += list(self.sim.other_workloads)


def _scenario_builder(path: str, **_kw: Any) -> CapacityModel:
    """A scenario file (``--scenario FILE``, and the standard full-fidelity model)."""
    from apsim.scenario import load_scenario
    from apsim.scenario.build import build

    sc = load_scenario(path)
    model = ScenarioModel(build(sc), path)
    model.description = f"scenario {Path(path).name}: {sc.name}"
    return model


MODEL_BUILDERS: dict[str, Callable[..., CapacityModel]] = {
    "capacity": build_capacity,
    "scenario": _scenario_builder,
}
"""Model builders by name; the harness calls ``MODEL_BUILDERS[name](**params)``."""


@dataclass
class Timing:
    """One timed run."""

    requests: int
    wall_s: float
    events: int = 0
    sim_ns: int = 0

    @property
    def rps(self) -> float:
        """Requests (or customers) per wall-clock second."""
        return self.requests / self.wall_s if self.wall_s > 0 else float("inf")

    @property
    def events_per_request(self) -> float:
        """SimPy events scheduled per completed request."""
        return self.events / self.requests if self.requests else float("nan")


def warm_up(model: CapacityModel, n_requests: int) -> None:
    """Start the workloads and run (untimed) long enough for a steady state.

    Steady state here means: every issuer has drawn its first random blocks and
    every APQN has been used once (so the driver's queue links exist), and the
    queues have filled to their stationary level — at least 20 % of the timed
    run's requests, and at least one request per APQN.
    """
    model.start()
    n_apqns = sum(len(wl.targets) for wl in model.workloads)
    warm = max(n_requests // 5, n_apqns + n_apqns // 4, 1)
    model.env.run(until=model.env.now + model.horizon_ns(warm))


def time_full(model: CapacityModel, n_requests: int) -> Timing:
    """Run *model* in full (event) mode for about *n_requests* requests; time only ``env.run``.

    Call :func:`warm_up` (or ``model.start()``) first; this only advances the clock.
    """
    env = model.env
    until = env.now + model.horizon_ns(n_requests)
    e0 = events_scheduled(env)
    n0 = len(model.recorder)
    t = time.perf_counter()
    env.run(until=until)
    wall = time.perf_counter() - t
    return Timing(len(model.recorder) - n0, wall, events_scheduled(env) - e0, until)


def mm1_baseline(n: int, *, rho: float = 0.7, seed: int = 1) -> Timing:
    """The bare SimPy M/M/1 queue, idiomatic form: a process per customer and a Resource.

    Variates are drawn with numpy up front (as apsim does), so the comparison is
    about the event engine, not the random-number generator. Time covers the run.
    """
    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    inter = rng.exponential(1.0 / rho, n).tolist()
    service = rng.exponential(1.0, n).tolist()
    server = simpy.Resource(env, capacity=1)
    done = [0]

    def customer(i: int):  # noqa: ANN202 - generator
        with server.request() as req:
            yield req
            yield env.timeout(service[i])
        done[0] += 1

    def source():  # noqa: ANN202 - generator
        for i in range(n):
            yield env.timeout(inter[i])
            env.process(customer(i))

    t = time.perf_counter()
    env.process(source())
    env.run()
    wall = time.perf_counter() - t
    return Timing(done[0], wall, 0, 0)
