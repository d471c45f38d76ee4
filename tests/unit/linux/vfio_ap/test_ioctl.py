"""apsim.linux.vfio_ap.ioctl: vfio_ap_mdev_ioctl's handlers and the eventfds they keep
(drivers/s390/crypto/vfio_ap_ops.c, include/uapi/linux/vfio.h)."""

from __future__ import annotations

import errno

import pytest

from apsim.errors import SysfsError
from apsim.kernel import KernelProfile
from apsim.linux.vfio_ap import ioctl
from tests.unit.linux_support import BUS, UUID1, FakeKVM, assign, create_mdev, doc_host

TRIGGER_EVENTFD = ioctl.VFIO_IRQ_SET_DATA_EVENTFD | ioctl.VFIO_IRQ_SET_ACTION_TRIGGER


def open_mdev(kernel: str = "6.19"):  # noqa: ANN201
    env, m, lp, host = doc_host(kernel=KernelProfile.of(kernel))
    host.echo("-5", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5], domains=[4])
    host.open_device(UUID1, FakeKVM(m, lp))
    return host, host.vfio.mdev(UUID1)


def errno_of(call) -> int:  # noqa: ANN001
    with pytest.raises(SysfsError) as e:
        call()
    return e.value.errno


def test_the_request_numbers_are_the_uapi_headers():
    """_IO(VFIO_TYPE ';', VFIO_BASE 100 + n): GET_INFO 7 .. RESET 11."""
    assert (ioctl.VFIO_DEVICE_GET_INFO, ioctl.VFIO_DEVICE_GET_IRQ_INFO, ioctl.VFIO_DEVICE_SET_IRQS,
            ioctl.VFIO_DEVICE_RESET) == (0x3B6B, 0x3B6D, 0x3B6E, 0x3B6F)


def test_an_ioctl_needs_an_open_file():
    """The ioctl goes through the device file: none open, EBADF."""
    host, m = open_mdev()
    host.close_device(UUID1)
    assert errno_of(lambda: host.device_ioctl(UUID1, ioctl.VFIO_DEVICE_GET_INFO)) == errno.EBADF


def test_a_registered_request_eventfd_is_signalled_on_removal_and_replaced_or_dropped_by_set_irqs():
    """vfio_ap_set_request_irq keeps the newest eventfd (fd -1 drops it);
    vfio_ap_mdev_request signals it with count 0 on the removal."""
    host, m = open_mdev()
    first, second = ioctl.EventFd(), ioctl.EventFd()
    for fd in (first, second):
        host.device_ioctl(UUID1, ioctl.VFIO_DEVICE_SET_IRQS, index=0, flags=TRIGGER_EVENTFD, fd=fd)
    assert m.req_trigger is second
    host.vfio.remove_mdev(m)
    assert (first.signals, second.signals) == (0, 1)
    host.device_ioctl(UUID1, ioctl.VFIO_DEVICE_SET_IRQS, index=0, flags=TRIGGER_EVENTFD, fd=-1)
    assert m.req_trigger is None


def test_the_config_change_eventfd_is_signalled_on_every_apcb_push():
    """signal_guest_ap_cfg_changed after vfio_ap_mdev_update_guest_apcb (≥ 6.15, index 1)."""
    host, m = open_mdev()
    fd = ioctl.EventFd()
    host.device_ioctl(UUID1, ioctl.VFIO_DEVICE_SET_IRQS, index=1, flags=TRIGGER_EVENTFD, fd=fd)
    host.echo("0x4", f"{m.path}/assign_control_domain")
    assert fd.signals == 1


@pytest.mark.parametrize("kernel, n", [("6.19", 2), ("6.14", 1), ("6.5", 1), ("6.4", 0)])
def test_num_irqs_follows_the_kernel(kernel, n):
    """VFIO_AP_NUM_IRQS: the request IRQ from 6.5, the config-change IRQ from 6.15."""
    host, m = open_mdev(kernel)
    assert ioctl.num_irqs(host.vfio) == n
    assert ioctl.handled(host.vfio, ioctl.VFIO_DEVICE_SET_IRQS) == (n > 0)


def test_set_irqs_rejects_a_closed_fd_and_a_file_that_is_no_eventfd():
    """eventfd_ctx_fdget: no file → EBADF, not an eventfd → EINVAL; nothing changes."""
    host, m = open_mdev()
    for bad, want in ((ioctl.BadFd(errno.EBADF), errno.EBADF), (ioctl.BadFd(errno.EINVAL), errno.EINVAL)):
        assert errno_of(lambda bad=bad: ioctl.set_irqs(host.vfio, m, flags=TRIGGER_EVENTFD, index=0,
                                                       fd=bad)) == want
    assert m.req_trigger is None
