"""The ``vfio.*`` and ``qemu.log`` handlers (apsim.scenario.vfio_actions), on stand-in
guests and hosts: which call reaches the kernel side with which request fields, errnos as
outcomes compared by number, returned fields compared with ``expect``."""

from __future__ import annotations

import errno
from types import SimpleNamespace

from apsim.engine.recorder import TimelineEntry
from apsim.errors import SysfsError
from apsim.linux.vfio_ap import ioctl
from apsim.scenario.vfio_actions import do_qemu_log, do_vfio


class _Host:
    def __init__(self, result=None, fail: int = 0) -> None:  # noqa: ANN001
        self.result, self.fail = result, fail
        self.calls: list = []

    def _maybe_fail(self) -> None:
        if self.fail:
            raise SysfsError(self.fail, "/dev/vfio/0", "refused")

    def open_device(self, uuid: str, kvm: object) -> None:
        self.calls.append(("open", uuid, kvm))
        self._maybe_fail()

    def device_ioctl(self, uuid: str, cmd: int, **args: object) -> object:
        self.calls.append(("ioctl", uuid, cmd, args))
        self._maybe_fail()
        return self.result


def _sim(host: _Host, running: bool = True, mdev: str | None = "u1") -> SimpleNamespace:
    kvm = SimpleNamespace(mdev=mdev)
    g = SimpleNamespace(parent=host, running=running, kvm=kvm,
                        qemu_log=SimpleNamespace(lines=lambda: ["qemu-system-s390x: x", '{"event": "DEVICE_DELETED"}']))
    return SimpleNamespace(guests={"g": g}, host=host)


def _act(do: str, **kw) -> SimpleNamespace:  # noqa: ANN003
    base = {"do": do, "guest": "g", "expect_errno": None, "expect": None, "argsz": None}
    return SimpleNamespace(**{**base, **kw})


def _run(sim, a) -> TimelineEntry:  # noqa: ANN001
    e = TimelineEntry(0, a.do, {})
    do_vfio(sim, a, e)
    return e


def test_open_associates_the_file_with_the_running_guests_kvm_or_with_none():
    host = _Host()
    sim = _sim(host)
    e = _run(sim, _act("vfio.open", mdev="u2"))
    assert e.passed and e.detail == "opened for guest g" and host.calls == [("open", "u2", sim.guests["g"].kvm)]
    e = _run(sim, _act("vfio.open", mdev="u2", guest=None))
    assert host.calls[-1] == ("open", "u2", None) and e.detail == "opened for no KVM"


def test_an_ioctl_goes_to_the_guests_mdev_with_the_requests_fields():
    host = _Host(result={"flags": 0x21, "num_regions": 0, "num_irqs": 2})
    e = _run(_sim(host), _act("vfio.get_info", argsz=16, expect={"flags": 0x21, "num_irqs": 2}))
    assert host.calls == [("ioctl", "u1", ioctl.VFIO_DEVICE_GET_INFO, {"argsz": 16})]
    assert e.passed and e.detail == "flags=0x21, num_regions=0, num_irqs=2"
    _run(_sim(host), _act("vfio.get_irq_info", index=1))
    assert host.calls[-1][2:] == (ioctl.VFIO_DEVICE_GET_IRQ_INFO, {"index": 1})


def test_set_irqs_passes_a_new_eventfd_or_a_bad_file_as_asked():
    host = _Host()
    _run(_sim(host), _act("vfio.set_irqs", index=0, flags=0x24, start=0, count=1, fd="eventfd"))
    assert isinstance(host.calls[-1][3]["fd"], ioctl.EventFd)
    _run(_sim(host), _act("vfio.set_irqs", index=0, flags=0x24, start=0, count=1, fd="closed"))
    assert isinstance(host.calls[-1][3]["fd"], ioctl.BadFd)
    _run(_sim(host), _act("vfio.set_irqs", index=0, flags=0x24, start=0, count=1, fd=-1))
    assert host.calls[-1][3]["fd"] == -1


def test_a_guest_without_an_open_device_file_gets_ebadf():
    host = _Host()
    for sim in (_sim(host, running=False), _sim(host, mdev=None)):
        e = _run(sim, _act("vfio.reset", expect_errno="EBADF"))
        assert e.outcome == "EBADF" and e.passed
    assert host.calls == []


def test_a_refusal_is_its_errno_compared_by_number():
    e = _run(_sim(_Host(fail=errno.EOPNOTSUPP)), _act("vfio.ioctl", cmd=0x3B6C, expect_errno="EOPNOTSUPP"))
    assert getattr(errno, e.outcome) == errno.EOPNOTSUPP and e.passed  # Linux names 95 ENOTSUP
    e = _run(_sim(_Host(fail=errno.EINVAL)), _act("vfio.reset"))
    assert e.passed is False and (e.expected, e.actual) == ("ok", "EINVAL")


def test_qemu_log_matches_the_guests_qemu_lines_in_order():
    e = TimelineEntry(0, "qemu.log", {})
    do_qemu_log(_sim(_Host()), SimpleNamespace(guest="g", expect=["qemu-system", "DEVICE_DELETED"], absent=None), e)
    assert e.passed and e.detail == "2 lines"
