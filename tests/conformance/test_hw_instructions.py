"""Conformance of NQAP, DQAP and PQAP with the architecture as the kernel uses it
(reference §4): condition codes, status-word bits and every response code the
hardware produces, in every adapter/queue state."""

from __future__ import annotations

import pytest

from apsim.errors import ProgramException
from apsim.engine import codes
from apsim.hw.cards import decode_hwinfo
from apsim.engine.codes import FC, RC
from apsim.engine.config import Facilities, parse_qci
from apsim.engine.instructions import Executor, gr0_for
from apsim.ids import apqn
from apsim.masks import Mask
from apsim.units import MS, US

Q = apqn(5, 0x04)  # CEX7C
QA = apqn(6, 0x47)  # CEX7A
QP = apqn(7, 0xAB)  # CEX7P


def run(env, ns):  # noqa: ANN001, ANN201
    env.run(until=env.now + ns)


# --- TAPQ -----------------------------------------------------------------------------
def test_tapq_on_idle_queue_answers_rc0_cc0_and_queue_empty(hw):
    env, m, lp, cpu = hw
    r = cpu.tapq(Q)
    assert (r.cc, r.rc) == (0, 0)
    assert r.queue_empty and not r.replies_waiting and not r.queue_full and not r.irq_enabled
    assert r.gr2 is None


def test_tapq_with_t_bit_returns_type_mode_facilities_and_depth(hw):
    env, m, lp, cpu = hw
    info = decode_hwinfo(cpu.tapq(Q, t=True).gr2)
    assert info["at"] == 13 and info["cca"] and not info["accel"] and info["qd"] == 7
    assert info["apxa"] and info["mex4k"] and info["crt4k"]
    assert decode_hwinfo(cpu.tapq(QA, t=True).gr2)["accel"]
    assert decode_hwinfo(cpu.tapq(QP, t=True).gr2)["ep11"]


def test_apqn_outside_configuration_answers_rc_0x01_cc3_and_no_queue_is_touched(hw):
    env, m, lp, cpu = hw
    outside = apqn(5, 0x10)  # domain 16 is not a usage domain of the LPAR
    for r in (cpu.tapq(outside), cpu.rapq(outside), cpu.zapq(outside),
              cpu.aqic(outside, enable=True, nib=0x1000), cpu.enqueue(outside, 1), cpu.dequeue(outside)):
        assert (r.cc, r.rc) == (3, RC.Q_NOT_AVAIL)
    assert all(q.touched == 0 for ad in m.adapters.values() for q in ad.queues.values())


def test_adapter_not_installed_answers_rc_0x01(hw):
    env, m, lp, cpu = hw
    assert cpu.tapq(apqn(9, 4)).rc == RC.Q_NOT_AVAIL


@pytest.mark.parametrize("apid, apqi, spec", [(5, 85, True), (5, 84, False), (0, 0, False)])
def test_ids_above_na_nd_raise_specification(apid, apqi, spec):
    from apsim.engine.core import new_env
    from apsim.hw.machine import Machine
    m = Machine(new_env(), max_domain_id=84)
    lp = m.add_lpar("l")
    cpu = Executor(m, lp.config)
    if not spec:
        assert cpu.tapq(apqn(apid, apqi)).rc == RC.Q_NOT_AVAIL
    else:
        with pytest.raises(ProgramException) as e:
            cpu.tapq(apqn(apid, apqi))
        assert e.value.kind == "specification"


def test_without_apxa_ids_above_63_15_raise_specification():
    from apsim.engine.core import new_env
    from apsim.hw.machine import Machine
    env = new_env()
    m = Machine(env, apxa=False)
    lp = m.add_lpar("l")
    cpu = Executor(m, lp.config)
    assert lp.config.max_apid == 63 and lp.config.max_apqi == 15
    with pytest.raises(ProgramException, match="specification"):
        cpu.tapq(apqn(64, 0))
    with pytest.raises(ProgramException, match="specification"):
        cpu.tapq(apqn(0, 16))
    assert cpu.tapq(apqn(63, 15)).rc == RC.Q_NOT_AVAIL


# --- register-level checks ---------------------------------------------------------------
def test_unknown_pqap_function_code_raises_specification(hw):
    env, m, lp, cpu = hw
    with pytest.raises(ProgramException) as e:
        cpu.pqap(gr0_for(0x06, Q))
    assert e.value.kind == "specification" and e.value.code == 0x0006


def test_pqap_reserved_gr0_bits_raise_specification(hw):
    env, m, lp, cpu = hw
    with pytest.raises(ProgramException, match="reserved"):
        cpu.pqap(gr0_for(FC.TAPQ, Q) | 0x00010000)


def test_t_bit_with_other_than_tapq_raises_specification(hw):
    env, m, lp, cpu = hw
    with pytest.raises(ProgramException, match="T bit"):
        cpu.pqap(gr0_for(FC.RAPQ, Q, t=True))


def test_f_bit_without_se_binding_facility_raises_specification(hw):
    env, m, lp, cpu = hw
    with pytest.raises(ProgramException, match="F bit"):
        cpu.rapq(Q, f=True)


def test_problem_state_raises_privileged_operation(hw):
    env, m, lp, cpu = hw
    for call in (lambda: cpu.tapq(Q, problem_state=True),
                 lambda: cpu.nqap(Q, 1, 100, "rsa2048", problem_state=True),
                 lambda: cpu.dqap(Q, problem_state=True)):
        with pytest.raises(ProgramException) as e:
            call()
        assert e.value.kind == "privileged-operation" and e.value.code == 0x0002


def test_odd_register_pairs_raise_specification(hw):
    env, m, lp, cpu = hw
    with pytest.raises(ProgramException, match="even"):
        cpu.nqap(Q, 1, 100, "rsa2048", r1=3)
    with pytest.raises(ProgramException, match="even"):
        cpu.dqap(Q, r2=5)


def test_nqap_length_zero_or_beyond_architecture_raises_specification(hw):
    env, m, lp, cpu = hw
    for n in (0, 15 * 4096 + 1):
        with pytest.raises(ProgramException, match="length"):
            cpu.nqap(Q, 1, n, "rsa2048")


def test_nqap_and_dqap_reserved_gr0_bits_raise_specification(hw):
    env, m, lp, cpu = hw
    with pytest.raises(ProgramException, match="reserved"):
        cpu.nqap(0x00010000 | Q, 1, 100, "rsa2048")
    with pytest.raises(ProgramException, match="reserved"):
        cpu.dqap(0x00010000 | Q)


def test_without_ap_facility_every_instruction_is_an_operation_exception():
    from tests.conftest import build_machine
    env, m, lp = build_machine()
    lp.config.facilities = Facilities(ap=False)
    cpu = Executor(m, lp.config)
    for call in (lambda: cpu.tapq(Q), lambda: cpu.enqueue(Q, 1), lambda: cpu.dequeue(Q)):
        with pytest.raises(ProgramException) as e:
            call()
        assert e.value.kind == "operation" and e.value.code == 0x0001


def test_qci_without_apqci_raises_specification_and_t_bit_without_apft_too():
    from tests.conftest import build_machine
    env, m, lp = build_machine()
    lp.config.facilities = Facilities(apqci=False, apft=False, apqi=False)
    cpu = Executor(m, lp.config)
    with pytest.raises(ProgramException, match="QCI"):
        cpu.qci()
    with pytest.raises(ProgramException, match="apft"):
        cpu.tapq(Q, t=True)
    with pytest.raises(ProgramException, match="apqi"):
        cpu.aqic(Q, enable=True, nib=0x1000)


# --- QCI / QACT ----------------------------------------------------------------------
def test_qci_returns_the_lpar_masks_and_maxima(hw):
    env, m, lp, cpu = hw
    r = cpu.qci()
    assert r.cc == 0 and len(r.qci) == 128
    info = parse_qci(r.qci)
    assert info["apxa"] and info["na"] == 255 and info["nd"] == 255
    assert info["apm"] == Mask.from_ids([5, 6, 7])
    assert info["aqm"] == Mask.from_ids([4, 0x47, 0xAB, 0xFF])
    assert info["adm"] == Mask.from_ids([4, 0x47, 0xAB, 0xFF])


def test_qact_maps_a_newer_type_to_the_cards_own_type(hw):
    env, m, lp, cpu = hw
    r = cpu.qact(Q, 20)
    assert r.cc == 0 and (r.gr2 >> 24) == 13
    assert (cpu.qact(Q, 11).gr2 >> 24) == 11


# --- NQAP / DQAP -------------------------------------------------------------------------
def test_nqap_then_dqap_returns_the_reply_with_its_psmid(hw):
    env, m, lp, cpu = hw
    r = cpu.enqueue(Q, 0xABCDEF, "rsa2048")
    assert (r.cc, r.rc) == (0, 0) and not r.queue_empty
    assert cpu.dequeue(Q).rc == 0x10  # no reply yet: NO_PENDING_REPLY
    run(env, 100 * MS)
    t = cpu.tapq(Q)
    assert t.replies_waiting and not t.queue_empty
    d = cpu.dequeue(Q)
    assert (d.cc, d.rc, d.psmid) == (0, 0, 0xABCDEF) and d.queue_empty
    assert m.ledger.completed == 1 and m.ledger.in_flight == 0


def test_dqap_on_empty_queue_answers_no_pending_reply(hw):
    env, m, lp, cpu = hw
    r = cpu.dequeue(Q)
    assert (r.cc, r.rc) == (3, RC.Q_FULL) and r.queue_empty
    assert codes.rc_name(r.rc, dqap=True) == "NO_PENDING_REPLY"


def test_nqap_on_full_queue_answers_queue_full_and_f_bit(hw):
    env, m, lp, cpu = hw
    for i in range(8):
        assert cpu.enqueue(Q, i).rc == 0
    r = cpu.enqueue(Q, 99)
    assert (r.cc, r.rc) == (3, RC.Q_FULL) and r.queue_full
    assert m.ledger.rejected[RC.Q_FULL] == 1 and m.ledger.in_flight == 8


def test_replies_occupy_queue_slots_until_dequeued(hw):
    env, m, lp, cpu = hw
    for i in range(8):
        cpu.enqueue(Q, i)
    run(env, 1000 * MS)
    assert cpu.tapq(Q).queue_full  # eight replies still held
    assert cpu.enqueue(Q, 9).rc == RC.Q_FULL
    assert cpu.dequeue(Q).rc == 0
    assert cpu.enqueue(Q, 9).rc == 0


def test_nqap_longer_than_adapter_maximum_answers_message_too_big(hw):
    env, m, lp, cpu = hw
    r = cpu.enqueue(Q, 1, "rsa2048", length=12 * 1024 + 1)
    assert (r.cc, r.rc) == (3, RC.MESSAGE_TOO_BIG)


def test_nqap_of_a_function_the_mode_lacks_answers_req_fac_not_inst(hw):
    env, m, lp, cpu = hw
    assert cpu.enqueue(QA, 1, "cca_high").rc == RC.REQ_FAC_NOT_INST  # accelerator
    assert cpu.enqueue(QP, 1, "rsa2048").rc == RC.REQ_FAC_NOT_INST  # EP11
    assert cpu.enqueue(Q, 1, "ep11_high").rc == RC.REQ_FAC_NOT_INST  # CCA


def test_nqap_modifying_a_domain_outside_adm_answers_invalid_domain(hw):
    env, m, lp, cpu = hw
    assert cpu.enqueue(Q, 1, "cca_low", ctrl_domain=0x10).rc == RC.INVALID_DOMAIN
    assert cpu.enqueue(Q, 2, "cca_low", ctrl_domain=0x47).rc == 0


# --- resets ------------------------------------------------------------------------------
@pytest.mark.parametrize("op, cause", [("rapq", "reset"), ("zapq", "zeroize")])
def test_reset_drops_every_request_with_its_cause_and_reports_reset_in_progress(hw, op, cause):
    env, m, lp, cpu = hw
    for i in range(6):
        cpu.enqueue(Q, i, "cca_high")
    run(env, 2 * MS)  # some on engines, some waiting, maybe replies
    r = getattr(cpu, op)(Q)
    assert (r.cc, r.rc) == (0, 0) and r.queue_empty
    assert m.ledger.dropped[cause] == 6 and m.ledger.in_flight == 0
    t = cpu.tapq(Q)
    assert t.rc == RC.RESET_IN_PROGRESS
    assert cpu.enqueue(Q, 7).rc == RC.RESET_IN_PROGRESS
    assert cpu.rapq(Q).rc == RC.RESET_IN_PROGRESS
    run(env, m.profile.reset_ns)
    assert cpu.tapq(Q).rc == 0 and cpu.enqueue(Q, 8).rc == 0
    m.ledger.check(m.live_requests())


def test_reset_frees_the_engines_of_dropped_requests_for_other_domains(hw):
    env, m, lp, cpu = hw
    other = apqn(5, 0x47)
    for i in range(4):
        cpu.enqueue(Q, i, "cca_high")  # occupies all 4 engines
    cpu.enqueue(other, 100, "rsa2048")
    assert m.adapters[5].free == 0
    cpu.zapq(Q)
    assert m.adapters[5].free == 3  # the other domain's request took one engine
    run(env, 50 * MS)
    assert cpu.dequeue(other).psmid == 100


def test_reset_disables_interruptions(hw):
    env, m, lp, cpu = hw
    assert cpu.aqic(Q, enable=True, isc=3, nib=0x2000).rc == 0
    assert cpu.tapq(Q).irq_enabled
    cpu.rapq(Q)
    run(env, m.profile.reset_ns)
    assert not cpu.tapq(Q).irq_enabled


# --- interruptions -----------------------------------------------------------------------------
def test_aqic_enable_routes_an_interruption_per_reply_and_disable_stops_them():
    from tests.conftest import build_machine
    env, m, lp = build_machine()
    seen = []
    cpu = Executor(m, lp.config, irq_target=lambda q: seen.append((env.now, q.apqn)))
    r = cpu.aqic(Q, enable=True, isc=3, nib=0x2000)
    assert (r.cc, r.rc) == (0, 0) and r.irq_enabled
    cpu.enqueue(Q, 1)
    run(env, 50 * MS)
    assert len(seen) == 1 and seen[0][1] == Q
    assert cpu.aqic(Q, enable=False).rc == 0
    cpu.dequeue(Q)
    cpu.enqueue(Q, 2)
    run(env, 50 * MS)
    assert len(seen) == 1


def test_aqic_enable_with_nib_zero_answers_invalid_address(hw):
    env, m, lp, cpu = hw
    r = cpu.aqic(Q, enable=True, nib=0)
    assert (r.cc, r.rc) == (3, RC.INVALID_ADDRESS)


def test_aqic_enable_twice_or_disable_when_off_answers_otherwise_changed(hw):
    env, m, lp, cpu = hw
    assert cpu.aqic(Q, enable=False).rc == RC.OTHERWISE_CHANGED
    assert cpu.aqic(Q, enable=True, nib=0x1000).rc == 0
    assert cpu.aqic(Q, enable=True, nib=0x1000).rc == RC.OTHERWISE_CHANGED


def test_aqic_for_an_unregistered_gisa_answers_invalid_gisa(hw):
    env, m, lp, cpu = hw
    r = cpu.aqic(Q, enable=True, nib=0x1000, gisa=0x1234)
    assert r.rc == RC.INVALID_GISA
    m.gisas[0x1234] = lambda q: None
    assert cpu.aqic(Q, enable=True, nib=0x1000, gisa=0x1234).rc == 0


# --- adapter states ------------------------------------------------------------------------------
def _every_instruction(cpu, q):  # noqa: ANN001, ANN202
    return {
        "TAPQ": cpu.tapq(q, t=True), "NQAP": cpu.enqueue(q, 77), "DQAP": cpu.dequeue(q),
        "AQIC": cpu.aqic(q, enable=True, nib=0x1000), "RAPQ": cpu.rapq(q), "ZAPQ": cpu.zapq(q),
    }


def test_standby_adapter_answers_deconfigured_to_every_instruction_and_tapq_keeps_info(hw):
    env, m, lp, cpu = hw
    cpu.enqueue(Q, 1, "cca_high")
    m.se_configure(lp, [5], on=False)
    assert m.ledger.dropped["configure_off"] == 1
    for name, r in _every_instruction(cpu, Q).items():
        assert (r.cc, r.rc) == (3, RC.DECONFIGURED), name
    assert cpu.tapq(Q, t=True).gr2 is not None
    assert cpu.tapq(QA).rc == 0  # other adapters unaffected
    m.se_configure(lp, [5], on=True)
    assert cpu.tapq(Q).rc == 0 and cpu.enqueue(Q, 2).rc == 0


def test_checkstopped_adapter_answers_checkstopped_to_every_instruction(hw):
    env, m, lp, cpu = hw
    cpu.enqueue(Q, 1, "cca_high")
    cpu.enqueue(apqn(5, 0xFF), 2)
    assert m.checkstop(5) == 2
    assert m.ledger.dropped["checkstop"] == 2
    for name, r in _every_instruction(cpu, Q).items():
        assert (r.cc, r.rc) == (3, RC.CHECKSTOPPED), name
    assert cpu.tapq(Q, t=True).gr2 is not None
    m.checkstop(5, on=False)
    assert cpu.tapq(Q).rc == 0


def test_checkstop_recovery_keeps_standby_for_an_lpar_that_configured_it_off(hw):
    env, m, lp, cpu = hw
    m.se_configure(lp, [5], on=False)
    m.checkstop(5)
    m.checkstop(5, on=False)
    assert cpu.tapq(Q).rc == RC.DECONFIGURED


def test_busy_adapter_answers_busy_until_it_settles(hw):
    env, m, lp, cpu = hw
    m.set_busy(5, 10 * US)
    for name, r in _every_instruction(cpu, Q).items():
        assert (r.cc, r.rc) == (3, RC.BUSY), name
    run(env, 10 * US)
    assert cpu.tapq(Q).rc == 0


# --- SCLP ------------------------------------------------------------------------------------------
def test_sclp_deconfigure_and_configure_ap_use_the_kernel_command_words(hw):
    from apsim.hw.machine import SCCB_ALREADY_IN_STATE, SCCB_INVALID_RESOURCE, SCCB_NORMAL_COMPLETION
    env, m, lp, cpu = hw
    assert m.sclp_command(lp, 0x001E0001 | (5 << 8)) == SCCB_NORMAL_COMPLETION
    assert cpu.tapq(Q).rc == RC.DECONFIGURED
    assert m.sclp_command(lp, 0x001E0501) == SCCB_ALREADY_IN_STATE
    assert m.sclp_command(lp, 0x001F0501) == SCCB_NORMAL_COMPLETION
    assert cpu.tapq(Q).rc == 0
    assert m.sclp_command(lp, 0x001F0901) == SCCB_INVALID_RESOURCE  # not the LPAR's adapter
