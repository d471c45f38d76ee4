"""NQAP's and DQAP's firmware part (apsim.engine.firmware): the order in which a queue's
state answers, what an accepted request carries, DQAP's reply order, and the ledger."""

from __future__ import annotations

import pytest

from apsim.engine.codes import RC
from apsim.engine.core import new_env
from apsim.engine.firmware import dqap_fast, dqap_queue, nqap_fast, nqap_queue
from apsim.engine.request import DONE, QUEUED, SERVICE, Request
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.machine import Machine
from apsim.hw.timing import request_type
from apsim.ids import apqn
from apsim.masks import Mask

RSA = request_type("rsa2048").index
CCA_ONLY = request_type("cca_low").index  # an accelerator has no CCA coprocessor: 0x16


def _lpar(engines: int = 1):  # noqa: ANN202
    """An accelerator at APID 3 with usage domains 7 and 8 and control domain 7."""
    env = new_env()
    m = Machine(env, model="z16", seed=4, max_domain_id=255)
    m.install_adapter(3, CardSpec(CardType.CEX8, Mode.ACCELERATOR, engines=engines))
    lp = m.add_lpar("l", adapters=[3], usage_domains=[7, 8], control_domains=[7])
    return env, m, lp.config, m.adapters[3].queues[7]


def _req(psmid: int, rt: int = RSA, length: int = 256, ctrl: int = -1) -> Request:
    return Request(psmid, rt, length, 0, 0, ctrl)


def _fill(cfg, q) -> None:  # noqa: ANN001
    for i in range(q.depth):
        assert nqap_queue(cfg, q, _req(1000 + i)) == 0


@pytest.mark.parametrize("cfg_rc", [RC.CHECKSTOPPED, RC.DECONFIGURED])
def test_nqap_answers_state_then_association_length_facility_domain_and_full_in_that_order(cfg_rc):
    env, m, cfg, q = _lpar()
    _fill(cfg, q)
    far = env.now + 10**9
    q.cfg_rc = cfg_rc
    q.reset_until = far
    q.adapter.busy_until = far
    q.assoc_until = far
    bad = dict(rt=CCA_ONLY, length=q.adapter.max_msg + 1, ctrl=0x47)  # 0x47 is not in the ADM
    seen = [nqap_queue(cfg, q, _req(1, **bad))]
    q.cfg_rc = 0
    seen.append(nqap_queue(cfg, q, _req(2, **bad)))
    q.reset_until = 0
    seen.append(nqap_queue(cfg, q, _req(3, **bad)))
    q.adapter.busy_until = 0
    seen.append(nqap_queue(cfg, q, _req(4, **bad)))
    q.assoc_until = 0
    seen.append(nqap_queue(cfg, q, _req(5, **bad)))
    bad["length"] = 256
    seen.append(nqap_queue(cfg, q, _req(6, **bad)))
    bad["rt"] = RSA
    seen.append(nqap_queue(cfg, q, _req(7, **bad)))
    bad["ctrl"] = 7
    seen.append(nqap_queue(cfg, q, _req(8, **bad)))
    assert seen == [cfg_rc, RC.RESET_IN_PROGRESS, RC.BUSY, RC.STATE_CHANGE_IN_PROGRESS,
                    RC.MESSAGE_TOO_BIG, RC.REQ_FAC_NOT_INST, RC.INVALID_DOMAIN, RC.Q_FULL]
    assert q.count == q.depth and q.nqap_count == q.depth  # nothing refused was taken


def test_a_secure_configuration_needs_its_own_binding_checked_after_the_domain_and_before_full():
    env, m, cfg, q = _lpar()
    cfg.secure = True
    assert nqap_queue(cfg, q, _req(1, ctrl=0x47)) == RC.INVALID_DOMAIN
    assert nqap_queue(cfg, q, _req(2)) == RC.Q_NOT_BOUND
    q.bound_by = object()
    assert nqap_queue(cfg, q, _req(3)) == RC.Q_BOUND_TO_ANOTHER
    q.bound_by = cfg
    assert nqap_queue(cfg, q, _req(4)) == 0


def test_a_control_domain_inside_the_adm_or_none_at_all_is_accepted():
    env, m, cfg, q = _lpar()
    assert nqap_queue(cfg, q, _req(1, ctrl=7)) == 0
    assert nqap_queue(cfg, q, _req(2, ctrl=-1)) == 0
    cfg.set_masks(cfg.apm, cfg.aqm, Mask.from_ids([0x47]))
    assert nqap_queue(cfg, q, _req(3, ctrl=7)) == RC.INVALID_DOMAIN
    assert nqap_queue(cfg, q, _req(4, ctrl=0x47)) == 0


def test_a_message_of_exactly_the_adapters_maximum_is_accepted():
    env, m, cfg, q = _lpar()
    assert nqap_queue(cfg, q, _req(1, length=q.adapter.max_msg)) == 0
    assert nqap_queue(cfg, q, _req(2, length=q.adapter.max_msg + 1)) == RC.MESSAGE_TOO_BIG


def test_state_answers_only_while_the_reset_busy_or_association_time_lasts():
    env, m, cfg, q = _lpar()
    q.reset_until = 500
    assert nqap_queue(cfg, q, _req(1)) == RC.RESET_IN_PROGRESS
    env.run(until=500)
    assert nqap_queue(cfg, q, _req(2)) == 0
    q.assoc_until = 900
    assert nqap_queue(cfg, q, _req(3)) == RC.STATE_CHANGE_IN_PROGRESS
    env.run(until=900)
    assert nqap_queue(cfg, q, _req(4)) == 0


def test_an_accepted_request_is_queued_on_its_apqn_with_a_service_time_drawn_at_acceptance():
    env, m, cfg, q = _lpar()
    req = _req(1)
    assert nqap_fast(cfg, apqn(3, 7), req) == 0
    assert req.apqn == apqn(3, 7) and req.queue is q
    assert req.state in (QUEUED, SERVICE)  # a planned adapter may start it at once
    assert req.service_ns > 0
    assert q.count == 1 and q.nqap_count == 1 and q.touched == 1


def test_nqap_counts_every_acceptance_and_every_refusal_by_response_code_in_the_ledger():
    env, m, cfg, q = _lpar()
    led = m.ledger
    _fill(cfg, q)
    assert nqap_queue(cfg, q, _req(1)) == RC.Q_FULL
    assert nqap_queue(cfg, q, _req(2, length=10**6)) == RC.MESSAGE_TOO_BIG
    assert nqap_fast(cfg, apqn(4, 7), _req(3)) == RC.Q_NOT_AVAIL  # APID 4 not in the APM
    assert led.submitted == q.depth + 3
    assert dict(led.rejected) == {RC.Q_FULL: 1, RC.MESSAGE_TOO_BIG: 1, RC.Q_NOT_AVAIL: 1}


def test_an_apqn_outside_the_configuration_answers_0x01_for_both_instructions():
    env, m, cfg, q = _lpar()
    assert nqap_fast(cfg, apqn(3, 9), _req(1)) == RC.Q_NOT_AVAIL  # domain 9 not in the AQM
    assert dqap_fast(cfg, apqn(3, 9)) == (RC.Q_NOT_AVAIL, None)
    assert m.ledger.completed == 0 and dict(m.ledger.rejected) == {RC.Q_NOT_AVAIL: 1}


def test_dqap_on_an_empty_queue_answers_0x10_no_pending_reply():
    env, m, cfg, q = _lpar()
    assert dqap_queue(q) == (RC.Q_FULL, None)
    assert nqap_queue(cfg, q, _req(1)) == 0
    assert dqap_queue(q) == (RC.Q_FULL, None)  # accepted, reply not ready yet
    assert q.touched == 3 and q.dqap_count == 0


def test_dqap_returns_the_oldest_reply_first_and_counts_it_completed():
    env, m, cfg, q = _lpar(engines=4)
    for i in range(8):
        assert nqap_queue(cfg, q, _req(i)) == 0
    env.run(until=10**9)
    got = []
    while True:
        rc, req = dqap_fast(cfg, apqn(3, 7))
        if req is None:
            assert rc == RC.Q_FULL
            break
        assert rc == 0 and req.state == DONE
        got.append(req)
    assert sorted(r.psmid for r in got) == list(range(8))
    assert [(r.t_done, r.order) for r in got] == sorted((r.t_done, r.order) for r in got)
    assert len({r.t_done for r in got}) > 1  # four engines with random service: not one instant
    assert q.count == 0 and q.dqap_count == 8 and m.ledger.completed == 8


@pytest.mark.parametrize("state, rc", [("checkstop", RC.CHECKSTOPPED), ("reset", RC.RESET_IN_PROGRESS),
                                       ("busy", RC.BUSY)])
def test_dqap_answers_the_queues_state_before_handing_out_a_ready_reply(state, rc):
    env, m, cfg, q = _lpar()
    assert nqap_queue(cfg, q, _req(1)) == 0
    env.run(until=10**9)
    assert len(q.replies) == 1
    if state == "checkstop":
        q.cfg_rc = RC.CHECKSTOPPED
    elif state == "reset":
        q.reset_until = env.now + 100
    else:
        q.adapter.busy_until = env.now + 100
    assert dqap_queue(q) == (rc, None)
    assert len(q.replies) == 1 and q.dqap_count == 0


def test_dqap_ignores_an_association_in_progress():
    env, m, cfg, q = _lpar()
    assert nqap_queue(cfg, q, _req(1)) == 0
    env.run(until=10**9)
    q.assoc_until = env.now + 100
    rc, req = dqap_queue(q)
    assert rc == 0 and req.psmid == 1
