"""The ``kvm.masks`` timeline handler (apsim.scenario.kvm_actions): it reads the guest's
CRYCB masks and KVM's update count and compares only what the expectation names."""

from __future__ import annotations

from types import SimpleNamespace

from apsim.engine.recorder import TimelineEntry
from apsim.scenario.kvm_actions import do_kvm_masks


class _Expect:
    def __init__(self, **want) -> None:  # noqa: ANN003
        self.want = want

    def model_dump(self, exclude_none: bool = False) -> dict:
        return dict(self.want)


_THREE = ((1, "set_masks"), (2, "clear_masks"), (3, "set_masks"))


def _sim(running: bool = True, updates=_THREE):  # noqa: ANN001, ANN202
    kvm = SimpleNamespace(own_masks=lambda: ([5, 6], [4], [4, 0xFF]), mask_updates=list(updates))
    return SimpleNamespace(guests={"g": SimpleNamespace(running=running, kvm=kvm)})


def _run(sim, **want) -> TimelineEntry:  # noqa: ANN001, ANN003
    e = TimelineEntry(0, "kvm.masks", {})
    do_kvm_masks(sim, SimpleNamespace(guest="g", expect=_Expect(**want)), e)
    return e


def test_the_named_masks_and_counts_are_compared_with_what_kvm_wrote_last():
    e = _run(_sim(), apm=[5, 6], updates=3, last="set_masks")
    assert e.passed and e.actual == {"apm": [5, 6], "updates": 3, "last": "set_masks"}
    assert e.detail == "APM [5, 6] AQM [4] ADM [4, 255], 3 updates"


def test_a_mask_that_differs_fails_the_expectation():
    e = _run(_sim(), aqm=[4, 0x47])
    assert e.passed is False and e.actual == {"aqm": [4]}


def test_a_guest_that_never_had_an_update_reports_none_as_the_last_call():
    e = _run(_sim(updates=()), updates=0, last=None)
    assert e.passed and e.actual == {"updates": 0, "last": None}


def test_a_guest_that_is_not_running_is_an_outcome_not_a_crash():
    e = _run(_sim(running=False), apm=[5])
    assert e.outcome == "guest not running" and e.passed is False
    assert e.actual == {"error": "guest not running"}
