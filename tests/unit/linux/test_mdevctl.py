"""mdevctl on a Linux host (apsim.linux.mdevctl): starting a definition creates the mdev and
writes its attributes in order (removing it again when one fails), stopping removes it, and
boot starts the ``auto`` definitions in their order."""

from __future__ import annotations

import pytest

from apsim.linux.mdevctl import Definition, Mdevctl, MdevctlError
from tests.unit.linux_support import BUS, MATRIX, UUID1, UUID2, UUID3, doc_host

ATTRS = (("assign_adapter", "5"), ("assign_domain", "4"), ("assign_control_domain", "4"))


def _mdevctl(*defs: Definition) -> Mdevctl:
    env, m, lp, host = doc_host()
    host.echo("-5,-6", f"{BUS}/apmask")
    ctl = Mdevctl(host)
    for d in defs:
        ctl.define(d)
    return ctl


def _reasons(fn, *a) -> MdevctlError:  # noqa: ANN001, ANN002
    with pytest.raises(MdevctlError) as e:
        fn(*a)
    return e.value


def test_start_creates_the_mdev_and_writes_its_attributes_in_order():
    ctl = _mdevctl(Definition(UUID1, "manual", ATTRS))
    ctl.start(UUID1)
    assert ctl.host.read(f"{MATRIX}/{UUID1}/matrix") == "05.0004\n"
    assert ctl.host.read(f"{MATRIX}/{UUID1}/control_domains") == "0004\n"
    assert list(ctl.active()) == [UUID1]


def test_starting_an_undefined_or_running_device_is_refused():
    ctl = _mdevctl(Definition(UUID1, "manual", ATTRS))
    assert _reasons(ctl.start, UUID2).reasons == ["device is not defined"]
    ctl.start(UUID1)
    assert _reasons(ctl.start, UUID1).reasons == ["Device already exists"]


def test_the_ap_check_callout_refuses_a_start_that_would_share_an_apqn():
    ctl = _mdevctl(Definition(UUID1, "manual", ATTRS), Definition(UUID2, "manual", ATTRS))
    ctl.start(UUID1)
    e = _reasons(ctl.start, UUID2)
    assert e.reasons == [f"APQN 5.4 already in use by {UUID1}"] and e.errno_name is None
    assert UUID2 not in ctl.active()  # refused before anything was written


def test_a_failing_attribute_write_removes_the_half_configured_device_and_reports_the_errno():
    bad = Definition(UUID1, "manual", (("assign_adapter", "5"), ("assign_domain", "300")))
    ctl = _mdevctl(bad)
    e = _reasons(ctl.start, UUID1)
    assert e.errno_name == "ENODEV" and e.reasons[-1] == "removing device"
    assert "Failed to write '300' to attribute assign_domain" in e.reasons[0]
    assert UUID1 not in ctl.active() and not ctl.host.sysfs.exists(f"{MATRIX}/{UUID1}")


def test_stop_removes_a_running_device_and_refuses_one_that_is_not():
    ctl = _mdevctl(Definition(UUID1, "manual", ATTRS))
    assert _reasons(ctl.stop, UUID1).reasons == ["device is not active"]
    ctl.start(UUID1)
    ctl.stop(UUID1)
    assert ctl.active() == {}


def test_boot_starts_every_auto_definition_in_order_and_reports_each_outcome():
    ctl = _mdevctl(Definition(UUID3, "auto", ATTRS), Definition(UUID1, "manual", ATTRS),
                   Definition(UUID2, "auto", ATTRS))
    out = ctl.boot()
    assert [u for u, _ in out] == [UUID3, UUID2]
    assert out[0][1] is None and isinstance(out[1][1], MdevctlError)  # 05.0004 is UUID3's now
    assert list(ctl.active()) == [UUID3]


def test_a_definition_autostarts_only_when_its_start_is_auto():
    assert Definition(UUID1).autostart and not Definition(UUID1, "manual").autostart
    assert str(MdevctlError(UUID1, ["a", "b"])) == f"mdevctl: {UUID1}: a; b"
