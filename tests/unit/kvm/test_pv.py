"""apsim.kvm.pv: where a Secure Execution guest can run and whether it has AP."""

from __future__ import annotations

import pytest

from apsim.engine.core import new_env
from apsim.errors import ConfigError
from apsim.hw.machine import Machine
from apsim.kvm import KVM, KvmOptions, pv


def _keys(found):  # noqa: ANN001, ANN202
    return [k for k, _ in found]


def test_a_normal_guest_has_no_problem_anywhere():
    assert pv.problems("g", "z13", secure=False, parent="p", ap_device=True, hosts_guests=True) == []


def test_secure_needs_the_unpack_facility_of_a_z15_or_later():
    assert _keys(pv.problems("g", "z14", secure=True)) == ["secure"]
    assert pv.NO_UNPACK in pv.problems("g", "z13", secure=True)[0][1]
    assert pv.problems("g", "z15", secure=True) == []


def test_secure_guest_with_an_ap_device_needs_a_z16_or_later():
    assert _keys(pv.problems("g", "z15", secure=True, ap_device=True)) == ["mdev"]
    assert pv.problems("g", "z16", secure=True, ap_device=True) == []
    assert pv.problems("g", "z17", secure=True, ap_device=True) == []


def test_secure_guest_cannot_be_nested_nor_host_guests():
    assert _keys(pv.problems("g", "z16", secure=True, parent="g1")) == ["secure"]
    assert _keys(pv.problems("g", "z16", secure=True, hosts_guests=True)) == ["guests"]
    assert _keys(pv.problems("g2", "z16", secure=False, parent="g1", parent_secure=True)) == ["name"]


def test_ap_allowed_only_with_the_ultravisors_ap_feature():
    env = new_env()
    assert pv.ap_allowed(Machine(env, model="z15"), False)
    assert not pv.ap_allowed(Machine(env, model="z15"), True)
    assert pv.ap_allowed(Machine(env, model="z16"), True)


def test_kvm_secure_configuration_has_apsb_and_is_marked_secure():
    env = new_env()
    m = Machine(env, model="z16")
    lp = m.add_lpar("l", adapters=[], usage_domains=[], control_domains=[])
    k = KVM(env, m, lp.config, "se", options=KvmOptions(secure=True))
    assert k.config.secure and k.config.facilities.apsb
    plain = KVM(env, m, lp.config, "plain")
    assert not plain.config.secure and not plain.config.facilities.apsb


def test_kvm_refuses_a_secure_guest_on_a_z14():
    env = new_env()
    m = Machine(env, model="z14")
    lp = m.add_lpar("l", adapters=[], usage_domains=[], control_domains=[])
    with pytest.raises(ConfigError, match="does not support Protected Virtualization"):
        KVM(env, m, lp.config, "se", options=KvmOptions(secure=True))
