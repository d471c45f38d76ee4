"""s390-tools ap-check's rules for mdevctl define and start, with its messages."""

from __future__ import annotations

from apsim.linux.apcheck import (APCheckDevice, check_define, check_start, device_from_attrs,
                                 parse_matrix_text)
from apsim.masks import Mask


def dev(a, d, c=()):
    return APCheckDevice(frozenset(a), frozenset(d), frozenset(c))


NONE = (Mask.empty(), Mask.empty())


def test_autostart_definition_sharing_an_apqn_with_another_is_refused_per_apqn_in_decimal():
    out = check_define(dev([5, 6], [171]), autostart=True,
                       other_autostart={"u2": dev([5, 6], [171, 4])}, persistent_masks=NONE)
    assert out == ["APQN 5.171 is defined for autostart by u2", "APQN 6.171 is defined for autostart by u2"]


def test_manual_definitions_are_not_checked():
    assert check_define(dev([5], [4]), autostart=False, other_autostart={"u2": dev([5], [4])},
                        persistent_masks=(Mask.full(), Mask.full())) == []


def test_autostart_definition_inside_the_persistent_masks_is_refused():
    out = check_define(dev([5], [4]), autostart=True, other_autostart={},
                       persistent_masks=(Mask.from_ids([5]), Mask.from_ids([4])))
    assert out == ["AQPN 5.4 is not defined for vfio_ap-passthrough use by the persistent ap bus "
                   "mask settings"]


def test_start_refuses_control_domains_without_usage_domains():
    assert check_start(dev([5], [], [4]), active={}, active_masks=NONE) == [
        "At least one usage domain must be specified"]


def test_start_refuses_apqns_of_active_mdevs_and_of_the_active_masks():
    out = check_start(dev([5], [4, 7]), active={"u1": dev([5], [7])},
                      active_masks=(Mask.from_ids([5]), Mask.from_ids([4])))
    assert out == ["APQN 5.7 already in use by u1",
                   "AQPN 5.4 is not allowed for vfio_ap-passthrough use by the active ap bus mask settings"]


def test_attrs_are_read_with_strtol_base_0_and_comma_lists_like_libap():
    d = device_from_attrs([("assign_adapter", "0x05,012"), ("assign_domain", "4"),
                           ("assign_control_domain", "0xab")])
    assert d == dev([5, 10], [4], [171])


def test_ap_config_replaces_all_three_lists():
    apm = Mask.from_ids([1]).sysfs()
    aqm = Mask.from_ids([2]).sysfs()
    adm = Mask.from_ids([3]).sysfs()
    d = device_from_attrs([("assign_adapter", "9"), ("ap_config", f"{apm},{aqm},{adm}")])
    assert d == dev([1], [2], [3])


def test_matrix_text_of_an_active_mdev_is_read_as_hex():
    assert parse_matrix_text("05.0004\n05.00ab\n") == dev([5], [4, 171])
