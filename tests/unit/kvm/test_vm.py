"""KVM's mask update (reference §8) while many vCPUs issue AP instructions.

Eight vCPUs issue TAPQs every few microseconds (scheduled with ``call_at`` and
gated by ``KVM.call_when_ready``) while vfio_ap-style updates plug an adapter and a
domain, then unplug an adapter. Every instruction records the configuration
generation and the masks it was interpreted against; each must be exactly the old
or the new APCB of an update, never a mix, and none may run inside a window in
which KVM holds the vCPUs out of SIE.
"""

from __future__ import annotations

import pytest

from apsim.engine.core import call_at
from apsim.engine.codes import RC
from apsim.hw.timing import get_profile
from apsim.ids import apqn
from apsim.kvm import KVM, CpuFeatures, SieExecutor, VcpuBlocked
from apsim.masks import Mask
from apsim.units import US
from tests.conftest import build_machine

M = Mask.from_ids
A = (M([5]), M([4, 0x47]), M([4]))
B = (M([5, 6]), M([4, 0x47, 0xAB]), M([4, 0x47]))  # plug adapter 6, domain 0xab
C = (M([6]), M([4, 0x47, 0xAB]), M([4, 0x47]))  # unplug adapter 5
PER_VCPU = 7 * US
VCPUS = 8
PROBES = (apqn(5, 4), apqn(6, 0xAB), apqn(5, 0x47), apqn(6, 4))


def setup(vcpus: int = VCPUS, cpu: CpuFeatures | None = None):  # noqa: ANN201
    profile = get_profile("default").with_overrides({"mask_update_per_vcpu_ns": PER_VCPU})
    env, m, lp = build_machine(profile=profile)
    kvm = KVM(env, m, lp.config, "g", vcpus=vcpus, cpu=cpu)
    return env, m, lp, kvm


def test_no_instruction_sees_a_half_updated_apcb_or_runs_while_vcpus_are_blocked():
    env, m, lp, kvm = setup()
    kvm.set_masks(*A)
    cpus = [SieExecutor(kvm, v, strict=True) for v in range(VCPUS)]
    records: list[dict] = []
    notified: list[tuple[int, tuple, bool]] = []
    kvm.mask_listeners.append(lambda k: notified.append(
        (env.now, (k.config.apm, k.config.aqm, k.config.adm), k.blocked())))

    def execute(vcpu: int, k: int, t_issue: int) -> None:
        cfg = kvm.config
        seen = (cfg.generation, cfg.apm, cfg.aqm, cfg.adm)
        q = PROBES[(vcpu + k) % len(PROBES)]
        r = cpus[vcpu].tapq(q)
        after = (cfg.generation, cfg.apm, cfg.aqm, cfg.adm)
        records.append(dict(t=env.now, t_issue=t_issue, vcpu=vcpu, gen=seen[0], masks=seen[1:],
                            q=q, rc=r.rc, after=after))

    def issue(ev) -> None:  # noqa: ANN001
        vcpu, k = ev.value
        kvm.call_when_ready(execute, vcpu, k, env.now)

    n_per_vcpu = 64
    for vcpu in range(VCPUS):
        for k in range(n_per_vcpu):
            call_at(env, k * 7_000 + vcpu * 1_300, issue, (vcpu, k))
    call_at(env, 100 * US, lambda ev: kvm.set_masks(*B))
    call_at(env, 300 * US, lambda ev: kvm.set_masks(*C))
    env.run()

    # Nothing was lost: instructions issued while blocked ran later.
    assert len(records) == VCPUS * n_per_vcpu
    assert all(c.ran_while_blocked == 0 for c in cpus)
    # Each instruction saw one complete APCB, the same before and after it ran.
    assert {r["masks"] for r in records} == {A, B, C}
    assert all(r["after"] == (r["gen"], *r["masks"]) for r in records)
    by_gen: dict[int, tuple] = {}
    for r in records:
        assert by_gen.setdefault(r["gen"], r["masks"]) == r["masks"]
    # Two blocked windows of vcpus × per-vCPU cost, at the update times.
    w = VCPUS * PER_VCPU
    assert kvm.blocked_windows == [(0, w), (100 * US, 100 * US + w), (300 * US, 300 * US + w)]
    for r in records:
        for start, end in kvm.blocked_windows:
            assert not start <= r["t"] < end, r
            if start <= r["t_issue"] < end:
                assert r["t"] == end, "an instruction issued while blocked runs when released"
    delayed = [r for r in records if r["t"] != r["t_issue"]]
    assert delayed and all(r["t_issue"] < r["t"] for r in delayed)
    # Old masks strictly before an update, new masks strictly after it.
    for r in records:
        expect = A if r["t"] < 100 * US else B if r["t"] < 300 * US else C
        assert r["masks"] == expect
        allowed = r["masks"][0].test(r["q"] >> 8) and r["masks"][1].test(r["q"] & 0xFF)
        assert r["rc"] == (0 if allowed else RC.Q_NOT_AVAIL)
    # History and listeners: after the swap, with the vCPUs still held.
    assert kvm.mask_history == [(0, *A), (100 * US, *B), (300 * US, *C)]
    assert notified == [(100 * US, B, True), (300 * US, C, True)]


def test_each_update_is_exactly_one_configuration_swap():
    env, m, lp, kvm = setup()
    g = kvm.config.generation
    kvm.set_masks(*B)
    kvm.clear_masks()
    kvm.set_masks(*C)
    assert kvm.config.generation == g + 3
    assert [h[1:] for h in kvm.mask_history] == [B, (Mask.empty(),) * 3, C]


def test_back_to_back_updates_chain_their_blocked_windows():
    env, m, lp, kvm = setup(vcpus=3)
    kvm.set_masks(*A)
    kvm.set_masks(*B)
    w = 3 * PER_VCPU
    assert kvm.blocked_windows == [(0, w), (w, 2 * w)]
    assert kvm.ready_at(0) == 2 * w and kvm.ready_at(5 * w) == 5 * w


def test_a_second_update_while_waiting_keeps_the_instruction_waiting():
    env, m, lp, kvm = setup(vcpus=2)
    ran = []
    kvm.set_masks(*A)  # blocked until 14 us
    kvm.call_when_ready(lambda: ran.append(env.now))
    call_at(env, 13 * US, lambda ev: kvm.set_masks(*B))  # extends to 28 us
    env.run()
    assert ran == [28 * US]


def test_clear_masks_blocks_like_set_masks():
    env, m, lp, kvm = setup(vcpus=4)
    kvm.set_masks(*A)
    env.run(until=kvm.ready_at())
    t = env.now
    kvm.clear_masks()
    assert kvm.blocked_until == t + 4 * PER_VCPU and not kvm.config.table.any()


def test_strict_executor_refuses_while_blocked_and_a_lenient_one_sees_the_new_masks():
    env, m, lp, kvm = setup()
    kvm.set_masks(*B)
    with pytest.raises(VcpuBlocked):
        SieExecutor(kvm, strict=True).tapq(apqn(6, 0xAB))
    lenient = SieExecutor(kvm)
    assert lenient.tapq(apqn(6, 0xAB)).rc == 0 and lenient.ran_while_blocked == 1
    env.run(until=kvm.ready_at())
    assert SieExecutor(kvm, strict=True).tapq(apqn(6, 0xAB)).rc == 0


def test_format_0_guest_history_holds_the_masks_as_the_guest_sees_them():
    env, m, lp, kvm = setup(cpu=CpuFeatures(msax3=False))
    kvm.set_masks(M([5, 64]), M([4, 16, 0x47]), M([4, 0xFF]))
    assert kvm.mask_history[-1][1:] == (M([5]), M([4]), M([4]))


def test_zero_cost_profile_means_no_blocked_window():
    profile = get_profile("default").with_overrides({"mask_update_per_vcpu_ns": 0})
    env, m, lp = build_machine(profile=profile)
    kvm = KVM(env, m, lp.config, "g", vcpus=16)
    kvm.set_masks(*A)
    assert kvm.blocked_windows == [] and not kvm.blocked()
