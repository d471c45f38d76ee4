"""Guests behind SIE: cached SIE links and folded GISA interruptions change nothing but cost."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from apsim.engine.core import events_scheduled
from apsim.scenario import load_scenario
from apsim.scenario.build import build
from apsim.scenario.run import schedule_timeline

ROOT = Path(__file__).resolve().parents[3]
BENCH = ROOT / "scenarios" / "bench-capacity.yaml"


def _sim():  # noqa: ANN202
    sim = build(load_scenario(BENCH))
    schedule_timeline(sim)
    return sim


def _rows(sim) -> np.ndarray:  # noqa: ANN001
    rec = sim.recorder
    return np.stack([np.asarray(getattr(rec, c)) for c in ("owner", "apqn", "rtype", "t_submit", "t_start",
                                                            "t_done", "t_deq")])


def test_a_first_level_guest_request_costs_two_simpy_events():
    sim = _sim()
    sim.env.run(until=200_000_000)
    e0, n0 = events_scheduled(sim.env), len(sim.recorder)
    sim.env.run(until=700_000_000)
    per_request = (events_scheduled(sim.env) - e0) / (len(sim.recorder) - n0)
    # arrival + folded reply/pickup; the unfolded GISA path costs 3.
    assert 1.95 < per_request < 2.05


def test_folded_queues_interrupt_the_guest_driver_directly():
    sim = _sim()
    sim.env.run(until=100_000_000)
    g0 = sim.guests["g0"]
    kvm, wl = g0.kvm, g0.workload
    for apqn in wl.targets:
        q = sim.lpar.queues[apqn]
        assert q.irq and q.irq_target is wl.target(apqn)
        assert q.gisa == kvm.gisa_origin


def test_a_new_irq_listener_unfolds_and_sees_every_interruption_without_changing_the_run():
    plain = _sim()
    plain.env.run(until=400_000_000)
    listened = _sim()
    listened.env.run(until=200_000_000)
    g0 = listened.guests["g0"]
    seen: list[tuple[int, int]] = []
    qs = [listened.lpar.queues[a] for a in g0.workload.targets]
    g0.kvm.add_irq_listener(lambda q: seen.append((listened.env.now, q.apqn)))
    assert all(q.irq_target == g0.kvm.deliver_irq for q in qs)
    # Read after the unfolding: it settles the queues, which counts the interruptions
    # raised before the append (a folded queue counts them when it settles, lazily).
    irq0 = sum(q.irq_count for q in qs)
    listened.env.run(until=400_000_000)
    # Each reply of g0 after the append raised one interruption, delivered through the GISA.
    assert seen and len(seen) == sum(q.irq_count for q in qs) - irq0
    assert np.array_equal(_rows(plain), _rows(listened))
    assert plain.machine.ledger.summary() == listened.machine.ledger.summary()


def test_an_lpar_configuration_change_invalidates_the_guests_cached_links():
    sim = _sim()
    sim.env.run(until=100_000_000)
    cfg = sim.guests["g1"].kvm.config
    gen = cfg.generation
    lp = sim.lpar.config
    lp.set_masks(lp.apm, lp.aqm, lp.adm)
    assert cfg.generation > gen


def test_requests_a_guest_issues_while_its_vcpus_are_blocked_wait_for_the_release():
    sim = _sim()
    sim.env.run(until=200_000_000)
    g0 = sim.guests["g0"]
    kvm, wl = g0.kvm, g0.workload
    start = sim.env.now
    release = start + 5_000_000  # 5 ms: about 22 of g0's arrivals
    kvm.blocked_until = release  # what a mask update does, longer
    assert kvm.gate.until == release and kvm.ready_at(start) == release
    sim.env.run(until=start + 20_000_000)
    rows = _rows(sim)
    mine = rows[:, rows[0] == wl.owner]
    inside = mine[:, (mine[3] >= start) & (mine[3] < release)]
    assert inside.shape[1] >= 5
    # NQAP (so the engine start) and the pickup (DQAP) wait for the release.
    assert (inside[4] >= release).all() and (inside[6] >= release).all()
    others = rows[:, (rows[0] != wl.owner) & (rows[3] >= start) & (rows[3] < release)]
    assert others.shape[1] and (others[4] < release).any()  # other guests were not blocked
