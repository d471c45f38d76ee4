"""The engine's state export/import for the bulk mode (apsim/engine/export.py)."""

from __future__ import annotations

import pytest

from apsim.engine import export
from apsim.engine.calendar import calendar
from apsim.engine.core import new_env
from apsim.engine.port import LparPort
from apsim.engine.recorder import RequestRecorder
from apsim.engine.request import PLANNED, REPLY
from apsim.engine.workload import Workload
from apsim.engine.workload_spec import WorkloadSpec
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.machine import Machine
from apsim.ids import apqn as make_apqn

APQN = make_apqn(1, 3)


def _system():
    env = new_env()
    m = Machine(env, model="z15", seed=3, max_domain_id=15)
    m.install_adapter(1, CardSpec(CardType.CEX7, Mode.ACCELERATOR, engines=2))
    lp = m.add_lpar("l", adapters=[1], usage_domains=[3], control_domains=[3])
    rec = RequestRecorder()
    wl = Workload(LparPort(m, lp.config), WorkloadSpec(kind="open", rate=200_000.0, select="round_robin",
                                                      mix={"rsa2048": 0.5, "rsa4096_crt": 0.5}),
                  rec, rec.owner_index("zcrypt"), m.streams.get("workload.zcrypt"))
    wl.start()
    env.run(until=20_000)
    return env, m, lp, wl


def test_export_state_shows_the_targets_mix_lengths_and_a_pending_arrival():
    _env, _m, lp, wl = _system()
    ws = export.export_state(wl)
    assert [t.apqn for t in ws.targets] == [APQN]
    assert sorted(ws.mix) == sorted(ws.lengths) and len(ws.mix) == 2
    assert ws.link_cfg is lp.config and ws.always_ready and ws.unit_weights
    assert ws.arrival.callbacks is not None  # an open loop always has its next arrival pending
    assert set(ws.draws) == set(export.DRAW_KINDS)


def test_disarm_and_rearm_arrival_switch_the_arrival_hook_off_and_on():
    _env, _m, _lp, wl = _system()
    export.disarm_arrival(wl)
    assert export.export_state(wl).arrival.callbacks is None
    export.rearm_arrival(wl, 0)
    assert export.export_state(wl).arrival.callbacks is not None


def test_a_rearmed_arrival_happens_at_the_time_it_was_rearmed_for():
    """The arrival takes its time from the re-arm, not from the clock: the two must agree."""
    env, m, _lp, wl = _system()
    arrival = export.export_state(wl).arrival
    export.disarm_arrival(wl)
    export.remove_pending(env, lambda hook: hook is arrival)
    at = env.now + 12_345
    export.rearm_arrival(wl, at)
    calendar(env).push(at, arrival)
    seq = wl.seq
    env.run(until=at + 1)
    assert wl.seq == seq + 1
    held = list(wl.target(make_apqn(1, 3)).held) + [r for q in m.adapters[1].queues.values() for r in q.live]
    assert [r.t_submit for r in held if r.psmid & 0xFFFFFFFF == wl.seq] == [at]


def test_import_draws_sets_the_block_and_position_export_state_reads_back():
    _env, _m, _lp, wl = _system()
    block, _pos = export.export_state(wl).draws["gaps"]
    export.import_draws(wl, "gaps", block, 1)
    assert export.export_state(wl).draws["gaps"][1] == 1
    with pytest.raises(ValueError, match="unknown draw kind 'bogus'"):
        export.import_draws(wl, "bogus", block, 0)


def test_take_requests_empties_the_queue_and_restore_request_puts_them_back_in_their_state():
    _env, m, lp, _wl = _system()
    q = lp.queues[APQN]
    before = q.count
    reqs = export.take_requests(q)
    assert reqs and export.take_requests(q) == []
    states = [export.request_state(r) == REPLY for r in reqs]
    for r, settled in zip(reqs, states, strict=True):
        export.restore_request(q, r, settled=settled)
    assert [export.request_state(r) for r in reqs] == [REPLY if s else PLANNED for s in states]
    export.sort_replies(q)
    assert export.take_requests(q) == [r for r, s in zip(reqs, states, strict=True) if not s] + \
        sorted((r for r, s in zip(reqs, states, strict=True) if s), key=lambda r: (r.t_done, r.order))
    assert before == q.count  # the counters are the caller's (bulk keeps them current)


def test_adapter_state_round_trips_the_engines_free_times_sorted():
    _env, m, _lp, _wl = _system()
    ad = m.adapters[1]
    st = export.adapter_state(ad)
    assert len(st.free_at) == 2 and st.order > 0
    export.import_free_at(ad, [50, 10])
    assert export.adapter_state(ad).free_at == [10, 50]
    export.add_adapter_service(ad, 3, 900)
    assert export.adapter_state(ad).order == st.order + 3


def test_queue_state_and_occupancy_are_the_queues_own():
    _env, _m, lp, wl = _system()
    q = lp.queues[APQN]
    qs = export.queue_state(q)
    assert qs.sink is export.export_state(wl).targets[0] and qs.gate <= 20_000
    area = q.occ_area
    export.add_queue_occupancy(q, 1_000)
    assert q.occ_area == area + 1_000
