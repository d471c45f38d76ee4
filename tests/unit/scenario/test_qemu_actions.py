"""The QEMU monitor timeline handlers (apsim.scenario.qemu_actions): each command goes to
the guest, a refusal is the outcome with QEMU's (or vfio_ap's errno) text, and the
expectation compares ``ok`` or ``refused``."""

from __future__ import annotations

import errno
from types import SimpleNamespace

from apsim.engine.recorder import TimelineEntry
from apsim.errors import SysfsError
from apsim.guest.qemu import QemuError
from apsim.scenario.qemu_actions import do_qemu


class _Guest:
    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.calls: list = []

    def _call(self, *what) -> None:  # noqa: ANN002
        self.calls.append(what)
        if self.fail is not None:
            raise self.fail

    def device_add(self, mdev: str, dev_id: str) -> None:
        self._call("add", mdev, dev_id)

    def device_del(self, dev_id: str) -> None:
        self._call("del", dev_id)

    def check_migratable(self) -> None:
        self._call("migrate")


def _run(do: str, guest: _Guest, expect: str | None = None) -> TimelineEntry:
    e = TimelineEntry(0, do, {})
    do_qemu(SimpleNamespace(guests={"g": guest}), SimpleNamespace(do=do, guest="g", mdev="u1", id="ap0",
                                                                 expect=expect), e)
    return e


def test_each_command_reaches_the_guests_vmm():
    g = _Guest()
    for do in ("qemu.device_add", "qemu.device_del", "qemu.migrate"):
        assert _run(do, g, expect="ok").passed
    assert g.calls == [("add", "u1", "ap0"), ("del", "ap0"), ("migrate",)]


def test_a_qemu_refusal_is_the_outcome_with_qemus_text():
    e = _run("qemu.migrate", _Guest(QemuError("vfio-ap: migration is not supported")), expect="refused")
    assert e.outcome == "refused" and e.detail == "vfio-ap: migration is not supported" and e.passed


def test_a_vfio_ap_refusal_is_its_errno_name():
    e = _run("qemu.device_add", _Guest(SysfsError(errno.EPERM, "/dev/vfio/x", "one mdev per KVM")),
             expect="ok")
    assert e.outcome == "EPERM" and e.passed is False and e.actual == "refused"


def test_without_an_expectation_nothing_is_compared():
    e = _run("qemu.device_del", _Guest())
    assert e.passed is None and e.outcome == "ok"
