"""A Secure Execution guest's AP bus: the queue attributes ``se_bind`` and
``se_associate`` and the bind checks zcrypt makes before it uses a queue.

Follows drivers/s390/crypto/ap_queue.c: ``ap_queue_create`` adds the two
attributes when the bus has the AP secure-binding facility (QCI's APSB bit,
``ap_sb_available``) and the kernel runs as a protected guest
(``is_prot_virt_guest``); ``se_bind_show`` / ``se_bind_store``,
``se_associate_show`` / ``se_associate_store`` and ``ap_queue_usable`` are modelled
in the kernel's order, with its texts and errnos:

* reading either attribute issues TAPQ with the T bit; RC above 0x05 → EIO. A queue
  that does not support binding (CCA) reads ``-``; so does ``se_associate`` of a
  queue without association support (accelerator).
* ``se_bind`` reads ``bound`` for bs 0/1, ``unbound`` otherwise; writing 1 needs
  bs 2 (EINVAL otherwise), a settled state machine (EBUSY while the queue is
  being reset), then BAPQ (EIO on any RC) and a TAPQ that confirms bs 0/1 (EIO).
  Writing 0 flushes the queue and re-initializes it with the F bit set, so the
  state machine's RAPQ unbinds it.
* ``se_associate`` reads ``associated N`` (bs 0), ``association pending`` (bs 1
  with an index given), ``unassociated``; writing an index below 0x10000 needs bs 1
  (EINVAL), an IDLE state machine (EBUSY), then AAPQ (EIO unless RC 0x00 or 0x0A)
  and moves the machine to ASSOC_WAIT, which polls TAPQ until bs turns 0.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from apsim.errors import ProgramException, SysfsError
from apsim.engine.codes import BS_AVAILABLE_FOR_BIND, BS_USABLE, BS_USABLE_NO_SECURE_KEY, RC
from apsim.linux import queue_sm
from apsim.linux.devices import ASSOC_IDX_INVALID, QueueDevice, SMState, hwinfo_bs
from apsim.linux.maskparse import kstrtobool, kstrtoul

if TYPE_CHECKING:
    from apsim.linux.apbus import APBus

UINT_MAX = 0xFFFFFFFF
_BOUND = (BS_USABLE, BS_USABLE_NO_SECURE_KEY)


def sb_available(bus: APBus) -> bool:
    """``ap_sb_available``: the bus's QCI reports the AP secure-binding facility."""
    return bus.qci.apsb


def is_se_guest(bus: APBus) -> bool:
    """``ap_is_se_guest``: a protected guest with AP pass-through support."""
    return bus.host.prot_virt_guest and sb_available(bus)


def supports_bind(q: QueueDevice) -> bool:
    """``ap_q_supports_bind``: the queue's card is an accelerator or an EP11 coprocessor."""
    return q.card.mode_letter in ("A", "P")


def supports_assoc(q: QueueDevice) -> bool:
    """``ap_q_supports_assoc``: the queue's card is an EP11 coprocessor."""
    return q.card.mode_letter == "P"


def usable(bus: APBus, q: QueueDevice) -> bool:
    """The SE part of ``ap_queue_usable``: a queue that needs binding must be bound."""
    return not (supports_bind(q) and sb_available(bus)) or q.se_bstate in _BOUND


def add_se_attrs(bus: APBus, q: QueueDevice) -> None:
    """``ap_queue_create``'s optional attribute group (only in an SE guest with APSB)."""
    if not is_se_guest(bus):
        return
    bus.sysfs.add(q.attr("se_bind"), read=lambda: se_bind_show(bus, q),
                  write=lambda text: se_bind_store(bus, q, text))
    bus.sysfs.add(q.attr("se_associate"), read=lambda: se_associate_show(bus, q),
                  write=lambda text: se_associate_store(bus, q, text))


def _tapq_bs(bus: APBus, q: QueueDevice, path: str, *, max_rc: int) -> int:
    """TAPQ with the T bit; the bs bits, or EIO when the RC is above *max_rc*."""
    try:
        res = bus.cpu.tapq(q.apqn, t=True)
    except ProgramException as e:
        raise SysfsError(errno.EIO, path, f"TAPQ failed: {e}") from None
    if res.rc > max_rc:
        raise SysfsError(errno.EIO, path, f"TAPQ on {q.name} answered response code 0x{res.rc:02x}")
    q.se_bstate = hwinfo_bs(res.gr2 or 0)
    return q.se_bstate


def se_bind_show(bus: APBus, q: QueueDevice) -> str:
    """``se_bind_show``."""
    if not supports_bind(q):
        return "-\n"
    bs = _tapq_bs(bus, q, q.attr("se_bind"), max_rc=RC.BUSY)
    return "bound\n" if bs in _BOUND else "unbound\n"


def se_bind_store(bus: APBus, q: QueueDevice, text: str) -> None:
    """``se_bind_store``: 1 binds with BAPQ, 0 unbinds through a reset with the F bit."""
    path = q.attr("se_bind")
    if not supports_bind(q):
        raise SysfsError(errno.EINVAL, path, f"queue {q.name} is a CCA queue, which cannot be bound")
    value = kstrtobool(text)
    if value is None:
        raise SysfsError(errno.EINVAL, path, f"{text.strip()!r}: write 1 (bind) or 0 (unbind)")
    if not value:
        q.flush()
        q.rapq_fbit = True
        queue_sm.init_state(bus, q)
        return
    bs = _tapq_bs(bus, q, path, max_rc=RC.NORMAL)
    if bs != BS_AVAILABLE_FOR_BIND:
        bus.klog.dbf(f"se_bind_store bind attempt with bs {bs} on queue 0x{q.name}")
        raise SysfsError(errno.EINVAL, path, f"queue {q.name} is not available for binding (bs {bs})")
    if q.sm_state < SMState.IDLE:
        raise SysfsError(errno.EBUSY, path, f"queue {q.name} is being reset")
    res = bus.cpu.bapq(q.apqn)
    if res.rc:
        bus.klog.dbf(f"se_bind_store RC 0x{res.rc:02x} on bapq(0x{q.name})")
        raise SysfsError(errno.EIO, path, f"BAPQ on {q.name} answered response code 0x{res.rc:02x}")
    q.assoc_idx = ASSOC_IDX_INVALID
    bs = _tapq_bs(bus, q, path, max_rc=RC.NORMAL)
    if bs not in _BOUND:
        raise SysfsError(errno.EIO, path, f"BAPQ succeeded but TAPQ shows bs {bs} on {q.name}")
    bus.klog.dbf(f"se_bind_store bapq(0x{q.name}) success")
    queue_sm.usability_changed(bus, q)


def se_associate_show(bus: APBus, q: QueueDevice) -> str:
    """``se_associate_show``."""
    if not supports_assoc(q):
        return "-\n"
    path = q.attr("se_associate")
    bs = _tapq_bs(bus, q, path, max_rc=RC.BUSY)
    if bs == BS_USABLE:
        if q.assoc_idx == ASSOC_IDX_INVALID:
            raise SysfsError(errno.EIO, path, f"queue {q.name} is usable but its association index is unknown")
        return f"associated {q.assoc_idx}\n"
    if bs == BS_USABLE_NO_SECURE_KEY and q.assoc_idx != ASSOC_IDX_INVALID:
        return "association pending\n"
    return "unassociated\n"


def se_associate_store(bus: APBus, q: QueueDevice, text: str) -> None:
    """``se_associate_store``: AAPQ with the association (secret) index written."""
    path = q.attr("se_associate")
    if not supports_assoc(q):
        raise SysfsError(errno.EINVAL, path, f"queue {q.name} is not an EP11 queue and takes no association")
    value = kstrtoul(text, path=path, what="association index")
    if value > UINT_MAX:
        raise SysfsError(errno.ERANGE, path, f"{text.strip()!r} does not fit in an unsigned int")
    if value >= ASSOC_IDX_INVALID:
        raise SysfsError(errno.EINVAL, path, f"association index {value} is above 0xffff")
    bs = _tapq_bs(bus, q, path, max_rc=RC.NORMAL)
    if bs != BS_USABLE_NO_SECURE_KEY:
        bus.klog.dbf(f"se_associate_store association attempt with bs {bs} on queue 0x{q.name}")
        raise SysfsError(errno.EINVAL, path, f"queue {q.name} is not bound and unassociated (bs {bs})")
    if q.sm_state != SMState.IDLE:
        raise SysfsError(errno.EBUSY, path, f"queue {q.name} is busy (state machine not idle)")
    res = bus.cpu.aapq(q.apqn, value)
    if res.rc not in (RC.NORMAL, RC.STATE_CHANGE_IN_PROGRESS):
        bus.klog.dbf(f"se_associate_store RC 0x{res.rc:02x} on aapq(0x{q.name})")
        raise SysfsError(errno.EIO, path, f"AAPQ on {q.name} answered response code 0x{res.rc:02x}")
    q.sm_state = SMState.ASSOC_WAIT
    q.assoc_idx = value
    queue_sm.usability_changed(bus, q)  # no requests go to a queue in ASSOC_WAIT
    queue_sm.ap_wait(bus, queue_sm.sm_event(bus, q))
