"""The ``fault.inject`` handler (apsim.scenario.fault_actions): the action's operands become
a Fault armed in the machine's table now; the entry says what and where; ``at: 0`` faults
are armed at setup, before the host boots."""

from __future__ import annotations

from types import SimpleNamespace

from apsim.engine.recorder import TimelineEntry
from apsim.scenario.actions import FaultInject
from apsim.scenario.fault_actions import arm_at_setup, do_fault_inject, is_setup_fault
from tests.conftest import build_machine


def _inject(m, **kw) -> TimelineEntry:  # noqa: ANN001, ANN003
    a = FaultInject(do="fault.inject", **{"at": "1ms", **kw})
    e = TimelineEntry(m.env.now, a.do, a.operands())
    do_fault_inject(SimpleNamespace(machine=m), a, e)
    return e


def test_a_response_fault_is_armed_on_the_covered_queues_for_the_named_instructions():
    env, m, lp = build_machine()
    e = _inject(m, apqns=["05.0004", "06.0004"], instructions=["NQAP"], rc="0x04", count=2)
    f = m.faults.faults[0]
    assert (f.kind, f.code, f.instructions, f.count, f.start) == ("response", 4, frozenset({"NQAP"}), 2, 0)
    assert e.detail == "fault 1: NQAP answer 0x04 CHECKSTOPPED on 2 queues (05.0004, 06.0004) (first 2 times)"
    assert e.outcome == "ok"


def test_a_busy_fault_answers_0x05_to_nqap_and_dqap_by_default_within_its_window():
    env, m, lp = build_machine()
    env.run(until=1_000)
    e = _inject(m, kind="busy", adapters=[7], duration="2ms")
    f = m.faults.faults[0]
    assert (f.code, f.instructions, f.adapters, f.end) == (5, frozenset({"NQAP", "DQAP"}), frozenset({7}),
                                                           1_000 + 2_000_000)
    assert "on 4 queues" in e.detail and "until 2001us" in e.detail


def test_a_fault_that_covers_no_queue_is_the_outcome_no_queue():
    env, m, lp = build_machine()
    e = _inject(m, apqns=["09.0004"], instructions=["TAPQ"], rc="0x04")
    assert e.outcome == "no queue" and "on 0 queues (none)" in e.detail


def test_the_other_kinds_say_what_they_change():
    env, m, lp = build_machine()
    assert _inject(m, kind="sclp", command="configure", response=0x05F0).detail == \
        "fault 1: SCLP configure answers SCCB response 0x05f0"
    e = _inject(m, kind="nib_pin", errno="EFAULT")
    assert m.faults.faults[-1].code < 0 and "vfio_pin_pages fails with -EFAULT" in e.detail
    e = _inject(m, kind="chsc_delay", host=True, delay="5ms")
    assert m.faults.faults[-1].delay_ns == 5_000_000 and "the host's CHSC event arrive 5ms later" in e.detail


def test_faults_at_zero_are_armed_at_setup_with_their_entries():
    env, m, lp = build_machine()
    early = FaultInject(do="fault.inject", at=0, apqns=["05.0004"], instructions=["NQAP"], rc="0x02")
    later = FaultInject(do="fault.inject", at="1ms", apqns=["05.0004"], instructions=["NQAP"], rc="0x02")
    assert is_setup_fault(early) and not is_setup_fault(later)
    entries = arm_at_setup(m, [early, later])
    assert len(entries) == 1 and entries[0].at_ns == 0 and len(m.faults.faults) == 1
