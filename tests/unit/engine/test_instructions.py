"""AP instructions at register level (apsim.engine.instructions.Executor): the architected
check order (operation, privileged operation, specification, RC 0x01), the result's
fields and the register images. Each check on its own, and each PQAP function's
behaviour, are tested in tests/conformance/test_hw_instructions.py and
tests/conformance/test_kvm_unit_tests_ap.py."""

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


def test_an_apqn_beyond_na_or_nd_is_a_specification_exception_before_rc_0x01():
    env, m, lp, cpu = _cpu()
    cfg = lp.config
    cfg.na, cfg.nd = 85, 0x46  # a model with fewer adapters and domains than the ids in use
    assert cpu.tapq(apqn(85, 4)).rc == RC.Q_NOT_AVAIL  # at the maxima: allowed
    for q in (apqn(86, 4), apqn(5, 0x47)):
        assert _kind(cpu.enqueue, q, 1) == "specification"
        assert _kind(cpu.dequeue, q) == "specification"
        assert _kind(cpu.tapq, q) == "specification"


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
def test_a_results_dict_has_cc_rc_flags_gr2_and_psmid_only_when_present():
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
    ({}, lambda c: c.pqap(gr0_for(FC.TAPQ, Q, f=True))),  # F only with RAPQ, ZAPQ, QACT
    ({"apqi": False}, lambda c: c.aqic(Q, enable=True, nib=0x1000)),
    ({"qact": False}, lambda c: c.qact(Q, 11)),
    ({"apsb": True}, lambda c: c.bapq(Q)),  # BAPQ and AAPQ only for a Secure-Execution configuration
    ({"apsb": True}, lambda c: c.aapq(Q, 0)),
], ids=["f-bit-tapq", "aqic-without-apqi", "qact-without-qact", "bapq-not-se", "aapq-not-se"])
def test_pqap_functions_without_their_facility_or_with_bad_bits_are_specification_exceptions(fac, call):
    env, m, lp, cpu = _cpu(**fac)
    assert _kind(call, cpu) == "specification"
