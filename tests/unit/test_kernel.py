"""Kernel version profiles (apsim.kernel): the newest mainline by default, older releases
and named fixes on request, and the release each version-dependent behaviour starts in."""

from __future__ import annotations

import pytest

from apsim.kernel import FIXES, NEWEST, OLDEST, KernelProfile, check_fixes, parse_major_minor, parse_version


def test_the_default_profile_is_the_newest_mainline_without_fixes():
    k = KernelProfile()
    assert k.version == NEWEST == (6, 19) and not k.fixes and k.name == "6.19"
    assert all(not k.fixed(name) for name in FIXES)


@pytest.mark.parametrize("text, rule", [("6", "MAJOR.MINOR"), ("6.x", "MAJOR.MINOR"),
                                        ("5.4", "outside"), ("7.0", "outside")])
def test_a_version_outside_the_modelled_range_or_malformed_is_refused(text, rule):
    with pytest.raises(ValueError, match=rule):
        parse_version(text)


def test_an_unknown_fix_name_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="known: "):
        KernelProfile.of("6.19", ["no-such-fix"])


def test_versions_read_major_minor_and_ignore_a_patch_level():
    assert parse_version("6.12") == parse_version(" 6.12.7 ") == (6, 12)
    assert parse_version("5.15") == OLDEST == (5, 15)
    assert parse_major_minor("9.2", "QEMU", "9.2", (7, 0), (9, 2), "7.0..9.2") == (9, 2)
    with pytest.raises(ValueError, match="QEMU version '6.2' is outside 7.0..9.2"):
        parse_major_minor("6.2", "QEMU", "9.2", (7, 0), (9, 2), "7.0..9.2")


def test_a_profile_names_its_release_and_its_fixes():
    k = KernelProfile.of("6.12", ["unplug-push-empty", "aqic-hook-shadow"])
    assert k.version == (6, 12) and k.name == "6.12+aqic-hook-shadow,unplug-push-empty"
    assert k.fixed("aqic-hook-shadow") and not k.fixed("hook-after-eperm")
    assert KernelProfile.of().version == NEWEST
    assert KernelProfile.all_fixed().fixes == frozenset(FIXES)
    assert check_fixes(()) == frozenset()


def test_asking_for_a_fix_that_does_not_exist_is_a_programming_error():
    with pytest.raises(KeyError):
        KernelProfile().fixed("no-such-fix")


@pytest.mark.parametrize("rule, first", [("device_request_irq", (6, 5)), ("gisc_failure_unpins", (6, 8)),
                                         ("new_sharing_messages", (6, 15)),
                                         ("config_change_eventfd", (6, 15)), ("driver_override", (6, 19))])
def test_each_behaviour_starts_in_its_release(rule, first):
    before = (first[0], first[1] - 1)
    assert getattr(KernelProfile(first), rule) and getattr(KernelProfile(NEWEST), rule)
    assert not getattr(KernelProfile(before), rule) and not getattr(KernelProfile(OLDEST), rule)


def test_do_remove_accumulates_across_mdevs_only_before_6_18():
    assert KernelProfile((6, 17)).cfg_remove_accumulates
    assert not KernelProfile((6, 18)).cfg_remove_accumulates
