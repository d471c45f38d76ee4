"""Resetting guest queues: ZAPQ and the 20 ms TAPQ verification loop.

Modelled on ``vfio_ap_mdev_reset_queue``, ``apq_reset_check`` and
``vfio_ap_mdev_reset_qlist`` (drivers/s390/crypto/vfio_ap_ops.c), reference §11.7:

1. issue ZAPQ and store its status as the queue's ``reset_status``;
2. RC 0x00/0x02/0x05/0x0A → start the verification worker; RC 0x03/0x04 → release
   the guest's interruption resources, done; any other RC → a kernel warning, done
   (the stored RC then keeps the queue out of guests until a later reset works);
3. the worker (a SimPy process, one per queue at a time): sleep 20 ms, TAPQ;
   RC 0x00/0x03/0x04 → if the stored status was 0x02/0x05/0x0A, ZAPQ again and go
   on, else release the interruption resources and stop; RC 0x02/0x05 → keep
   waiting (rate-limited notice with the elapsed time); RC 0x35/0x36 → ZAPQ again;
   anything else → a warning, stop.

Sysfs writes that reset queues return at once in simulated time; the verification
runs in the background and updates ``reset_status``. The kernel's writer waits for
it (``vfio_ap_mdev_reset_qlist`` flushes the reset work), so an assignment made
after the write never sees a stale "reset in progress"; here the verification's
end tells vfio_ap (``VfioAp.reset_verified``), which filters the queue's mdev again. :func:`reset_qlist` returns a
SimPy event that fires when every worker is done, with 0 or ``errno.EIO`` (any
non-zero stored reset status), the result of the kernel's bulk reset.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from typing import TYPE_CHECKING

import simpy

from apsim.errors import ProgramException
from apsim.engine import codes
from apsim.engine.codes import RC
from apsim.units import MS

if TYPE_CHECKING:
    from apsim.linux.vfio_ap.matrix_dev import VfioAp
    from apsim.linux.vfio_ap.queue import VfioQueue

AP_RESET_INTERVAL_NS = 20 * MS
_VERIFY_RCS = frozenset({RC.NORMAL, RC.RESET_IN_PROGRESS, RC.BUSY, RC.STATE_CHANGE_IN_PROGRESS})
_REZAP_RCS = frozenset({RC.RESET_IN_PROGRESS, RC.BUSY, RC.STATE_CHANGE_IN_PROGRESS})


def _zapq(vfio: VfioAp, q: VfioQueue, cause: str) -> None:
    cpu = vfio.cpu
    prev = getattr(cpu, "drop_cause", None)
    cpu.drop_cause = cause  # the ledger files the requests this ZAPQ drops under *cause*
    try:
        res = cpu.zapq(q.apqn)
        status = res.status if res.status is not None else codes.make_status(res.rc)
    except ProgramException:
        status = codes.make_status(RC.Q_NOT_AVAIL)
    finally:
        cpu.drop_cause = prev
    q.reset_status = status
    q.reset_rc = codes.status_rc(status)
    vfio.stats["zapq"] += 1


def reset_queue(vfio: VfioAp, q: VfioQueue | None, cause: str = "zeroize") -> None:
    """``vfio_ap_mdev_reset_queue``: ZAPQ now, verification in the background.

    *cause* (one of ``apsim.engine.request.DROP_CAUSES``) is why the queue is reset: the
    requests the ZAPQ drops are counted under it.
    """
    if q is None:
        return
    _zapq(vfio, q, cause)
    rc = q.reset_rc
    if rc in _VERIFY_RCS:
        if q.worker is None or not q.worker.is_alive:
            q.worker = vfio.env.process(_reset_check(vfio, q, cause))
            vfio.reset_workers.append(q.worker)
    elif rc in (RC.DECONFIGURED, RC.CHECKSTOPPED):
        q.free_aqic_resources()
    else:
        vfio.klog.warn(f"WARNING: PQAP/ZAPQ for {q.dev.name} failed with invalid rc={rc}")


def _status_check(vfio: VfioAp, q: VfioQueue, rc: int) -> int:
    """``apq_status_check``: 0, EBUSY, EAGAIN or EIO for a TAPQ response code."""
    if rc in (RC.NORMAL, RC.DECONFIGURED, RC.CHECKSTOPPED):
        return 0
    if rc in (RC.RESET_IN_PROGRESS, RC.BUSY):
        return errno.EBUSY
    if rc in (RC.ASSOC_SECRET_NOT_UNIQUE, RC.ASSOC_FAILED):
        return errno.EAGAIN
    vfio.klog.warn(f"WARNING: failed to verify reset of queue {q.dev.name}: TAPQ rc={rc}")
    return errno.EIO


def _reset_check(vfio: VfioAp, q: VfioQueue, cause: str):  # noqa: ANN202 - SimPy process
    """``apq_reset_check``: the verification worker."""
    elapsed = 0
    while True:
        yield vfio.env.timeout(AP_RESET_INTERVAL_NS)
        elapsed += AP_RESET_INTERVAL_NS // MS
        try:
            res = vfio.cpu.tapq(q.apqn)
        except ProgramException:
            vfio.klog.warn(f"WARNING: failed to verify reset of queue {q.dev.name}: TAPQ failed")
            break
        ret = _status_check(vfio, q, res.rc)
        if ret == errno.EIO:
            break
        if ret == errno.EBUSY:
            vfio.klog.ratelimited(
                "vfio_ap.reset_wait", "notice",
                f"Waited {elapsed}ms for reset of queue {q.dev.name} "
                f"({res.rc}, {int(res.queue_empty)}, {int(res.irq_enabled)})")
            continue
        if q.reset_rc in _REZAP_RCS or ret == errno.EAGAIN:
            _zapq(vfio, q, cause)
            continue
        if q.saved_isc != 0xFF:
            q.free_aqic_resources()
        break
    q.worker = None
    vfio.reset_verified(q)


def reset_qlist(vfio: VfioAp, qlist: Iterable[VfioQueue], cause: str = "zeroize") -> simpy.Event:
    """``vfio_ap_mdev_reset_qlist``: ZAPQ every queue, then wait for all workers.

    Returns an event whose value is 0, or ``errno.EIO`` when any queue's stored
    reset status is not 0 once its worker has finished.
    """
    queues = list(qlist)
    for q in queues:
        reset_queue(vfio, q, cause)
    return vfio.env.process(_wait_all(vfio, queues))


def _wait_all(vfio: VfioAp, queues: list[VfioQueue]):  # noqa: ANN202 - SimPy process
    for q in queues:
        w = q.worker
        if w is not None and w.is_alive:
            yield w
    return errno.EIO if any(q.reset_rc for q in queues) else 0
