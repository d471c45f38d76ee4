"""Mainline's oddities of reference §15 items 16-18 and 22 (items 19 and 21 are in
test_ops_aqic_hook.py) are the default; the profile's named fixes
(``apsim.kernel.FIXES``) switch them off, item 18 follows the kernel version."""

from __future__ import annotations

import re

import pytest

from apsim.kernel import FIXES, KernelProfile
from apsim.linux.vfio_ap import ops
from tests.unit.linux_support import (
    BUS,
    CEX5A,
    CEX5C,
    MS,
    UUID1,
    UUID2,
    FakeKVM,
    assign,
    create_mdev,
    doc_host,
    run,
)


MAINLINE = KernelProfile()
FIXED = KernelProfile.all_fixed()


def guest(kernel, adapters=(5,), domains=(4,), cdoms=(), **kw):  # noqa: ANN001, ANN003, ANN201
    env, m, lp, host = doc_host(kernel=kernel, **kw)
    host.echo("-5,-6,-7", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=adapters, domains=domains, control_domains=cdoms)
    k = FakeKVM(m, lp)
    host.open_device(UUID1, k)
    run(env, 1 * MS)
    return env, m, lp, host, k


def test_every_named_fix_cites_its_reference_item():
    """Items 16, 17, 19, 20, 21, 22 are fixable deviations; 18 is a version difference."""
    items = sorted(int(m) for d in FIXES.values() for m in re.findall(r"item (\d+)", d))
    assert items == [16, 17, 19, 20, 21, 22]


@pytest.mark.parametrize("kernel, adm", [(FIXED, []), (MAINLINE, [4])])
def test_quirk_16_a_control_domain_removed_from_the_host_stays_in_the_guest_in_mainline_unless_fixed(kernel, adm):
    env, m, lp, host, k = guest(kernel, cdoms=(4,))
    assert k.adm == [4]
    m.se_configure(lp, [5, 6], on=False)
    m.se_change_lpar_crypto(lp, remove_control_domains=[4])
    run(env, m.chsc_event_ns + 1)
    assert k.adm == adm


@pytest.mark.parametrize("kernel, apm", [(FIXED, []), (MAINLINE, [5])])
def test_quirk_17_removing_the_guests_last_adapter_leaves_it_in_the_crycb_in_mainline_unless_fixed(kernel, apm):
    env, m, lp, host, k = guest(kernel)
    m.se_configure(lp, [5, 6], on=False)
    m.se_change_lpar_crypto(lp, remove_adapters=[5])
    run(env, m.chsc_event_ns + 1)
    assert k.apm == apm
    assert host.vfio.mdev(UUID1).shadow.apm.ids() == []  # the shadow is right either way


@pytest.mark.parametrize("kernel, calls", [(MAINLINE, 1), (KernelProfile((6, 17)), 2)])
def test_quirk_18_the_removal_flag_carries_over_to_later_mdevs_before_6_18(kernel, calls):
    env, m, lp, host = doc_host(kernel=kernel)
    host.echo("-5,-6", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    create_mdev(host, UUID2)  # newest first: UUID2 is examined before UUID1
    assign(host, UUID1, adapters=[5], domains=[4])
    assign(host, UUID2, adapters=[6], domains=[4])
    m.se_configure(lp, [5, 6], on=False)
    m.se_change_lpar_crypto(lp, remove_adapters=[6])
    run(env, m.chsc_event_ns + 1)
    assert host.vfio.stats["cfg_unplug_calls"] == calls


@pytest.mark.parametrize("kernel, probed", [(FIXED, [4, 0x47, 0xAB, 0xFF]), (MAINLINE, [])])
def test_quirk_22_a_new_adapter_is_type_checked_on_new_domains_in_mainline_unless_fixed(kernel, probed, monkeypatch):
    env, m, lp, host = doc_host({5: CEX5C, 6: CEX5A, 7: CEX5C}, lpar_adapters=[5, 6], kernel=kernel)
    host.echo("-7", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[7], domains=[4])
    seen: list[list[int]] = []
    real = ops._filter_apid_by_qtype

    def spy(vfio, apm, aqm):  # noqa: ANN001, ANN202
        seen.append(aqm.ids())
        return real(vfio, apm, aqm)
    monkeypatch.setattr(ops, "_filter_apid_by_qtype", spy)
    m.se_configure(lp, [5, 6], on=False)
    m.se_change_lpar_crypto(lp, add_adapters=[7])
    run(env, m.chsc_event_ns + 1)
    assert seen == [probed]
    assert host.read(f"/sys/devices/vfio_ap/matrix/{UUID1}/guest_matrix") == "07.0004\n"
