"""The AP bus queue state machine (apsim.linux.queue_sm), after ap_queue.c: reset, wait
for the reset at the low poll rate, enable interruptions, settle; errors; the shared timer."""

from __future__ import annotations

from apsim.engine.calendar import pending
from apsim.engine.codes import RC
from apsim.engine.config import Facilities
from apsim.hw.timing import get_profile
from apsim.linux import queue_sm
from apsim.linux.devices import DevState, SMState
from apsim.linux.queue_sm import AIRQ_LSI_ADDR, AP_ISC, POLL_LOW_NS, Wait
from tests.unit.linux_support import MS, doc_host, run

Q = 0x0504


def test_a_probed_queue_is_reset_and_waits_for_the_low_rate_poll():
    env, m, lp, host = doc_host()
    q = host.bus.queues[Q]
    assert q.dev_state == DevState.OPERATING and q.sm_state == SMState.RESET_WAIT
    assert host.bus.poll_armed
    run(env, POLL_LOW_NS - 1)
    assert q.sm_state == SMState.RESET_WAIT


def test_after_the_reset_the_bus_enables_interruptions_with_its_isc_and_indicator_and_settles_idle():
    env, m, lp, host = doc_host()
    run(env, POLL_LOW_NS + 1)
    q, hwq = host.bus.queues[Q], lp.config.lpar.queues[Q]
    assert q.sm_state == SMState.IDLE
    assert (hwq.irq, hwq.isc, hwq.nib) == (True, AP_ISC, AIRQ_LSI_ADDR)


def test_without_interruptions_the_queue_settles_idle_without_aqic():
    env, m, lp, host = doc_host(cmdline="ap.useirq=0")
    assert not host.bus.irq_flag
    run(env, POLL_LOW_NS + 1)
    assert host.bus.queues[Q].sm_state == SMState.IDLE and not lp.config.lpar.queues[Q].irq


def test_without_the_interruption_facility_the_bus_polls_and_never_issues_aqic():
    env, m, lp, host = doc_host(facilities=Facilities(apqi=False))
    run(env, POLL_LOW_NS + 1)
    assert host.bus.queues[Q].sm_state == SMState.IDLE and not lp.config.lpar.queues[Q].irq


def test_a_reset_still_in_progress_at_the_poll_is_polled_again_at_the_low_rate():
    prof = get_profile("default").with_overrides({"reset_ns": 60 * MS})
    env, m, lp, host = doc_host(profile=prof)
    q = host.bus.queues[Q]
    run(env, POLL_LOW_NS + 1)
    assert q.sm_state == SMState.RESET_WAIT and host.bus.poll_armed
    run(env, POLL_LOW_NS)
    assert q.sm_state == SMState.IDLE


def test_a_reset_refused_by_the_hardware_puts_the_device_into_the_error_state():
    env, m, lp, host = doc_host()
    run(env, POLL_LOW_NS + 1)
    q = host.bus.queues[Q]
    m.checkstop(5)  # the device has not seen it yet (no scan): RAPQ answers 0x04
    queue_sm.init_state(host.bus, q)
    assert q.dev_state == DevState.ERROR and q.last_err_rc == RC.CHECKSTOPPED
    assert any("ap_sm_reset RC 0x04" in t for t in host.klog.messages(include_dbf=True))


def test_the_state_machine_leaves_an_uninitiated_or_checkstopped_device_alone():
    env, m, lp, host = doc_host()
    run(env, POLL_LOW_NS + 1)
    q = host.bus.queues[Q]
    q.sm_state = SMState.RESET_START
    touched = lp.config.lpar.queues[Q].touched
    for dev_state, chkstop in ((DevState.UNINITIATED, False), (DevState.OPERATING, True)):
        q.dev_state, q.chkstop = dev_state, chkstop
        assert queue_sm.sm_event(host.bus, q) == Wait.NONE
    assert lp.config.lpar.queues[Q].touched == touched  # no instruction issued


def test_a_settled_queue_has_nothing_to_poll():
    env, m, lp, host = doc_host()
    run(env, POLL_LOW_NS + 1)
    assert queue_sm.sm_event(host.bus, host.bus.queues[Q]) == Wait.NONE


def test_request_error_puts_an_operating_device_into_the_error_state_with_the_code():
    env, m, lp, host = doc_host()
    q = host.bus.queues[Q]
    queue_sm.request_error(host.bus, Q, 0x05, "ap_sm_write")
    assert q.dev_state == DevState.ERROR and q.last_err_rc == 0x05
    assert "ap_sm_write RC 0x05 on 0x05.0004 -> AP_DEV_STATE_ERROR" in host.klog.messages(include_dbf=True)


def test_request_error_ignores_an_uninitiated_device_an_unknown_apqn_and_no_bus():
    env, m, lp, host = doc_host()
    q = host.bus.queues[Q]
    q.dev_state = DevState.UNINITIATED
    queue_sm.request_error(host.bus, Q, 0x05, "ap_sm_read")
    queue_sm.request_error(host.bus, 0x0909, 0x05, "ap_sm_read")
    queue_sm.request_error(None, Q, 0x05, "ap_sm_read")
    assert q.dev_state == DevState.UNINITIATED and q.last_err_rc == 0


def test_the_one_poll_timer_is_armed_once_whatever_asks_for_it():
    env, m, lp, host = doc_host()
    run(env, 2 * POLL_LOW_NS + 1)  # every queue idle: nothing asks for the timer any more
    bus = host.bus
    assert not bus.poll_armed
    queue_sm.ap_wait(bus, Wait.NONE)
    assert not bus.poll_armed
    queue_sm.ap_wait(bus, Wait.AGAIN)  # with interruptions the bus waits for one
    assert not bus.poll_armed
    queue_sm.ap_wait(bus, Wait.LOW_TIMEOUT)
    queue_sm.ap_wait(bus, Wait.HIGH_TIMEOUT)
    timers = [e for e in pending(env) if getattr(e[3], "callbacks", None)
              and queue_sm._poll_fired in e[3].callbacks]
    assert bus.poll_armed and len(timers) == 1 and timers[0][0] == env.now + POLL_LOW_NS


def test_waits_order_from_most_to_least_urgent():
    assert Wait.AGAIN < Wait.HIGH_TIMEOUT < Wait.LOW_TIMEOUT < Wait.INTERRUPT < Wait.NONE
