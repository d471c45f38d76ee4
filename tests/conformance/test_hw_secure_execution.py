"""BAPQ / AAPQ for Secure-Execution guests: bind and associate states with their
response codes (0x09, 0x0A, 0x0B, 0x11, 0x30-0x36). The firmware rules are not
public; apsim's model is documented in docs/hardware.md."""

from __future__ import annotations

import pytest

from apsim.errors import ProgramException
from apsim.hw.cards import decode_hwinfo
from apsim.engine.codes import BS_AVAILABLE_FOR_BIND, BS_UNUSABLE, BS_USABLE, BS_USABLE_NO_SECURE_KEY, RC
from apsim.engine.config import APConfiguration, Facilities
from apsim.engine.instructions import Executor
from apsim.ids import apqn
from apsim.masks import Mask
from tests.conftest import build_machine

Q = apqn(7, 4)  # an EP11 queue: CCA queues cannot be bound (ap_q_supports_bind)


def se_guest(m, lp, name="se1"):  # noqa: ANN001, ANN201
    cfg = APConfiguration(name, lp, na=255, nd=255, apxa=True, facilities=Facilities(apsb=True),
                          secure=True, apm=Mask.from_ids([7]), aqm=Mask.from_ids([4, 0x47]),
                          adm=Mask.from_ids([4]))
    return Executor(m, cfg)


def bs(cpu, q=Q):  # noqa: ANN001, ANN201
    return decode_hwinfo(cpu.tapq(q, t=True).gr2)["bs"]


def test_bapq_outside_a_secure_configuration_is_a_specification_exception():
    env, m, lp = build_machine()
    with pytest.raises(ProgramException, match="Secure-Execution"):
        Executor(m, lp.config).bapq(Q)


def test_unbound_queue_is_available_for_binding_and_unusable_for_nqap():
    env, m, lp = build_machine()
    g = se_guest(m, lp)
    assert bs(g) == BS_AVAILABLE_FOR_BIND
    assert g.enqueue(Q, 1, "ep11_low").rc == RC.Q_NOT_BOUND


def test_bind_then_associate_makes_the_queue_usable_after_the_association_time():
    env, m, lp = build_machine()
    g = se_guest(m, lp)
    assert g.bapq(Q).rc == 0
    assert bs(g) == BS_USABLE_NO_SECURE_KEY
    assert g.aapq(Q, 2).rc == 0
    assert g.enqueue(Q, 1, "ep11_low").rc == RC.STATE_CHANGE_IN_PROGRESS
    env.run(until=m.profile.assoc_ns)
    assert bs(g) == BS_USABLE
    assert g.enqueue(Q, 1, "ep11_low").rc == 0


def test_bind_codes_bound_twice_bound_to_another_not_empty_and_limit():
    env, m, lp = build_machine()
    g1, g2 = se_guest(m, lp, "a"), se_guest(m, lp, "b")
    assert g1.bapq(Q).rc == 0
    assert g1.bapq(Q).rc == RC.Q_BIND_ERROR
    assert g2.bapq(Q).rc == RC.Q_BOUND_TO_ANOTHER
    assert bs(g2) == BS_UNUSABLE
    assert g2.enqueue(Q, 5, "ep11_low").rc == RC.Q_BOUND_TO_ANOTHER
    host = Executor(m, lp.config)
    q2 = apqn(7, 0x47)
    host.enqueue(q2, 1, "ep11_high")
    assert g2.bapq(q2).rc == RC.Q_NOT_EMPTY
    g2.config.se_bind_limit = 0
    env.run(until=1_000_000_000)
    host.dequeue(q2)
    assert g2.bapq(q2).rc == RC.BIND_LIMIT_EXCEEDED


def test_associate_codes_not_bound_twice_index_too_big_invalid_secret():
    env, m, lp = build_machine()
    g = se_guest(m, lp)
    assert g.aapq(Q, 1).rc == RC.Q_NOT_BOUND
    g.bapq(Q)
    assert g.aapq(Q, 300).rc == RC.INDEX_TOO_BIG
    assert g.aapq(Q, 8).rc == RC.INVALID_ASSOC_SECRET
    assert g.aapq(Q, 1).rc == 0
    assert g.aapq(Q, 1).rc == RC.Q_NOT_AVAIL_FOR_ASSOC


def test_secret_used_twice_reports_not_unique_asynchronously_until_reset():
    env, m, lp = build_machine()
    g = se_guest(m, lp)
    q2 = apqn(7, 0x47)
    g.bapq(Q), g.bapq(q2)
    g.aapq(Q, 3)
    env.run(until=m.profile.assoc_ns)
    assert bs(g) == BS_USABLE
    g.aapq(q2, 3)
    env.run(until=3 * m.profile.assoc_ns)
    r = g.tapq(q2)
    assert r.rc == RC.ASSOC_SECRET_NOT_UNIQUE and r.async_error
    host = Executor(m, lp.config)
    host.zapq(q2)
    env.run(until=env.now + m.profile.reset_ns)
    assert g.tapq(q2).rc == 0


def test_association_failure_is_reported_asynchronously():
    env, m, lp = build_machine()
    g = se_guest(m, lp)
    g.bapq(Q)
    lp.queues[Q].assoc_fail = True
    g.aapq(Q, 0)
    env.run(until=m.profile.assoc_ns)
    assert g.tapq(Q).rc == RC.ASSOC_FAILED


def test_rapq_with_f_bit_unbinds():
    env, m, lp = build_machine()
    g = se_guest(m, lp)
    g.bapq(Q)
    assert g.rapq(Q, f=True).rc == 0
    env.run(until=m.profile.reset_ns)
    assert bs(g) == BS_AVAILABLE_FOR_BIND
