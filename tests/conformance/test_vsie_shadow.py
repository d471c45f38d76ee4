"""Nested guests (reference §9, arch/s390/kvm/vsie.c): every row of the format table,
the validity intercepts 0x0022 / 0x0035 / 0x0039 / 0x003C, the format-2 tag of the
shadow, and the rule that a guest-2 never reaches an APQN its guest-1 cannot, also
across guest-1 mask changes (KVM_REQ_VSIE_RESTART)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from apsim.errors import ProgramException, ValidityIntercept
from apsim.engine.codes import RC
from apsim.ids import apqn
from apsim.kvm import (
    KVM,
    CpuFeatures,
    KvmOptions,
    SieExecutor,
    effective_shadow,
    shadow_crycb,
)
from apsim.kvm import crycb as cb
from apsim.kvm.vsie import crosses_page
from apsim.masks import Mask
from tests.conformance.test_sie_paths import no_apxa_machine
from tests.conftest import build_machine

M = Mask.from_ids
G1 = ((5, 6, 0x45, 0xC8), (4, 0x0C, 0x47, 0xFF), (4, 0x0C, 0x47))
G2 = ((5, 0x45, 0x80), (4, 0x0C, 0x47, 0xAB), (4, 0xFF))


def masks(ids):  # noqa: ANN001, ANN201
    return tuple(M(x) for x in ids)


def nested(*, apxa: bool = True, g1_cpu: CpuFeatures | None = None, g2_cpu: CpuFeatures | None = None,
           g1_opts: KvmOptions | None = None, g2_opts: KvmOptions | None = None,
           g1_masks=G1, g2_masks=G2):  # noqa: ANN001, ANN201
    env, m, lp = build_machine() if apxa else no_apxa_machine()
    g1 = KVM(env, m, lp.config, "g1", vcpus=2, cpu=g1_cpu, options=g1_opts)
    g1.set_masks(*masks(g1_masks))
    g2 = KVM(env, m, g1, "g2", vcpus=1, cpu=g2_cpu, options=g2_opts)
    g2.set_masks(*masks(g2_masks))
    return env, m, lp, g1, g2


def cfg(k: KVM) -> tuple[Mask, Mask, Mask]:
    return k.config.apm, k.config.aqm, k.config.adm


def subset(inner: KVM, outer: KVM) -> bool:
    return not np.any(inner.config.table & ~outer.config.table)


def validity(call) -> int:  # noqa: ANN001
    with pytest.raises(ValidityIntercept) as e:
        call()
    return e.value.code


# --- the rows of §9's table -----------------------------------------------------------------
def test_format_2_on_2_ands_all_256_bits_of_apcb1():
    env, m, lp, g1, g2 = nested()
    assert (g1.crycb_format, g2.crycb_format) == (2, 2)
    assert cfg(g2) == (M([5, 0x45]), M([4, 0x0C, 0x47]), M([4]))
    assert g2.shadow.crycbd == 0b11 and g2.shadow.apie and g2.validity is None


@pytest.mark.parametrize("g1_fmt", [0, 1])
def test_format_2_on_format_0_or_1_is_validity_0x0022(g1_fmt):
    env, m, lp = build_machine() if g1_fmt == 0 else no_apxa_machine()
    g1 = KVM(env, m, lp.config, "g1", cpu=CpuFeatures(msax3=g1_fmt != 0))
    assert g1.crycb_format == g1_fmt
    assert validity(lambda: shadow_crycb(g1, 2, True, *masks(G2))) == 0x0022


def test_format_1_on_2_fills_apcb1_word_0_with_ids_0_63_and_domains_0_15():
    env, m, lp = build_machine()
    g1 = KVM(env, m, lp.config, "g1")
    g1.set_masks(*masks(G1))
    s = shadow_crycb(g1, 1, True, M([5, 6, 0x45]), M([4, 0x0C, 0x47]), M([4, 0x0C]))
    assert s.crycbd == 0b11 and s.apie
    assert s.masks(machine_apxa=True) == (M([5, 6]), M([4, 0x0C]), M([4, 0x0C]))
    assert not any(s.image[cb.APCB1_AQM + 2:cb.APCB1_ADM]), "AQM limited to its first 16 bits"
    assert not any(s.image[cb.APCB0_OFFSET:cb.APCB0_SIZE])


def test_format_1_on_1_ands_apcb0():
    env, m, lp, g1, g2 = nested(apxa=False)
    assert (g1.crycb_format, g2.crycb_format) == (1, 1)
    assert cfg(g2) == (M([5]), M([4, 0x0C]), M([4]))
    assert not any(g2.shadow.image[cb.APCB1_OFFSET:])
    assert SieExecutor(g2).tapq(apqn(5, 4)).rc == 0


def test_format_1_on_0_is_validity_0x0022_and_the_guest_2_cannot_run():
    env, m, lp, g1, g2 = nested(g1_cpu=CpuFeatures(msax3=False))
    assert (g1.crycb_format, g2.crycb_format) == (0, 1)
    assert g2.validity.code == 0x0022 and not g2.interpretive
    assert cfg(g2) == (Mask.empty(),) * 3
    assert validity(lambda: SieExecutor(g2).tapq(apqn(5, 4))) == 0x0022


def test_format_0_on_2_is_like_1_on_2():
    env, m, lp, g1, g2 = nested(g2_cpu=CpuFeatures(msax3=False))
    assert (g1.crycb_format, g2.crycb_format) == (2, 0)
    assert cfg(g2) == (M([5]), M([4, 0x0C]), M([4]))
    cpu = SieExecutor(g2)
    assert cpu.tapq(apqn(5, 4)).rc == 0
    with pytest.raises(ProgramException, match="specification"):
        cpu.tapq(apqn(0x45, 4))  # the guest-2 cannot even name APID 69


def test_format_0_on_1_ands_apcb0():
    env, m, lp, g1, g2 = nested(apxa=False, g2_cpu=CpuFeatures(msax3=False))
    assert (g1.crycb_format, g2.crycb_format) == (1, 0)
    assert cfg(g2) == (M([5]), M([4, 0x0C]), M([4]))


def test_format_0_on_0_ands_apcb0_but_an_apxa_machine_reads_the_format_2_tag_as_apcb1():
    """[U] The shadow is tagged format 2; on a machine with APXA apsim reads APCB1,
    which vsie.c leaves empty for a format-0/1 pair, so the guest-2 sees nothing."""
    env, m, lp, g1, g2 = nested(g1_cpu=CpuFeatures(msax3=False), g2_cpu=CpuFeatures(msax3=False))
    assert (g1.crycb_format, g2.crycb_format) == (0, 0)
    assert g2.validity is None and g2.shadow.apie
    a0 = cb.read_apcb(g2.shadow.image, 1)
    assert a0 == (M([5]), M([4, 0x0C]), M([4]))
    assert cfg(g2) == (Mask.empty(),) * 3
    env, m, lp, g1, g2 = nested(apxa=False, g1_cpu=CpuFeatures(msax3=False),
                                g2_cpu=CpuFeatures(msax3=False))
    assert cfg(g2) == (M([5]), M([4, 0x0C]), M([4]))


def test_undefined_format_bits_0b10_are_validity_0x0022():
    from apsim.kvm.vsie import memory_reader, shadow_step
    env, m, lp = build_machine()
    g1 = KVM(env, m, lp.config, "g1")
    img = cb.encode_crycb(2, *masks(G2))
    assert validity(lambda: shadow_step(
        host_image=g1.crycb_image, host_crycbd=g1.crycbd, host_apie=True, host_msax3=True,
        orig_crycbd=0x10_0000 | 0b10, orig_apie=True,
        read_guest=memory_reader(g1.memory_size, 0x10_0000, img))) == 0x0022


# --- addresses ------------------------------------------------------------------------------
def test_crycb_address_0_is_validity_0x0039():
    env, m, lp, g1, g2 = nested(g2_opts=KvmOptions(crycb_addr=0))
    assert g2.validity.code == 0x0039
    with pytest.raises(ValidityIntercept):
        SieExecutor(g2).dequeue(apqn(5, 4))


@pytest.mark.parametrize("fmt, ok, bad", [(2, 0xE00, 0xF00), (1, 0xF00, 0xF80), (0, 0xFC0, 0xFE0)])
def test_crycb_crossing_a_page_is_validity_0x003c(fmt, ok, bad):
    env, m, lp = build_machine()
    g1 = KVM(env, m, lp.config, "g1")
    g1.set_masks(*masks(G1))
    size = {2: 256, 1: 128, 0: 32}[fmt]
    base = 0x40_0000
    assert crosses_page(base + bad, size) and not crosses_page(base + ok, size)
    assert shadow_crycb(g1, fmt, True, *masks(G2), crycb_addr=base + ok).crycbd == 0b11
    assert validity(lambda: shadow_crycb(g1, fmt, True, *masks(G2), crycb_addr=base + bad)) == 0x003C


def test_a_format_2_crycb_ending_exactly_at_a_page_end_counts_as_crossing():
    # vsie.c compares the page of addr with the page of addr + 256 (one past the end).
    assert crosses_page(0x1F00, 256) and not crosses_page(0x1EFF, 256)


def test_crycb_outside_guest_1_memory_is_validity_0x0035():
    env, m, lp, g1, g2 = nested(g1_opts=KvmOptions(memory_size=1 << 20),
                                g2_opts=KvmOptions(crycb_addr=2 << 20))
    assert g2.validity.code == 0x0035


# --- APIE and no CRYCB ------------------------------------------------------------------------
def test_guest_2_without_ap_gets_a_tagged_shadow_without_apie_and_operation_exceptions():
    env, m, lp, g1, g2 = nested(g2_cpu=CpuFeatures(ap=False))
    assert g2.shadow.crycbd == 0b11 and not g2.shadow.apie  # key masking keeps the CRYCB
    assert cfg(g2) == (Mask.empty(),) * 3
    with pytest.raises(ProgramException, match="operation"):
        SieExecutor(g2).tapq(apqn(5, 4))


def test_without_apie_address_checks_still_apply_unless_the_crycb_is_format_0():
    env, m, lp, g1, g2 = nested(g2_cpu=CpuFeatures(ap=False), g2_opts=KvmOptions(crycb_addr=0))
    assert g2.validity.code == 0x0039
    env, m, lp, g1, g2 = nested(g2_cpu=CpuFeatures(ap=False, msax3=False),
                                g2_opts=KvmOptions(crycb_addr=0))
    assert g2.validity is None and g2.shadow.crycbd == 0 and not g2.has_crycb


def test_guest_1_without_apie_gives_its_guests_no_interpretation():
    env, m, lp, g1, g2 = nested(g1_cpu=CpuFeatures(ap=False))
    assert not g1.apie and not g2.apie and not g2.interpretive
    for call in (lambda: SieExecutor(g2).tapq(apqn(5, 4)),
                 lambda: SieExecutor(g2).aqic(apqn(5, 4), enable=True, nib=0x1000)):
        with pytest.raises(ProgramException, match="operation"):
            call()


def test_guest_2_apie_needs_every_level():
    env, m, lp, g1, g2 = nested()
    g1.apie = False  # as if the guest-1 vCPUs ran without ECA_APIE
    g1.set_masks(*masks(G1))
    assert not g2.shadow.apie and not g2.interpretive


# --- guest-2 within guest-1 -------------------------------------------------------------------
def test_guest_1_mask_changes_rebuild_the_shadow_and_guest_2_stays_within_guest_1():
    env, m, lp, g1, g2 = nested()
    gen = g2.config.generation
    g1.set_masks(M([6, 0xC8]), M([4, 0x47]), M([4]))  # adapter 5 and 0x45 gone
    assert g2.config.generation == gen + 1 and subset(g2, g1)
    assert g2.config.apm == Mask.empty()
    before = lp.queues[apqn(5, 4)].touched
    assert SieExecutor(g2).tapq(apqn(5, 4)).rc == RC.Q_NOT_AVAIL
    assert lp.queues[apqn(5, 4)].touched == before
    g1.set_masks(*masks(G1))  # back: the guest-2's own masks show through again
    assert cfg(g2) == (M([5, 0x45]), M([4, 0x0C, 0x47]), M([4]))
    g1.clear_masks()
    assert not g2.config.table.any()
    # Own update, then one rebuild per guest-1 update that changed the shadow.
    assert len(g2.mask_history) == 4 and g2.mask_history[-1][1:] == (Mask.empty(),) * 3


def test_an_unchanged_shadow_is_not_swapped_again():
    env, m, lp, g1, g2 = nested()
    gen, n = g2.config.generation, len(g2.mask_history)
    g1.set_masks(M([5, 6, 0x45, 0xC8, 0x99]), *masks(G1)[1:])  # 0x99 is not in guest-2's masks
    assert (g2.config.generation, len(g2.mask_history)) == (gen, n)


def test_guest_2_waits_while_guest_1_is_blocked_but_not_the_other_way_round():
    env, m, lp, g1, g2 = nested()
    env.run(until=g2.ready_at() + 1)
    now = env.now
    g1.set_masks(*masks(G1))
    assert g1.blocked_until > now and g2.ready_at() == g1.blocked_until
    env.run(until=g1.blocked_until)
    g2.set_masks(*masks(G2))
    assert g2.blocked() and not g1.blocked()


def test_three_levels_and_all_masks_and_destroy_takes_the_nested_guests_along():
    env, m, lp, g1, g2 = nested()
    g3 = KVM(env, m, g2, "g3")
    g3.set_masks(M([5, 0x45, 0xC8]), M([0x0C, 0x47]), M([4]))
    assert g3.level == 3 and cfg(g3) == (M([5, 0x45]), M([0x0C, 0x47]), M([4]))
    assert subset(g3, g2) and subset(g2, g1)
    g1.set_masks(M([0x45]), M([0x47]), Mask.empty())
    assert cfg(g3) == (M([0x45]), M([0x47]), Mask.empty())
    g1.destroy()
    assert g2.destroyed and g3.destroyed and g3.gisa_origin not in m.gisas


def test_a_guest_3_whose_guest_2_has_format_0_cannot_use_format_1():
    env, m, lp, g1, g2 = nested(g2_cpu=CpuFeatures(msax3=False))
    g3 = KVM(env, m, g2, "g3")
    assert g3.crycb_format == 1 and g3.validity.code == 0x0022
    with pytest.raises(ValueError):
        effective_shadow(g1)


ids = st.sets(st.sampled_from([0, 3, 5, 14, 15, 16, 62, 63, 64, 0x80, 0xC8, 0xFF]), max_size=6)
mask3 = st.tuples(ids, ids, ids)


@given(apxa=st.booleans(), msax3_1=st.booleans(), msax3_2=st.booleans(), m1=mask3, m2=mask3,
       updates=st.lists(mask3, max_size=3))
def test_property_guest_2_never_reaches_an_apqn_guest_1_cannot(apxa, msax3_1, msax3_2, m1, m2,
                                                             updates):
    env, m, lp, g1, g2 = nested(apxa=apxa, g1_cpu=CpuFeatures(msax3=msax3_1),
                                g2_cpu=CpuFeatures(msax3=msax3_2), g1_masks=m1, g2_masks=m2)
    for u in updates:
        assert subset(g2, g1)
        g1.set_masks(*masks(u))
    assert subset(g2, g1)
    if g2.validity is None and g1.crycb_format == g2.crycb_format == 2:
        own = g2.own_masks()
        assert cfg(g2) == tuple(a & b for a, b in zip(own, cfg(g1), strict=True))
    assert g2.shadow is None or g2.shadow.crycbd in (0, 0b11)
