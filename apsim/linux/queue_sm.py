"""The AP bus queue state machine, as far as a Linux without its own crypto load runs it.

Modelled on drivers/s390/crypto/ap_queue.c (``ap_sm_reset``, ``ap_sm_reset_wait``,
``ap_sm_setirq_wait``, ``ap_queue_enable_irq``, ``ap_sm_event``) and ap_bus.c
(``ap_wait``, the poll hrtimer and tasklet). When a queue is initialised (created
by a scan, probed by the default queue driver, configured on, written to its
``reset`` attribute) the machine runs RESET_START → RAPQ → RESET_WAIT, polls TAPQ
at the low poll rate (40 ms) until the reset is done, then enables adapter
interruptions with AQIC (when the bus uses interrupts) and settles in IDLE.

The state machine only runs while the queue is configured, not checkstopped and
its device state is above UNINITIATED; a queue bound to vfio_ap is UNINITIATED
(its bus-side reset on removal from the default driver left it there), so the
host's state machine leaves it alone. Request sending (NQAP/DQAP in IDLE, WORKING,
QUEUE_FULL) is not modelled: this Linux issues no crypto requests of its own.

All queues share one poll timer, as the kernel's single hrtimer: arming it when it
is already armed changes nothing, and when it fires every queue is polled once.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

from apsim.engine.core import call_at
from apsim.errors import ProgramException
from apsim.engine.codes import BS_USABLE, BS_USABLE_NO_SECURE_KEY, RC
from apsim.linux.devices import ASSOC_IDX_INVALID, DevState, QueueDevice, SMState, hwinfo_bs

if TYPE_CHECKING:
    from apsim.linux.apbus import APBus

POLL_LOW_NS = 40_000_000
"""Low poll rate (25 Hz) used while a reset or an interruption enablement is pending."""
AP_ISC = 6
"""Interruption subclass the AP bus registers for adapter interruptions."""
AIRQ_LSI_ADDR = 0x0000_0000_00F0_0000
"""Address of the bus's adapter-interruption indicator (the NIB it passes to AQIC)."""


class Wait(IntEnum):
    """``enum ap_sm_wait`` (smaller is more urgent, as the tasklet takes the minimum)."""

    AGAIN = 0
    HIGH_TIMEOUT = 1
    LOW_TIMEOUT = 2
    INTERRUPT = 3
    NONE = 4


def _runnable(q: QueueDevice) -> bool:
    return q.config and not q.chkstop and q.dev_state > DevState.UNINITIATED


def _error(q: QueueDevice, rc: int) -> Wait:
    q.dev_state = DevState.ERROR
    q.last_err_rc = rc
    return Wait.NONE


def _sm_reset(bus: APBus, q: QueueDevice) -> Wait:
    try:
        res = bus.cpu.rapq(q.apqn, f=q.rapq_fbit)
    except ProgramException:
        return _error(q, RC.Q_NOT_AVAIL)
    if res.async_error:
        return Wait.NONE
    if res.rc in (RC.NORMAL, RC.RESET_IN_PROGRESS):
        q.sm_state = SMState.RESET_WAIT
        q.rapq_fbit = False
        return Wait.LOW_TIMEOUT
    bus.klog.dbf(f"ap_sm_reset RC 0x{res.rc:02x} on 0x{q.name} -> AP_DEV_STATE_ERROR")
    return _error(q, res.rc)


def request_error(bus: APBus | None, apqn: int, rc: int, fn: str) -> None:
    """The ``default:`` branch of ``ap_sm_write`` (NQAP, *fn* ``"ap_sm_write"``) or
    ``ap_sm_read`` (DQAP, ``"ap_sm_read"``): a response code the driver has no case for
    puts the queue device into ``AP_DEV_STATE_ERROR`` with ``last_err_rc``; zcrypt stops
    using it until the bus's next scan re-initializes it (``ap_scan_domains``). Nothing
    happens without a bus, a device for *apqn* (the scan removed it) or a state machine
    (``ap_sm_event`` runs none for an UNINITIATED device, e.g. one bound to vfio_ap)."""
    q = bus.queues.get(apqn) if bus is not None else None
    if q is None or q.dev_state == DevState.UNINITIATED:
        return
    bus.klog.dbf(f"{fn} RC 0x{rc:02x} on 0x{q.name} -> AP_DEV_STATE_ERROR")
    _error(q, rc)


def _enable_irq(bus: APBus, q: QueueDevice) -> bool:
    """``ap_queue_enable_irq``: True when the AQIC was accepted."""
    res = bus.cpu.aqic(q.apqn, enable=True, isc=AP_ISC, nib=AIRQ_LSI_ADDR)
    if res.async_error:
        return False
    if res.rc in (RC.NORMAL, RC.OTHERWISE_CHANGED):
        return True
    if res.rc in (RC.Q_NOT_AVAIL, RC.DECONFIGURED, RC.CHECKSTOPPED, RC.INVALID_ADDRESS):
        bus.klog.err(f"ap: Registering adapter interrupts for AP device {q.name} failed")
    return False


def _sm_reset_wait(bus: APBus, q: QueueDevice) -> Wait:
    res = bus.cpu.tapq(q.apqn, t=bus.apft)
    if res.rc == RC.NORMAL:
        q.se_bstate = hwinfo_bs(res.gr2 or 0)
        if bus.irq_flag and _enable_irq(bus, q):
            q.sm_state = SMState.SETIRQ_WAIT
        else:
            q.sm_state = SMState.WORKING if q.queue_count > 0 else SMState.IDLE
            _settled(bus, q)
        return Wait.AGAIN
    if res.rc in (RC.BUSY, RC.RESET_IN_PROGRESS):
        return Wait.LOW_TIMEOUT
    return _error(q, res.rc)


def _sm_setirq_wait(bus: APBus, q: QueueDevice) -> Wait:
    res = bus.cpu.tapq(q.apqn)
    if res.irq_enabled:
        q.sm_state = SMState.WORKING if q.queue_count > 0 else SMState.IDLE
        _settled(bus, q)
    if res.rc == RC.NORMAL:
        return Wait.AGAIN if q.queue_count > 0 else Wait.LOW_TIMEOUT
    if res.rc == RC.Q_FULL:  # NO_PENDING_REPLY
        return Wait.LOW_TIMEOUT
    return _error(q, res.rc)


def _settled(bus: APBus, q: QueueDevice) -> None:
    """The queue can carry requests now: tell the bus's users (zcrypt's dispatcher)."""
    for fn in list(getattr(bus, "ready_listeners", ())):
        fn(q)


def usability_changed(bus: APBus, q: QueueDevice) -> None:
    """For the SE attributes: binding, or waiting for an association, changed whether
    the queue can carry requests; the bus's users re-read it as after a settle."""
    _settled(bus, q)


def _sm_assoc_wait(bus: APBus, q: QueueDevice) -> Wait:
    """``ap_sm_assoc_wait``: poll TAPQ until the association went through (bs 0)."""
    res = bus.cpu.tapq(q.apqn, t=True)
    if (res.async_error and res.rc) or res.rc > RC.BUSY:
        bus.klog.dbf(f"ap_sm_assoc_wait RC 0x{res.rc:02x} on 0x{q.name} -> AP_DEV_STATE_ERROR")
        return _error(q, res.rc)
    q.se_bstate = hwinfo_bs(res.gr2 or 0)
    if q.se_bstate == BS_USABLE:
        q.sm_state = SMState.IDLE
        _settled(bus, q)
        return Wait.NONE
    if q.se_bstate == BS_USABLE_NO_SECURE_KEY:
        return Wait.LOW_TIMEOUT
    # A reset from outside (the hypervisor's) took the binding away.
    q.assoc_idx = ASSOC_IDX_INVALID
    bus.klog.dbf(f"ap_sm_assoc_wait bs 0x{q.se_bstate:02x} on 0x{q.name} -> AP_DEV_STATE_ERROR")
    return _error(q, res.rc)


def _sm_nop(_bus: APBus, _q: QueueDevice) -> Wait:
    # IDLE/WORKING/QUEUE_FULL would send and receive requests; this Linux has none.
    return Wait.NONE


_POLL = {SMState.RESET_START: _sm_reset, SMState.RESET_WAIT: _sm_reset_wait,
         SMState.SETIRQ_WAIT: _sm_setirq_wait, SMState.ASSOC_WAIT: _sm_assoc_wait}


def sm_event(bus: APBus, q: QueueDevice) -> Wait:
    """``ap_sm_event(aq, AP_SM_EVENT_POLL)``."""
    if not _runnable(q):
        return Wait.NONE
    return _POLL.get(q.sm_state, _sm_nop)(bus, q)


def sm_event_loop(bus: APBus, q: QueueDevice) -> Wait:
    """``ap_sm_event_loop``: poll while the handler asks to run again."""
    while True:
        w = sm_event(bus, q)
        if w != Wait.AGAIN:
            return w


def init_state(bus: APBus, q: QueueDevice) -> None:
    """``ap_queue_init_state``: device OPERATING, state RESET_START, first poll now."""
    q.dev_state = DevState.OPERATING
    q.sm_state = SMState.RESET_START
    q.last_err_rc = 0
    q.assoc_idx = ASSOC_IDX_INVALID
    ap_wait(bus, sm_event(bus, q))


def ap_wait(bus: APBus, wait: Wait) -> None:
    """``ap_wait``: arm the shared poll timer for a timeout wait (no-op if armed)."""
    if wait in (Wait.AGAIN, Wait.INTERRUPT):
        if bus.irq_flag:
            return
    elif wait == Wait.NONE:
        return
    if bus.poll_armed:
        return
    delay = POLL_LOW_NS if wait == Wait.LOW_TIMEOUT else bus.poll_timeout_ns
    bus.poll_armed = True
    call_at(bus.env, delay, _poll_fired, bus)


def _poll_fired(ev) -> None:  # noqa: ANN001 - SimPy event
    """The poll timer fired: the tasklet polls every queue once."""
    bus: APBus = ev.value
    bus.poll_armed = False
    if bus.detached:
        return
    wait = Wait.NONE
    for q in bus.sorted_queues():
        wait = min(wait, sm_event_loop(bus, q))
    ap_wait(bus, wait)
