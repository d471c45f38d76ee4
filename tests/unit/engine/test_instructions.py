"""AP instructions at register level (apsim.engine.instructions.Executor): the architected
check order (operation, privileged operation, specification, RC 0x01), condition codes,
status words, and each PQAP function's own rules."""

from __future__ import annotations

import pytest

from apsim.engine import codes
from apsim.engine.codes import FC, RC
from apsim.engine.config import Facilities
from apsim.engine.instructions import ARCH_MAX_MSG, APResult, Executor, aqic_gr1, gr0_for
from apsim.errors import ProgramException
from apsim.ids import apqn
from tests.conftest import build_machine

Q = apqn(5, 4)  # in the example LPAR (adapters 5-7, domains 4, 0x47, 0xab, 0xff)
OUTSIDE = apqn(9, 4)  # within Na/Nd, not in the configuration
LAST = codes.GR0_NQAP_LAST_PART


def _cpu(**fac):  # noqa: ANN003, ANN202
    env, m, lp = build_machine()
    if fac:
        lp.config.facilities = Facilities(**fac)
    return env, m, lp, Executor(m, lp.config)


def _kind(fn, *a, **kw) -> str:  # noqa: ANN001, ANN002, ANN003
    with pytest.raises(ProgramException) as e:
        fn(*a, **kw)
    return e.value.kind


# --- the check order ---------------------------------------------------------------------------
def test_without_the_ap_facility_every_instruction_is_an_operation_exception_first():
    env, m, lp, cpu = _cpu(ap=False)
    assert _kind(cpu.nqap, 0xFFFFFFFF, 1, 0, "rsa2048", r1=3, problem_state=True) == "operation"
    assert _kind(cpu.dqap, 0xFFFFFFFF, r1=3, problem_state=True) == "operation"
    assert _kind(cpu.pqap, 0xFF000000, problem_state=True) == "operation"


def test_in_problem_state_a_privileged_operation_exception_comes_before_any_register_check():
    env, m, lp, cpu = _cpu()
    assert _kind(cpu.nqap, 0xFFFFFFFF, 1, 0, "rsa2048", r1=3, problem_state=True) == "privileged-operation"
    assert _kind(cpu.dqap, 0xFFFFFFFF, length=0, problem_state=True) == "privileged-operation"
    assert _kind(cpu.pqap, 0xFF000000, problem_state=True) == "privileged-operation"
    assert _kind(cpu.tapq, Q, problem_state=True) == "privileged-operation"


@pytest.mark.parametrize("call", [
    lambda c: c.nqap(LAST | Q, 1, 512, "rsa2048", r1=3),
    lambda c: c.nqap(LAST | Q, 1, 512, "rsa2048", r2=5),
    lambda c: c.nqap(LAST | Q | 0x00010000, 1, 512, "rsa2048"),
    lambda c: c.nqap(LAST | Q, 1, 0, "rsa2048"),
    lambda c: c.nqap(LAST | Q, 1, ARCH_MAX_MSG + 1, "rsa2048"),
    lambda c: c.dqap(codes.GR0_DQAP_BIT32 | Q, r1=1),
    lambda c: c.dqap(codes.GR0_DQAP_BIT32 | Q | 0x00010000),
    lambda c: c.dqap(codes.GR0_DQAP_BIT32 | Q, length=0),
    lambda c: c.dqap(codes.GR0_DQAP_BIT32 | Q, length=ARCH_MAX_MSG + 1),
], ids=["nqap-odd-r1", "nqap-odd-r2", "nqap-reserved", "nqap-empty", "nqap-too-long", "dqap-odd-r1",
        "dqap-reserved", "dqap-no-buffer", "dqap-buffer-too-long"])
def test_malformed_registers_are_a_specification_exception(call):
    env, m, lp, cpu = _cpu()
    assert _kind(call, cpu) == "specification"
    assert m.ledger.submitted == 0  # nothing reached the queue


def test_an_apqn_beyond_na_or_nd_is_a_specification_exception_before_rc_0x01():
    env, m, lp, cpu = _cpu()
    cfg = lp.config
    cfg.na, cfg.nd = 85, 0x46  # a model with fewer adapters and domains than the ids in use
    assert cpu.tapq(apqn(85, 4)).rc == RC.Q_NOT_AVAIL  # at the maxima: allowed
    for q in (apqn(86, 4), apqn(5, 0x47)):
        assert _kind(cpu.enqueue, q, 1) == "specification"
        assert _kind(cpu.dequeue, q) == "specification"
        assert _kind(cpu.tapq, q) == "specification"


def test_without_apxa_the_maxima_are_apid_63_and_apqi_15():
    env, m, lp, cpu = _cpu()
    lp.config.apxa = False
    assert (lp.config.max_apid, lp.config.max_apqi) == (63, 15)
    assert _kind(cpu.tapq, apqn(5, 16)) == "specification"
    assert _kind(cpu.tapq, apqn(64, 4)) == "specification"
    assert cpu.tapq(apqn(5, 15)).rc == RC.Q_NOT_AVAIL


def test_an_apqn_outside_the_configuration_answers_cc3_rc_0x01_for_every_instruction():
    env, m, lp, cpu = _cpu()
    for r in (cpu.enqueue(OUTSIDE, 1), cpu.dequeue(OUTSIDE), cpu.tapq(OUTSIDE), cpu.rapq(OUTSIDE),
              cpu.aqic(OUTSIDE, enable=True, nib=0x1000)):
        assert (r.cc, r.rc) == (3, RC.Q_NOT_AVAIL)


def test_the_largest_architected_message_passes_the_register_check_and_meets_the_adapters_limit():
    env, m, lp, cpu = _cpu()
    r = cpu.enqueue(Q, 1, length=ARCH_MAX_MSG)
    assert (r.cc, r.rc) == (3, RC.MESSAGE_TOO_BIG)  # a CEX7 takes 12 KiB


# --- condition codes and status words ------------------------------------------------------------
def test_an_accepted_nqap_is_cc0_and_returns_the_psmid_and_its_request():
    env, m, lp, cpu = _cpu()
    r = cpu.enqueue(Q, 0x1234)
    assert (r.cc, r.rc, r.psmid) == (0, 0, 0x1234)
    assert r.extra["request"].psmid == 0x1234 and not r.queue_empty


def test_dqap_returns_the_reply_with_cc0_then_cc3_rc_0x10_with_the_queue_empty():
    env, m, lp, cpu = _cpu()
    cpu.enqueue(Q, 77)
    env.run(until=10**9)
    r = cpu.dequeue(Q)
    assert (r.cc, r.rc, r.psmid) == (0, 0, 77) and r.reply.psmid == 77
    r = cpu.dequeue(Q)
    assert (r.cc, r.rc, r.reply) == (3, RC.Q_FULL, None) and r.queue_empty and not r.replies_waiting


def test_the_status_word_shows_full_and_replies_waiting():
    env, m, lp, cpu = _cpu()
    q = lp.config.lpar.queues[Q]
    for i in range(q.depth):
        assert cpu.enqueue(Q, i).cc == 0
    r = cpu.enqueue(Q, 99)
    assert (r.cc, r.rc) == (3, RC.Q_FULL) and r.queue_full
    env.run(until=10**9)
    assert cpu.tapq(Q).replies_waiting


def test_an_results_dict_has_cc_rc_flags_gr2_and_psmid_only_when_present():
    assert APResult(cc=0).as_dict() == {"cc": 0, "rc": 0}
    sw = codes.make_status(0x10, empty=True, irq=True)
    assert APResult(cc=3, status=sw, gr2=5, psmid=9).as_dict() == {
        "cc": 3, "rc": 0x10, "queue_empty": True, "replies_waiting": False, "queue_full": False,
        "irq_enabled": True, "gr2": "0x0000000000000005", "psmid": 9}


# --- PQAP ------------------------------------------------------------------------------------------
def test_gr0_and_aqic_gr1_images_put_each_field_at_its_bits():
    assert gr0_for(FC.AQIC, 0x0547) == 0x03000547
    assert gr0_for(FC.TAPQ, 0x0547, t=True) == 0x00800547
    assert gr0_for(FC.ZAPQ, 0x0547, f=True) == 0x02400547
    assert aqic_gr1(enable=True, isc=3, gisa=0x10) == codes.AQIC_IR_BIT | 3 | 0x100
    assert aqic_gr1(enable=False, isc=9) == 1  # three bits of ISC


@pytest.mark.parametrize("fac, call", [
    ({}, lambda c: c.pqap(0x09 << 24 | Q)),  # no such function code
    ({}, lambda c: c.pqap(gr0_for(FC.TAPQ, Q) | 0x00010000)),  # reserved bit 47
    ({}, lambda c: c.pqap(gr0_for(FC.RAPQ, Q, t=True))),  # T only with TAPQ
    ({"apft": False}, lambda c: c.tapq(Q, t=True)),  # T needs apft
    ({}, lambda c: c.pqap(gr0_for(FC.TAPQ, Q, f=True))),  # F not with TAPQ
    ({"apsb": False}, lambda c: c.rapq(Q, f=True)),  # F on a reset needs apsb
    ({"apqci": False}, lambda c: c.qci()),
    ({}, lambda c: c.pqap(gr0_for(FC.QCI, 0), 0, 0x1004)),  # QCI block not doubleword aligned
    ({}, lambda c: c.pqap(gr0_for(FC.QBAP, Q), 0, 0x1000)),  # QBAP not installed
    ({"apqi": False}, lambda c: c.aqic(Q, enable=True, nib=0x1000)),
    ({"qact": False}, lambda c: c.qact(Q, 11)),
    ({"apsb": True}, lambda c: c.bapq(Q)),  # BAPQ only for a Secure-Execution configuration
    ({"apsb": True}, lambda c: c.aapq(Q, 0)),
])
def test_pqap_functions_without_their_facility_or_with_bad_bits_are_specification_exceptions(fac, call):
    env, m, lp, cpu = _cpu(**fac)
    assert _kind(call, cpu) == "specification"


def test_tapq_with_t_stores_the_adapters_facility_word_in_gr2():
    env, m, lp, cpu = _cpu()
    r = cpu.tapq(Q, t=True)
    assert (r.cc, r.rc) == (0, 0) and r.gr2 == m.adapters[5].spec.hwinfo(0)
    assert cpu.tapq(Q).gr2 is None


def test_qci_returns_the_configurations_block_with_cc0_and_no_status():
    env, m, lp, cpu = _cpu()
    r = cpu.qci()
    assert (r.cc, r.status, r.qci) == (0, None, lp.config.qci_block())


def test_a_reset_drops_the_queues_requests_and_answers_reset_in_progress_until_it_ends():
    env, m, lp, cpu = _cpu()
    cpu.enqueue(Q, 1)
    q = lp.config.lpar.queues[Q]
    r = cpu.rapq(Q)
    assert (r.cc, r.rc) == (0, 0) and q.count == 0 and m.ledger.dropped["reset"] == 1
    assert cpu.rapq(Q).rc == RC.RESET_IN_PROGRESS
    assert cpu.tapq(Q).rc == RC.RESET_IN_PROGRESS
    env.run(until=q.reset_until)
    assert cpu.tapq(Q).rc == 0 and cpu.zapq(Q).rc == 0 and m.ledger.dropped["zeroize"] == 0


def test_a_reset_answers_the_state_of_a_deconfigured_or_busy_queue_first():
    env, m, lp, cpu = _cpu()
    m.set_busy(5, 1000)
    assert cpu.rapq(Q).rc == RC.BUSY
    m.checkstop(5)
    assert cpu.rapq(Q).rc == RC.CHECKSTOPPED


def test_aqic_enables_once_needs_a_nib_and_disables_only_what_is_enabled():
    env, m, lp, cpu = _cpu()
    q = lp.config.lpar.queues[Q]
    assert cpu.aqic(Q, enable=True, isc=3, nib=0).rc == RC.INVALID_ADDRESS
    r = cpu.aqic(Q, enable=True, isc=3, nib=0x1000)
    assert (r.cc, r.rc) == (0, 0) and (q.irq, q.isc, q.nib) == (True, 3, 0x1000) and r.irq_enabled
    assert cpu.aqic(Q, enable=True, isc=3, nib=0x1000).rc == RC.OTHERWISE_CHANGED
    assert cpu.aqic(Q, enable=False).rc == 0 and not q.irq
    assert cpu.aqic(Q, enable=False).rc == RC.OTHERWISE_CHANGED


def test_aqic_for_an_unregistered_gisa_answers_0x08():
    env, m, lp, cpu = _cpu()
    assert cpu.aqic(Q, enable=True, isc=3, nib=0x1000, gisa=0x1234).rc == RC.INVALID_GISA


def test_qact_answers_the_highest_compatible_type_not_above_the_one_asked_for():
    env, m, lp, cpu = _cpu()
    own = m.adapters[5].spec.ap_type
    assert cpu.qact(Q, own + 2).gr2 == own << 24
    assert cpu.qact(Q, own - 1).gr2 == (own - 1) << 24
    assert cpu.qact(Q, 0).gr2 == own << 24
