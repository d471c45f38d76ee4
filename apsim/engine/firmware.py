"""NQAP's and DQAP's firmware part: the one copy of the rules that answer from a queue's
state, enqueue a request and dequeue a reply, with their ledger counting.

Every NQAP and DQAP reaches a queue through here: the register-level
:class:`~apsim.engine.instructions.Executor` after its architected checks, SIE for a
guest, and a workload's zcrypt directly (the request path, compiled).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apsim.engine.codes import RC
from apsim.engine.config import APConfiguration
from apsim.engine.request import DONE as _DONE
from apsim.engine.request import QUEUED as _QUEUED
from apsim.engine.request import Request
from apsim.engine.simpy_internals import clock

if TYPE_CHECKING:
    from apsim.engine.queue import APQueue

# Enum members read through the class cost ~150 ns each; module globals hold the same objects.
_RC_Q_NOT_AVAIL = RC.Q_NOT_AVAIL
_RC_Q_FULL = RC.Q_FULL
_RC_NO_PENDING_REPLY = RC.Q_FULL  # DQAP's NO_PENDING_REPLY


def nqap_fast(config: APConfiguration, apqn: int, req: Request) -> int:
    """Enqueue *req* on *apqn* for *config*; returns the response code.

    Counts the request in the ledger (accepted or rejected). The caller guarantees
    the registers are well formed and the ids within Na/Nd.
    """
    lpar = config.lpar
    q = lpar.queues.get(apqn) if config.table[apqn] else None
    if q is None:
        lpar.machine.ledger.reject(_RC_Q_NOT_AVAIL)
        return _RC_Q_NOT_AVAIL
    return nqap_queue(config, q, req)


def nqap_queue(config: APConfiguration, q: APQueue, req: Request, now: int = -1) -> int:
    """NQAP's firmware part on a queue already known to be in *config* (``nqap_fast``
    after its lookup): answer from the queue's state or enqueue *req*; counts it in
    the ledger either way.

    Order of the checks: adapter/queue state (0x04, 0x03, 0x02, 0x05), SE
    association in progress (0x0A), message length (0x15), facility (0x16),
    control domain outside the issuer's ADM (0x42), SE binding, queue full
    (0x10). The caller has already checked registers and the configuration. The
    service time is drawn here, at acceptance, in acceptance order.

    A caller may cache *q* for an APQN while ``config.generation`` is unchanged
    (every mask swap and every change of the LPAR's queue map bumps it). *now*: the
    caller's clock reading, if it has one.
    """
    adapter = q.adapter
    if now < 0:
        now = clock(q.env)
    q.touched += 1
    if q._gate > now:  # the queue's or the adapter's state may answer (APQueue._regate)
        if q._fault is not None:  # an injected fault answers first (apsim.hw.faults)
            frc = q._fault.answer("NQAP", config, now)
            if frc:
                return _refused(q, frc)
        if q._cfg_rc:
            return _refused(q, q.cfg_rc)
        if q._reset_until > now:
            return _refused(q, RC.RESET_IN_PROGRESS)
        if adapter._busy_until > now:
            return _refused(q, RC.BUSY)
        if q._assoc_until > now:
            return _refused(q, RC.STATE_CHANGE_IN_PROGRESS)
    rt = req.rtype
    if req.length > adapter.max_msg:
        return _refused(q, RC.MESSAGE_TOO_BIG)
    if not adapter.mean_ns[rt]:
        return _refused(q, RC.REQ_FAC_NOT_INST)
    if req.ctrl_domain >= 0 and not config.adm.test(req.ctrl_domain):
        return _refused(q, RC.INVALID_DOMAIN)
    if config.secure:
        if q.bound_by is None:
            return _refused(q, RC.Q_NOT_BOUND)
        if q.bound_by is not config:
            return _refused(q, RC.Q_BOUND_TO_ANOTHER)
    if q.count >= q.depth:
        return _refused(q, _RC_Q_FULL)
    q._occ_sum -= now
    q.count += 1
    q.nqap_count += 1
    req.apqn = q.apqn
    req.queue = q
    req._state = _QUEUED
    req.service_ns = adapter._draw(rt)
    adapter._submit(req, now)  # the engines: one place owns the scheduling
    q.ledger.accept()
    return 0


def _refused(q: APQueue, rc: int) -> int:
    """NQAP answered *rc* without taking the request (counted in the ledger)."""
    q.ledger.reject(rc)
    return rc


def dqap_fast(config: APConfiguration, apqn: int) -> tuple[int, Request | None]:
    """Dequeue one reply from *apqn*; returns (response code, request or None)."""
    q = config.lpar.queues.get(apqn) if config.table[apqn] else None
    if q is None:
        return _RC_Q_NOT_AVAIL, None
    return dqap_queue(q)


def dqap_queue(q: APQueue, now: int = -1) -> tuple[int, Request | None]:
    """DQAP's firmware part on a queue already known to be in the issuer's configuration
    (see nqap_queue): the oldest reply, or the response code of the queue's state or
    of an empty reply list. *now*: the caller's clock reading, if it has one."""
    if now < 0:
        now = clock(q.env)
    if q._gate > now and q._fault is not None:  # an injected fault answers first (apsim.hw.faults)
        frc = q._fault.answer("DQAP", None, now)
        if frc:
            q.touched += 1
            return frc, None
    if q._gate > now and (q._cfg_rc or q._reset_until > now or q.adapter._busy_until > now):
        q.touched += 1
        return q.state_rc(), None
    q.touched += 1
    if q._np:
        q._settle(now)
    if not q._nr:
        return _RC_NO_PENDING_REPLY, None
    req = q._reply_pop()
    q._occ_sum += now
    q.count -= 1
    q.dqap_count += 1
    req._state = _DONE
    q.ledger.completed += 1
    return 0, req
