"""Every path an AP instruction of a KVM guest can take (reference §3, §7): the CRYCB
format KVM picks, interpretation per function code and format, the truncation of
ids that do not fit a format-0/1 CRYCB, APIE off, missing facilities, KVM's
PQAP(AQIC) interception in the kernel's order, the hook's return codes and ECA_AIV."""

from __future__ import annotations

import numpy as np
import pytest

from apsim.engine.core import new_env
from apsim.errors import ProgramException
from apsim.engine import codes
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.engine.codes import FC, RC
from apsim.engine.config import Facilities, parse_qci
from apsim.engine.firmware import dqap_fast, nqap_fast
from apsim.engine.instructions import Executor, gr0_for
from apsim.hw.machine import Machine
from apsim.engine.request import Request
from apsim.ids import apqn
from apsim.kernel import KernelProfile
from apsim.kvm import (
    KVM,
    CpuFeatures,
    KvmOptions,
    SieExecutor,
    crycb_format,
    sie_dqap,
    sie_nqap,
)
from apsim.masks import Mask
from apsim.units import MS
from tests.conformance.test_kvm_unit_tests_ap import VfioApStandIn, make_guest
from tests.conftest import DOMAINS, build_machine

Q = apqn(5, 4)
ALL_APM = (5, 6, 7, 0x45, 0xC8)
ALL_AQM = (4, 0x0C, 0x47, 0xAB, 0xFF)


def pgm(kind: str, call) -> ProgramException:  # noqa: ANN001
    with pytest.raises(ProgramException) as e:
        call()
    assert e.value.kind == kind, e.value
    return e.value


def no_apxa_machine():  # noqa: ANN201
    """A machine without APXA (its LPAR's QCI has no N bit): KVM picks format 1."""
    env = new_env()
    m = Machine(env, model="z15", apxa=False, seed=1)
    m.install_adapter(5, CardSpec(CardType.CEX7, Mode.CCA))
    m.install_adapter(6, CardSpec(CardType.CEX7, Mode.ACCELERATOR))
    m.install_adapter(0x45, CardSpec(CardType.CEX7, Mode.CCA))
    doms = (4, 0x0C, 0x47)
    lp = m.add_lpar("lpar1", adapters=[5, 6, 0x45], usage_domains=doms, control_domains=doms)
    return env, m, lp


def guest_of_format(fmt: int, **kw):  # noqa: ANN003, ANN201
    """A guest with CRYCB format *fmt* whose vfio_ap-level masks name ids beyond 63/15."""
    machine = no_apxa_machine() if fmt == 1 else build_machine()
    cpu = CpuFeatures(msax3=fmt != 0)
    env, m, lp, kvm, sie = make_guest(cpu=cpu, apm=ALL_APM, aqm=ALL_AQM, adm=ALL_AQM,
                                      machine=machine, **kw)
    assert kvm.crycb_format == fmt
    return env, m, lp, kvm, sie


def touched(m: Machine) -> int:
    return sum(q.touched for ad in m.adapters.values() for q in ad.queues.values())


# --- format choice and widths --------------------------------------------------------------------
@pytest.mark.parametrize("msax3, apxa, fmt", [(False, False, 0), (False, True, 0),
                                              (True, False, 1), (True, True, 2)])
def test_crycb_format_follows_msax3_and_host_apxa(msax3, apxa, fmt):
    assert crycb_format(msax3, apxa) == fmt


def test_host_without_qci_facility_cannot_report_apxa_so_the_guest_gets_format_1():
    env, m, lp = build_machine()
    lp.config.facilities = Facilities(apqci=False)
    kvm = KVM(env, m, lp.config, "g")
    assert kvm.crycb_format == 1 and not kvm.cpu.apqci


@pytest.mark.parametrize("fmt", [0, 1])
def test_format_0_1_truncate_masks_to_64_apids_and_16_domains(fmt):
    env, m, lp, kvm, cpu = guest_of_format(fmt)
    assert kvm.config.apm == Mask.from_ids([5, 6, 7])  # vfio_ap's business, not KVM's
    assert kvm.config.aqm == Mask.from_ids([4, 0x0C]) == kvm.config.adm
    info = parse_qci(cpu.qci().qci)
    assert not info["apxa"] and info["na"] == 0 and info["nd"] == 0
    assert info["apm"] == kvm.config.apm and info["aqm"] == kvm.config.aqm
    # Ids beyond the format's reach are not addressable at all (63/15 maxima).
    for q in (apqn(0x45, 4), apqn(5, 0x47), apqn(0xC8, 0xFF)):
        pgm("specification", lambda q=q: cpu.tapq(q))
    assert cpu.tapq(Q).rc == 0
    # Domain 12 is in the guest's APCB; only the format-1 machine's LPAR has it.
    assert cpu.tapq(apqn(5, 0x0C)).rc == (0 if fmt == 1 else RC.Q_NOT_AVAIL)


def test_format_2_passes_all_256_ids_and_reports_the_lpars_maxima():
    env, m, lp, kvm, cpu = guest_of_format(2)
    assert kvm.config.apm == Mask.from_ids(ALL_APM) and kvm.config.aqm == Mask.from_ids(ALL_AQM)
    info = parse_qci(cpu.qci().qci)
    assert info["apxa"] and (info["na"], info["nd"]) == (lp.config.na, lp.config.nd)
    assert cpu.tapq(apqn(5, 0xAB)).rc == 0
    # In the guest's APCB but not in the LPAR: 0x01, no queue touched.
    before = touched(m)
    assert cpu.tapq(apqn(0xC8, 0xFF)).rc == RC.Q_NOT_AVAIL
    assert touched(m) == before


def test_crycb_image_holds_apcb0_for_format_0_1_and_apcb1_for_format_2():
    from apsim.kvm import crycb as cb
    for fmt in (0, 1, 2):
        env, m, lp, kvm, cpu = guest_of_format(fmt)
        img = bytes(kvm.crycb_image)
        apcb0, apcb1 = img[cb.APCB0_OFFSET:0x20], img[cb.APCB1_OFFSET:]
        if fmt == 2:
            assert not any(apcb0) and img[cb.APCB1_APM] == 0x07  # APIDs 5, 6, 7 in byte 0
            assert cb.read_apcb(img, 2)[0] == Mask.from_ids(ALL_APM)
        else:
            assert not any(apcb1)
            assert img[cb.APCB0_APM] == 0x07 and img[cb.APCB0_AQM:cb.APCB0_AQM + 2] == b"\x08\x08"
            assert not any(img[cb.APCB0_AQM + 2:cb.APCB0_ADM]), "only 2 bytes of the AQM word"
        assert kvm.crycbd & 3 == {0: 0, 1: 1, 2: 3}[fmt]


# --- interpretation per function code and format ---------------------------------------------------
@pytest.mark.parametrize("fmt", [0, 1, 2])
def test_every_interpreted_function_code_reaches_the_queue_and_aqic_is_intercepted(fmt):
    env, m, lp, kvm, cpu = guest_of_format(fmt)
    q = lp.queues[Q]
    n = q.touched
    assert cpu.tapq(Q).rc == 0 and cpu.tapq(Q, t=True).gr2
    assert cpu.qact(Q, 20).gr2 >> 24 == 13
    assert cpu.rapq(Q).rc == 0
    env.run(until=env.now + 1 * MS)
    assert cpu.zapq(Q).rc == 0
    env.run(until=env.now + 1 * MS)
    assert cpu.enqueue(Q, 7).rc == 0
    assert q.touched == n + 6 and cpu.intercepts == 0
    env.run(until=env.now + 100 * MS)
    r = cpu.dequeue(Q)
    assert r.rc == 0 and r.psmid == 7
    assert q.touched == n + 7
    assert cpu.aqic(Q, enable=True, nib=0x1000).rc == 0
    assert cpu.intercepts == 1 and kvm.pqap_hook.calls[-1][0] == Q


def test_apqn_outside_apm_x_aqm_gets_rc_0x01_for_every_instruction_and_no_queue_is_touched():
    env, m, lp, kvm, cpu = make_guest(apm=(5,), aqm=(4,), adm=(4,))
    before = touched(m)
    outside = [apqn(6, 4), apqn(5, 0x47), apqn(6, 0xAB)]  # all in the LPAR
    for q in outside:
        for r in (cpu.tapq(q), cpu.tapq(q, t=True), cpu.rapq(q), cpu.zapq(q), cpu.qact(q, 13),
                  cpu.enqueue(q, 1), cpu.dequeue(q), cpu.aqic(q, enable=True, nib=0x1000)):
            assert (r.cc, r.rc) == (3, RC.Q_NOT_AVAIL)
    assert touched(m) == before
    assert m.ledger.rejected[RC.Q_NOT_AVAIL] == len(outside)


def test_nqap_to_a_control_domain_outside_the_guest_adm_is_rc_0x42():
    env, m, lp, kvm, cpu = make_guest(adm=(4,))
    assert cpu.enqueue(Q, 1, ctrl_domain=0x47).rc == RC.INVALID_DOMAIN
    assert cpu.enqueue(Q, 2, ctrl_domain=4).rc == 0


def test_an_interruption_enabled_through_the_hook_reaches_the_guest_via_its_gisa():
    env, m, lp, kvm, cpu = make_guest()
    got = []
    kvm.add_irq_listener(lambda queue: got.append((env.now, queue.apqn)))
    assert cpu.aqic(Q, enable=True, isc=3, nib=0x1000).rc == 0
    q = lp.queues[Q]
    assert q.gisa == kvm.gisa_origin and m.gisas[kvm.gisa_origin] == kvm.deliver_irq
    cpu.enqueue(Q, 1)
    env.run(until=env.now + 100 * MS)
    assert [a for _, a in got] == [Q]


# --- APIE off and missing facilities -----------------------------------------------------------------
def test_without_the_ap_feature_every_ap_instruction_is_an_operation_exception():
    env, m, lp, kvm, cpu = make_guest(cpu=CpuFeatures(ap=False))
    assert not kvm.apie and not kvm.interpretive
    calls = [lambda: cpu.tapq(Q), lambda: cpu.tapq(Q, t=True), lambda: cpu.rapq(Q),
             lambda: cpu.zapq(Q), lambda: cpu.qci(), lambda: cpu.qact(Q, 13),
             lambda: cpu.enqueue(Q, 1), lambda: cpu.dequeue(Q),
             lambda: cpu.aqic(Q, enable=True, nib=0x1000),
             lambda: cpu.pqap(42 << 24), lambda: cpu.pqap(gr0_for(FC.AQIC, Q), problem_state=True)]
    for call in calls:
        assert pgm("operation", call).code == 0x0001
    assert touched(m) == 0
    with pytest.raises(ProgramException, match="operation"):
        sie_nqap(kvm, Q, Request(1, 0, 256, 0, 0, -1))
    with pytest.raises(ProgramException, match="operation"):
        sie_dqap(kvm, Q)


def test_a_host_without_ap_instructions_gives_the_guest_none():
    env, m, lp = build_machine()
    lp.config.facilities = Facilities(ap=False)
    kvm = KVM(env, m, lp.config, "g")
    assert not kvm.cpu.ap and not kvm.apie
    pgm("operation", lambda: SieExecutor(kvm).aqic(Q, enable=True, nib=0x1000))


def test_apft_off_rejects_the_t_bit_for_tapq_and_for_aqic():
    env, m, lp, kvm, cpu = make_guest(cpu=CpuFeatures(apft=False))
    pgm("specification", lambda: cpu.tapq(Q, t=True))
    assert cpu.tapq(Q).rc == 0
    pgm("specification", lambda: cpu.pqap(gr0_for(FC.AQIC, Q, t=True), 1 << 47, 0x1000))
    assert kvm.pqap_hook.calls == []


def test_with_apft_the_t_bit_on_aqic_passes_kvms_checks_to_the_hook():
    env, m, lp, kvm, cpu = make_guest()
    r = cpu.pqap(gr0_for(FC.AQIC, Q, t=True), 1 << 47, 0x1000)
    assert r.rc == 0 and len(kvm.pqap_hook.calls) == 1


def test_apqci_off_makes_qci_a_specification_exception():
    env, m, lp, kvm, cpu = make_guest(cpu=CpuFeatures(apqci=False))
    pgm("specification", lambda: cpu.qci())
    assert cpu.tapq(Q).rc == 0


def test_apqi_off_makes_aqic_a_specification_exception_even_with_a_hook():
    env, m, lp, kvm, cpu = make_guest(cpu=CpuFeatures(apqi=False))
    pgm("specification", lambda: cpu.aqic(Q, enable=True, nib=0x1000))
    assert kvm.pqap_hook.calls == []
    assert cpu.tapq(Q).rc == 0


# --- KVM's handle_pqap order (§7.3) ---------------------------------------------------------------------
def test_handle_pqap_order_problem_state_before_specification_checks():
    env, m, lp, kvm, cpu = make_guest(cpu=CpuFeatures(apqi=False, apft=False))
    gr0 = gr0_for(FC.AQIC, apqn(0x45, 0x47), t=True) | 0x00010000
    pgm("privileged-operation", lambda: cpu.pqap(gr0, problem_state=True))
    e = pgm("specification", lambda: cpu.pqap(gr0))
    assert "41-47" in e.reason
    e = pgm("specification", lambda: cpu.pqap(gr0 & ~0x00010000))
    assert "T bit" in e.reason
    e = pgm("specification", lambda: cpu.pqap(gr0_for(FC.AQIC, apqn(0x45, 0x47))))
    assert "APQI" in e.reason  # format 2: the id check does not apply, facility 65 does


@pytest.mark.parametrize("fmt", [0, 1])
def test_handle_pqap_rejects_ids_beyond_63_15_when_the_crycb_is_not_format_2(fmt):
    env, m, lp, kvm, cpu = guest_of_format(fmt)
    for q in (apqn(64, 4), apqn(5, 16), apqn(0xC8, 0xFF)):
        e = pgm("specification", lambda q=q: cpu.aqic(q, enable=True, nib=0x1000))
        assert f"format-{fmt}" in e.reason
    assert cpu.aqic(apqn(63, 15), enable=True, nib=0x1000).rc == RC.Q_NOT_AVAIL


def test_handle_pqap_in_format_2_takes_any_id_to_the_hook():
    env, m, lp, kvm, cpu = make_guest()
    r = cpu.aqic(apqn(0xC8, 0xFF), enable=True, nib=0x1000)
    assert (r.cc, r.rc) == (3, RC.Q_NOT_AVAIL) and kvm.pqap_hook.calls[-1][0] == apqn(0xC8, 0xFF)


def test_aqic_without_a_hook_with_the_status_word_fix_answers_rc_0x01_and_cc_3():
    env, m, lp, kvm, cpu = make_guest(hook=False, options=KvmOptions(kernel=KernelProfile.all_fixed()))
    r = cpu.aqic(Q, enable=True, isc=5, nib=0x1000)
    assert (r.cc, r.rc) == (3, RC.Q_NOT_AVAIL)
    assert r.status == codes.make_status(RC.Q_NOT_AVAIL) and r.extra["gr1"] == r.status
    assert not lp.queues[Q].irq


def test_aqic_without_a_hook_in_mainline_leaves_the_status_word_as_the_guests_gr1():
    env, m, lp, kvm, cpu = make_guest(hook=False, options=KvmOptions(kernel=KernelProfile()))
    gr1 = (1 << 47) | 5
    r = cpu.pqap(gr0_for(FC.AQIC, Q), gr1, 0x1000)
    assert r.cc == 3
    assert r.status == gr1 & 0xFFFFFFFF and r.rc == 0  # only the CC is reliable
    assert r.extra["gr1"] >> 32 == codes.make_status(RC.Q_NOT_AVAIL)


@pytest.mark.parametrize("rc, cc", [(0x00, 0), (0x01, 3), (0x02, 3), (0x05, 3), (0x06, 3),
                                    (0x07, 3), (0x08, 3)])
def test_hook_status_word_goes_to_the_guest_and_a_non_zero_rc_sets_cc_3(rc, cc):
    env, m, lp, kvm, cpu = make_guest(hook=False)
    seen = []
    status = codes.make_status(rc, empty=True, irq=rc == 0)

    def hook(q: int, gr1: int, gr2: int) -> int:
        seen.append((q, gr1, gr2))
        return status

    kvm.pqap_hook = hook
    r = cpu.aqic(Q, enable=True, isc=6, nib=0x4000)
    assert (r.cc, r.rc, r.status) == (cc, rc, status)
    assert r.queue_empty and r.irq_enabled == (rc == 0)
    assert seen == [(Q, (1 << 47) | 6, 0x4000)]


def test_without_eca_aiv_the_hook_hands_aqic_to_user_space_an_operation_exception():
    env, m, lp, kvm, cpu = make_guest(options=KvmOptions(aiv=False))
    pgm("operation", lambda: cpu.aqic(Q, enable=True, nib=0x1000))
    assert kvm.pqap_hook.calls == []
    kvm.pqap_hook = None  # without a hook KVM answers by itself, AIV or not
    r = cpu.aqic(Q, enable=True, nib=0x1000)
    assert r.cc == 3 and r.extra["gr1"] >> 32 == codes.make_status(RC.Q_NOT_AVAIL)


# --- hot path, GISA, teardown ---------------------------------------------------------------------------
def test_sie_fast_path_equals_hardware_fast_path_on_the_guest_table():
    env, m, lp, kvm, cpu = make_guest(apm=(5,), aqm=(4, 0x47), adm=(4,))
    for i, q in enumerate((Q, apqn(5, 0x47), apqn(6, 4), apqn(5, 0xAB))):
        rc = sie_nqap(kvm, q, Request(100 + i, 0, 256, 0, env.now, -1))
        assert rc == (0 if kvm.config.allows(q) else RC.Q_NOT_AVAIL)
    env.run(until=env.now + 100 * MS)
    rc, req = sie_dqap(kvm, Q)
    assert rc == 0 and req.psmid == 100
    assert sie_dqap(kvm, apqn(6, 4)) == (RC.Q_NOT_AVAIL, None)
    assert nqap_fast.__name__ and dqap_fast(kvm.config, Q)[0] == RC.Q_FULL  # no reply left


def test_gisa_origins_are_unique_non_zero_and_fit_aqic_and_destroy_unregisters():
    env, m, lp = build_machine()
    vms = [KVM(env, m, lp.config, f"g{i}") for i in range(5)]
    origins = [k.gisa_origin for k in vms]
    assert len(set(origins)) == 5 and all(0 < o <= 0x7FFFFFF for o in origins)
    vms[0].destroy()
    assert origins[0] not in m.gisas and origins[1] in m.gisas
    assert KVM(env, m, lp.config, "late").gisa_origin not in origins[1:]


def test_guest_configuration_belongs_to_the_lpar_and_is_named_after_the_guest():
    env, m, lp, kvm, cpu = make_guest()
    assert kvm.config.name == "guest:g1" and kvm.config.lpar is lp and kvm.lpar is lp
    assert not kvm.config.secure and not kvm.config.facilities.apsb
    table = kvm.config.table
    assert table.sum() == 2 * len(DOMAINS) and np.flatnonzero(table)[0] == Q


def test_an_executor_for_a_vcpu_that_does_not_exist_is_refused():
    env, m, lp, kvm, cpu = make_guest()
    with pytest.raises(ValueError):
        SieExecutor(kvm, vcpu=2)
    assert SieExecutor(kvm, vcpu=1).tapq(Q).rc == 0


def test_the_host_executor_is_unaffected_by_guest_masks():
    env, m, lp, kvm, cpu = make_guest(apm=(5,), aqm=(4,), adm=())
    host = Executor(m, lp.config)
    assert host.tapq(apqn(7, 0xFF)).rc == 0 and cpu.tapq(apqn(7, 0xFF)).rc == RC.Q_NOT_AVAIL
    assert isinstance(VfioApStandIn(kvm, host)(Q, 0, 0), int)


def test_a_guest_configuration_is_not_a_parent_nesting_goes_through_the_guest_1_kvm():
    from apsim.errors import ConfigError
    env, m, lp, kvm, cpu = make_guest()
    with pytest.raises(ConfigError, match="guest-1 KVM"):
        KVM(env, m, kvm.config, "g2")
    assert KVM(env, m, kvm, "g2").nested


def test_features_the_host_lacks_are_dropped_like_cpu_host():
    env, m, lp = build_machine()
    lp.config.facilities = Facilities(apft=False, apqi=False)
    kvm = KVM(env, m, lp.config, "g", cpu=CpuFeatures())
    assert kvm.requested_cpu == CpuFeatures()
    assert kvm.cpu == CpuFeatures(apft=False, apqi=False)
    assert not kvm.config.facilities.apft and not kvm.config.facilities.apqi


def test_a_hook_that_declines_hands_aqic_to_user_space():
    env, m, lp, kvm, cpu = make_guest(hook=False)
    kvm.pqap_hook = lambda q, gr1, gr2: None
    pgm("operation", lambda: cpu.aqic(Q, enable=True, nib=0x1000))


def test_nib_validity_is_guest_memory():
    env, m, lp, kvm, cpu = make_guest(options=KvmOptions(memory_size=1 << 20))
    assert kvm.nib_valid(0) and kvm.nib_valid((1 << 20) - 1)
    assert not kvm.nib_valid(1 << 20) and not kvm.nib_valid(-1)
