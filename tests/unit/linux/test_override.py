"""The AP bus's ``driver_override`` of queue devices and the mask-ownership rule that goes
with it (apsim.linux.override), per kernel version (≥ 6.19, ap_bus.c and ap_queue.c)."""

from __future__ import annotations

import errno

import pytest

from apsim.errors import SysfsError
from apsim.kernel import KernelProfile
from apsim.linux import override
from apsim.masks import Mask
from tests.unit.linux_support import BUS, UUID1, assign, create_mdev, doc_host, driver_of

OLD = KernelProfile((6, 12))
Q = "/sys/devices/ap/card05/05.0004"


def test_driver_override_is_refused_while_apmask_is_not_all_ones():
    """ap_queue.c driver_override_store: EINVAL while ap_apmask_aqmask_in_use."""
    env, m, lp, host = doc_host()
    host.echo("-5", f"{BUS}/apmask")
    with pytest.raises(SysfsError) as e:
        host.echo("vfio_ap", f"{Q}/driver_override")
    assert e.value.errno == errno.EINVAL


def test_apmask_writes_are_refused_while_a_queue_has_a_driver_override():
    """ap_bus.c apmask_store/aqmask_store: EINVAL while ap_driver_override_ctr is non-zero;
    clearing the override (an empty line) lets mask writes through again."""
    env, m, lp, host = doc_host()
    host.echo("vfio_ap", f"{Q}/driver_override")
    assert host.read(f"{Q}/driver_override") == "vfio_ap\n"
    for mask in ("apmask", "aqmask"):
        with pytest.raises(SysfsError) as e:
            host.echo("-6", f"{BUS}/{mask}")
        assert e.value.errno == errno.EINVAL
    host.echo("", f"{Q}/driver_override")
    assert host.read(f"{Q}/driver_override") == "\n"
    host.echo("-6", f"{BUS}/apmask")


def test_an_override_binds_the_queue_to_the_named_driver_only_after_unbind_and_bind():
    """ap_bus.c ap_device_probe: a queue with an override probes only with that driver;
    ap_owned_by_def_drv: such a queue bound to vfio_ap is not the host's."""
    env, m, lp, host = doc_host()
    host.echo("vfio_ap", f"{Q}/driver_override")
    assert driver_of(host, "05.0004") == "cex4queue"  # the override alone does not rebind
    host.echo("05.0004", f"{BUS}/drivers/cex4queue/unbind")
    with pytest.raises(SysfsError) as e:
        host.echo("05.0004", f"{BUS}/drivers/cex4queue/bind")
    assert e.value.errno == errno.ENODEV
    host.echo("05.0004", f"{BUS}/drivers/vfio_ap/bind")
    assert driver_of(host, "05.0004") == "vfio_ap"
    assert not host.bus.owned_by_default(5, 4) and host.bus.owned_by_default(5, 0x47)


def test_before_6_19_queues_have_no_driver_override_attribute():
    env, m, lp, host = doc_host(kernel=OLD)
    assert not host.sysfs.exists(f"{Q}/driver_override")


@pytest.mark.parametrize("kernel, errno_", [(KernelProfile(), errno.EBUSY), (OLD, 0)])
def test_the_apmask_ebusy_check_uses_an_all_ones_aqm_from_6_19(kernel, errno_):
    """ap_bus.c __verify_card_reservations: ≥ 6.19 asks in_use(reserved, all ones); before,
    in_use(reserved, current aqmask). An mdev holding 05.0047 while aqmask excludes 0x47:
    taking adapter 5 back is EBUSY only on 6.19."""
    env, m, lp, host = doc_host(kernel=kernel)
    host.echo("-5", f"{BUS}/apmask")
    host.echo("-0x47", f"{BUS}/aqmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5], domains=[0x47])
    if errno_:
        with pytest.raises(SysfsError) as e:
            host.echo("+5", f"{BUS}/apmask")
        assert e.value.errno == errno_
    else:
        host.echo("+5", f"{BUS}/apmask")
        assert 5 in host.bus.apmask


def test_an_override_keeps_the_first_line_and_an_empty_one_clears_it():
    env, m, lp, host = doc_host()
    host.write(f"{Q}/driver_override", "vfio_ap\nrest")
    assert host.read(f"{Q}/driver_override") == "vfio_ap\n" and override.override_count(host.bus) == 1
    host.write(f"{Q}/driver_override", "\n")
    assert host.read(f"{Q}/driver_override") == "\n" and override.override_count(host.bus) == 0


def test_an_override_of_a_page_or_more_is_einval():
    env, m, lp, host = doc_host()
    with pytest.raises(SysfsError) as e:
        host.write(f"{Q}/driver_override", "x" * override.PAGE_SIZE)
    assert e.value.errno == errno.EINVAL
    host.write(f"{Q}/driver_override", "x" * (override.PAGE_SIZE - 1))


@pytest.mark.parametrize("kernel, which, want_other", [
    (KernelProfile(), "apmask", "full"), (KernelProfile(), "aqmask", "full"),
    (OLD, "apmask", "aqmask"), (OLD, "aqmask", "apmask")])
def test_reservations_are_checked_against_all_ones_from_6_19_else_the_current_opposite_mask(
        kernel, which, want_other):
    env, m, lp, host = doc_host(kernel=kernel)
    host.echo("-0x47", f"{BUS}/aqmask")
    host.echo("-6", f"{BUS}/apmask")
    reserved = Mask.from_ids([5])
    apm, aqm = override.reservation_masks(host.bus, which, reserved)
    other = Mask.full() if want_other == "full" else getattr(host.bus, want_other)
    assert (apm, aqm) == ((reserved, other) if which == "apmask" else (other, reserved))
