"""vfio_ap operations: linking, hot plug/unplug, queue probe/remove, configuration
callbacks, open/close/request, and the PQAP(AQIC) hook.

Modelled on drivers/s390/crypto/vfio_ap_ops.c as of the host's kernel profile
(``vfio.kernel``, :mod:`apsim.kernel`): mainline by default, including the code's
oddities of reference §15 items 16-22; a profile's named fixes switch them off:

* **Linking** (§11.5): a queue bound to vfio_ap is linked to the mdev whose matrix
  holds its APQN — on assignment, on ``ap_config`` writes and on queue probe; it is
  unlinked on unassignment and on queue removal.
* **Hot plug** is assignment followed by filtering (:mod:`.filter`) and, when the
  guest's APCB changed, a push to KVM and a reset of the adapters the guest lost.
  **Hot unplug** (unassign) collects the guest's queues of the resource, unlinks,
  clears the shadow bit, pushes, resets the collected queues.
* **Host configuration changes** (§11.6): ``on_config_changed`` unplugs removed
  resources from every mdev's shadow and records additions per mdev;
  ``on_scan_complete`` filters and plugs them once the new queue devices are
  probed; queue probes during such a scan link but defer filtering.
* **open/close/request** (§11.8) and the **AQIC hook** (§7.4).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from apsim.errors import ProgramException
from apsim.engine import codes
from apsim.engine.codes import RC
from apsim.ids import apqn as make_apqn
from apsim.ids import format_apqn
from apsim.linux.vfio_ap import irq_faults
from apsim.linux.vfio_ap.filter import filter_cdoms, filter_matrix
from apsim.linux.vfio_ap.queue import ISC_INVALID, VfioQueue
from apsim.linux.vfio_ap.reset import reset_qlist, reset_queue
from apsim.masks import Mask

if TYPE_CHECKING:
    import simpy

    from apsim.linux.apbus import QciInfo
    from apsim.linux.devices import QueueDevice
    from apsim.linux.vfio_ap.matrix_dev import VfioAp
    from apsim.linux.vfio_ap.mdev import MatrixMdev

MDEV_SHARING_ERR = "Userspace may not assign queue {apqn} to mdev: already assigned to {other}"
MDEV_IN_USE_ERR = "Can not reserve queue {apqn} for host driver: in use by mdev"
OLD_SHARING_ERR = "Userspace may not re-assign queue {apqn} already assigned to {other}"
"""Before 6.15 (commit d33d729afcc8) both conflicts logged this on the holding mdev, naming itself."""


def dev_prefix(mdev: MatrixMdev) -> str:
    """``dev_warn`` prefix of an mdev: the mdev driver name and the device name."""
    return f"vfio_ap_mdev {mdev.uuid}: "


# --- validation -----------------------------------------------------------------------------
def verify_no_sharing(vfio: VfioAp, assignee: MatrixMdev | None, apm: Mask, aqm: Mask) -> int:
    """``vfio_ap_mdev_verify_no_sharing``: 0, or EADDRINUSE after logging every shared APQN.

    With an *assignee* the warning goes on the assignee and names the mdev already
    holding the queues; without one (the AP bus's ``in_use`` check) it goes on the
    mdev holding them. Only the first conflicting mdev is reported.
    """
    for other in vfio.mdev_list:
        if other is assignee:
            continue
        a = apm & other.matrix.apm
        if not a:
            continue
        q = aqm & other.matrix.aqm
        if not q:
            continue
        for apid in a:
            for apqi in q:
                name = format_apqn(make_apqn(apid, apqi))
                if not vfio.kernel.new_sharing_messages:
                    vfio.klog.warn(dev_prefix(other) + OLD_SHARING_ERR.format(apqn=name, other=other.uuid))
                elif assignee is not None:
                    vfio.klog.warn(dev_prefix(assignee)
                                   + MDEV_SHARING_ERR.format(apqn=name, other=other.uuid))
                else:
                    vfio.klog.warn(dev_prefix(other) + MDEV_IN_USE_ERR.format(apqn=name))
        return errno.EADDRINUSE
    return 0


def validate_masks(vfio: VfioAp, mdev: MatrixMdev) -> tuple[int, str]:
    """``vfio_ap_mdev_validate_masks``: (0 or errno, rule text)."""
    owned = vfio.bus.apqn_in_matrix_owned_by_def_drv(mdev.matrix.apm, mdev.matrix.aqm)
    if owned is not None:
        return errno.EADDRNOTAVAIL, (f"APQN {format_apqn(owned)} is reserved for the host's default "
                                     f"drivers by apmask/aqmask")
    rc = verify_no_sharing(vfio, mdev, mdev.matrix.apm, mdev.matrix.aqm)
    if rc:
        return rc, "an APQN of the new matrix is already assigned to another mdev (see the kernel log)"
    return 0, ""


# --- guest APCB -------------------------------------------------------------------------------
def update_guest_apcb(vfio: VfioAp, mdev: MatrixMdev) -> None:
    """``vfio_ap_mdev_update_guest_apcb``: push the shadow to KVM and signal the VMM."""
    if mdev.kvm is None:
        return
    mdev.kvm.set_masks(mdev.shadow.apm, mdev.shadow.aqm, mdev.shadow.adm)
    vfio.stats["apcb_pushes"] += 1
    signal_cfg_changed(mdev)


def signal_cfg_changed(mdev: MatrixMdev) -> None:
    """``signal_guest_ap_cfg_changed``: the eventfd user space registered for IRQ index 1
    (≥ 6.15; QEMU ≥ 10.1 registers one), if any."""
    if mdev.cfg_chg_trigger is not None:
        mdev.cfg_chg_trigger.signal()


def refilter(vfio: VfioAp, mdev: MatrixMdev) -> None:
    """Filter APM/AQM; if the shadow changed, push it and reset filtered adapters."""
    changed, filtered = filter_matrix(mdev, vfio.info)
    if changed:
        update_guest_apcb(vfio, mdev)
        reset_queues_for_apids(vfio, mdev, filtered)


def reset_queues_for_apids(vfio: VfioAp, mdev: MatrixMdev, apm: Mask,
                           cause: str = "hot_unplug") -> simpy.Event | None:
    """Reset the mdev's linked queues (a, q) for a ∈ *apm*, q ∈ shadow AQM."""
    if not apm:
        return None
    qlist = [q for apid in apm for apqi in mdev.shadow.aqm
             if (q := mdev.qtable.get(make_apqn(apid, apqi))) is not None]
    return reset_qlist(vfio, qlist, cause)


def reset_queues(vfio: VfioAp, mdev: MatrixMdev, cause: str) -> simpy.Event:
    """``vfio_ap_mdev_reset_queues``: reset every queue linked to the mdev."""
    return reset_qlist(vfio, [mdev.qtable[k] for k in sorted(mdev.qtable)], cause)


# --- linking ----------------------------------------------------------------------------------
def link_queue(mdev: MatrixMdev, q: VfioQueue | None) -> None:
    """``vfio_ap_mdev_link_queue``."""
    if q is None or q.apqn in mdev.qtable:
        return
    q.mdev = mdev
    mdev.qtable[q.apqn] = q


def link_adapter(vfio: VfioAp, mdev: MatrixMdev, apid: int) -> None:
    """Link every bound queue of the new adapter with the assigned domains."""
    for apqi in mdev.matrix.aqm:
        link_queue(mdev, vfio.queues.get(make_apqn(apid, apqi)))


def link_domain(vfio: VfioAp, mdev: MatrixMdev, apqi: int) -> None:
    """Link every bound queue of the new domain with the assigned adapters."""
    for apid in mdev.matrix.apm:
        link_queue(mdev, vfio.queues.get(make_apqn(apid, apqi)))


def hot_unplug_adapters(vfio: VfioAp, mdev: MatrixMdev, apids: Mask) -> None:
    """``vfio_ap_mdev_hot_unplug_adapters`` (the mdev's matrix still lists the domains)."""
    qlist: list[VfioQueue] = []
    apcb_update = False
    for apid in apids:
        for apqi in mdev.matrix.aqm:
            q = mdev.qtable.pop(make_apqn(apid, apqi), None)
            if q is not None and apid in mdev.shadow.apm and apqi in mdev.shadow.aqm:
                qlist.append(q)
        if apid in mdev.shadow.apm:
            mdev.shadow.apm = mdev.shadow.apm.without_id(apid)
            apcb_update = True
    _finish_unplug(vfio, mdev, qlist, apcb_update)


def hot_unplug_domains(vfio: VfioAp, mdev: MatrixMdev, apqis: Mask) -> None:
    """``vfio_ap_mdev_hot_unplug_domains`` (the mdev's matrix still lists the adapters)."""
    qlist: list[VfioQueue] = []
    apcb_update = False
    for apqi in apqis:
        for apid in mdev.matrix.apm:
            q = mdev.qtable.pop(make_apqn(apid, apqi), None)
            if q is not None and apid in mdev.shadow.apm and apqi in mdev.shadow.aqm:
                qlist.append(q)
        if apqi in mdev.shadow.aqm:
            mdev.shadow.aqm = mdev.shadow.aqm.without_id(apqi)
            apcb_update = True
    _finish_unplug(vfio, mdev, qlist, apcb_update)


def _finish_unplug(vfio: VfioAp, mdev: MatrixMdev, qlist: list[VfioQueue], apcb_update: bool) -> None:
    if apcb_update:
        update_guest_apcb(vfio, mdev)
    reset_qlist(vfio, qlist, "hot_unplug")
    # Only the queues the guest had lose their back pointer; the kernel leaves the
    # others pointing at the mdev although they are no longer in its table.
    for q in qlist:
        q.mdev = None


# --- queue probe / remove ----------------------------------------------------------------------
def mdev_for_apqn(vfio: VfioAp, apqn: int) -> MatrixMdev | None:
    """The first mdev (newest first, as the kernel's list) whose matrix holds *apqn*."""
    apid, apqi = apqn >> 8, apqn & 0xFF
    for m in vfio.mdev_list:
        if apid in m.matrix.apm and apqi in m.matrix.aqm:
            return m
    return None


def probe_queue(vfio: VfioAp, dev: QueueDevice) -> int:
    """``vfio_ap_mdev_probe_queue``: create the queue object and link/filter/plug."""
    q = VfioQueue(dev)
    vfio.sysfs.add(dev.attr("status"), read=lambda: status_show(vfio, q))
    mdev = mdev_for_apqn(vfio, q.apqn)
    if mdev is not None:
        link_queue(mdev, q)
        # During a scan that adds resources the filtering waits for on_scan_complete.
        if not (mdev.apm_add or mdev.aqm_add):
            refilter(vfio, mdev)
    dev.drvdata = q
    vfio.queues[q.apqn] = q
    return 0


def remove_queue(vfio: VfioAp, dev: QueueDevice) -> None:
    """``vfio_ap_mdev_remove_queue``: unplug the adapter from a guest using the queue."""
    vfio.sysfs.remove_tree(dev.attr("status"))
    q = dev.drvdata
    assert isinstance(q, VfioQueue)
    mdev = q.mdev
    if mdev is not None and q.apid in mdev.shadow.apm and q.apqi in mdev.shadow.aqm:
        # A single APQN cannot leave a guest: its whole adapter does.
        mdev.shadow.apm = mdev.shadow.apm.without_id(q.apid)
        update_guest_apcb(vfio, mdev)
        reset_queues_for_apids(vfio, mdev, Mask.from_ids([q.apid]), "queue_removed")
    elif q.apid in vfio.info.apm and q.apqi in vfio.info.aqm:
        # Outside the host configuration the ZAPQ would only answer 0x01.
        reset_queue(vfio, q, "queue_removed")
    if mdev is not None:
        if mdev.qtable.get(q.apqn) is q:
            del mdev.qtable[q.apqn]
    vfio.queues.pop(q.apqn, None)
    dev.drvdata = None


def status_show(vfio: VfioAp, q: VfioQueue) -> str:
    """The queue's ``status``: ``in use``, ``assigned`` or ``unassigned``."""
    mdev = mdev_for_apqn(vfio, q.apqn)
    if mdev is None:
        return "unassigned\n"
    if mdev.kvm is not None and q.apid in mdev.shadow.apm and q.apqi in mdev.shadow.aqm:
        return "in use\n"
    return "assigned\n"


# --- host configuration changes -----------------------------------------------------------------
def on_config_changed(vfio: VfioAp, cur: QciInfo, prev: QciInfo) -> None:
    """``vfio_ap_on_cfg_changed``: unplug removed resources, record added ones."""
    aprem = prev.apm - cur.apm
    aqrem = prev.aqm - cur.aqm
    cdrem = prev.adm - cur.adm
    if aprem or aqrem or cdrem:
        _cfg_remove(vfio, aprem, aqrem, cdrem)
    apm_add = cur.apm - prev.apm
    aqm_add = cur.aqm - prev.aqm
    adm_add = cur.adm - prev.adm
    if (apm_add or aqm_add or adm_add) and vfio.mdev_list:
        apm_add = _filter_apid_by_qtype(vfio, apm_add, cur.aqm if vfio.kernel.fixed("qtype-all-domains") else aqm_add)
        for m in vfio.mdev_list:
            m.apm_add = m.matrix.apm & apm_add
            m.aqm_add = m.matrix.aqm & aqm_add
            m.adm_add = m.matrix.adm & adm_add
    vfio.info = cur


def _cfg_remove(vfio: VfioAp, ap_remove: Mask, aq_remove: Mask, cd_remove: Mask) -> None:
    do_remove = False
    for m in vfio.mdev_list:
        aprem = ap_remove & m.matrix.apm
        aqrem = aq_remove & m.matrix.aqm
        # §15 item 16: mainline subtracts the assigned control domains instead of
        # intersecting with them.
        cdrem = (cd_remove & m.matrix.adm) if vfio.kernel.fixed("cdom-unplug-intersect") \
            else (cd_remove - m.matrix.adm)
        mine = bool(aprem) or bool(aqrem) or bool(cdrem)
        # §15 item 18: before 6.18 the flag is never cleared between mdevs.
        do_remove = (do_remove or mine) if vfio.kernel.cfg_remove_accumulates else mine
        if do_remove:
            _hot_unplug_cfg(vfio, m, aprem, aqrem, cdrem)


def _hot_unplug_cfg(vfio: VfioAp, m: MatrixMdev, aprem: Mask, aqrem: Mask, cdrem: Mask) -> None:
    vfio.stats["cfg_unplug_calls"] += 1
    push = False
    for attr, rem in (("apm", aprem), ("aqm", aqrem), ("adm", cdrem)):
        if not rem:
            continue
        before = getattr(m.shadow, attr)
        after = before - rem
        setattr(m.shadow, attr, after)
        # §15 item 17: mainline lets bitmap_andnot's result (a non-empty remainder)
        # decide the push.
        push = push or (after != before if vfio.kernel.fixed("unplug-push-empty") else bool(after))
    if push:
        update_guest_apcb(vfio, m)


def _filter_apid_by_qtype(vfio: VfioAp, apm: Mask, aqm: Mask) -> Mask:
    """Drop new APIDs whose type (TAPQ T=1 on the given domains) is older than CEX4 or unknown."""
    keep = set(apm)
    for apid in apm:
        for apqi in aqm:
            try:
                res = vfio.cpu.tapq(make_apqn(apid, apqi), t=True)
                rc, gr2 = res.rc, res.gr2 or 0
            except ProgramException:
                rc, gr2 = -1, 0
            if rc in (0x00, 0x02, 0x03, 0x04, 0x05):
                if ((gr2 >> 24) & 0xFF) < 10:
                    keep.discard(apid)
                    break
            else:
                keep.discard(apid)
                break
    return Mask.from_ids(keep)


def on_scan_complete(vfio: VfioAp, cur: QciInfo, prev: QciInfo) -> None:
    """``vfio_ap_on_scan_complete``: plug the additions recorded at the scan's start."""
    for m in vfio.mdev_list:
        if not (m.apm_add or m.aqm_add or m.adm_add):
            continue
        do_hotplug = False
        filtered = Mask.empty()
        if (m.matrix.apm & m.apm_add) or (m.matrix.aqm & m.aqm_add):
            do_hotplug, filtered = filter_matrix(m, vfio.info)
        if m.matrix.adm & m.adm_add:
            do_hotplug = filter_cdoms(m, vfio.info) or do_hotplug
        if do_hotplug:
            update_guest_apcb(vfio, m)
        reset_queues_for_apids(vfio, m, filtered)
        m.apm_add = m.aqm_add = m.adm_add = Mask.empty()


# --- open / close / request ---------------------------------------------------------------------
def set_kvm(vfio: VfioAp, mdev: MatrixMdev, kvm: object) -> int:
    """``vfio_ap_mdev_set_kvm``: 0 or EPERM (another mdev already serves this KVM)."""
    if not getattr(kvm, "has_crycb", True):
        return 0
    hook_first = not vfio.kernel.fixed("hook-after-eperm")  # §15 item 19
    if hook_first:
        kvm.pqap_hook = mdev.hook  # type: ignore[attr-defined]
    for m in vfio.mdev_list:
        if m is not mdev and m.kvm is kvm:
            return errno.EPERM
    if not hook_first:
        kvm.pqap_hook = mdev.hook  # type: ignore[attr-defined]
    mdev.kvm = kvm
    kvm.mdev = mdev.uuid  # type: ignore[attr-defined]
    update_guest_apcb(vfio, mdev)
    return 0


def unset_kvm(vfio: VfioAp, mdev: MatrixMdev, cause: str | None = None) -> simpy.Event | None:
    """``vfio_ap_mdev_unset_kvm``: drop the hook, clear the masks, reset the queues.

    *cause* names why the device closes (e.g. ``hot_unplug`` for QEMU's device_del);
    unset, a close for a pending removal is ``mdev_remove``, else ``guest_stop``.
    """
    kvm = mdev.kvm
    if kvm is None or not getattr(kvm, "has_crycb", True):
        return None
    kvm.pqap_hook = None  # type: ignore[attr-defined]
    kvm.clear_masks()  # type: ignore[attr-defined]
    # A close that answers the device request of a removal is the removal's doing.
    if cause is None:
        cause = "mdev_remove" if mdev.remove_pending else "guest_stop"
    done = reset_queues(vfio, mdev, cause)
    if getattr(kvm, "mdev", None) == mdev.uuid:
        kvm.mdev = None  # type: ignore[attr-defined]
    mdev.kvm = None
    return done


def request(vfio: VfioAp, mdev: MatrixMdev, count: int) -> str:
    """``vfio_ap_mdev_request``: the VFIO core asks user space to release the device.

    Returns what happened: ``relayed`` (the request eventfd was signalled), ``no eventfd``,
    or ``no request callback`` (before 6.5 the core only waits for the release).
    """
    if not vfio.kernel.device_request_irq:
        return "no request callback"
    if mdev.kvm is not None:
        mdev.kvm.clear_masks()
        signal_cfg_changed(mdev)
    trigger = mdev.req_trigger
    if trigger is not None:
        if count % 10 == 0:
            vfio.klog.ratelimited(f"vfio_ap.request.{mdev.uuid}", "notice",
                                  dev_prefix(mdev) + f"Relaying device request to user (#{count})")
        trigger.signal()
        return "relayed"
    if count == 0:
        vfio.klog.notice(dev_prefix(mdev)
                         + "No device request registered, blocked until released by user")
    return "no eventfd"


# --- the PQAP(AQIC) hook ----------------------------------------------------------------------
def handle_pqap(vfio: VfioAp, mdev: MatrixMdev, kvm: object, apqn: int, gr1: int, gr2: int) -> int | None:
    """The hook KVM calls for an intercepted PQAP(AQIC): the 32-bit status word.

    Returns None when the vCPU lacks adapter-interruption virtualization
    (``ECA_AIV``, ``kvm.aiv``): the instruction then goes to user space.
    """
    apqn &= 0xFFFF
    if not getattr(kvm, "aiv", True):
        return None
    vfio.stats["pqap_hook"] += 1
    not_avail = codes.make_status(RC.Q_NOT_AVAIL)
    if mdev.kvm is None:
        vfio.klog.dbf(f"handle_pqap: mdev {mdev.uuid} not in use: apqn=0x{apqn:04x}")
        return not_avail
    q = mdev.qtable.get(apqn)
    if q is None:
        vfio.klog.dbf(f"handle_pqap: Queue {format_apqn(apqn)} not bound to the vfio_ap driver")
        return not_avail
    if vfio.kernel.fixed("aqic-hook-shadow") and not ((apqn >> 8) in mdev.shadow.apm
                                                     and (apqn & 0xFF) in mdev.shadow.aqm):
        # §15 item 21 fixed: a queue filtered out of the guest is not the guest's to control.
        return not_avail
    if (gr1 >> (63 - 16)) & 1:
        return _irq_enable(vfio, q, mdev.kvm, gr1 & 0x07, gr2)
    return _irq_disable(vfio, q)


def _irq_enable(vfio: VfioAp, q: VfioQueue, kvm: object, isc: int, nib: int) -> int:
    """``vfio_ap_irq_enable``."""
    valid = getattr(kvm, "nib_valid", None)
    if nib == 0 or (valid is not None and not valid(nib)):
        vfio.klog.dbf(f"vfio_ap_irq_enable: invalid NIB address: nib=0x{nib:x}, apqn=0x{q.apqn:04x}")
        return codes.make_status(RC.INVALID_ADDRESS)
    refused = irq_faults.pin_nib(vfio, q, kvm, nib)
    if refused is None:
        refused = irq_faults.register_gisc(vfio, q, kvm, isc)
    if refused is not None:
        return refused
    res = vfio.cpu.aqic(q.apqn, enable=True, isc=isc, nib=nib, gisa=int(getattr(kvm, "gisa_origin", 0)))
    status = res.status if res.status is not None else codes.make_status(res.rc)
    if res.rc == RC.NORMAL:
        q.free_aqic_resources()
        q.saved_nib = nib
        q.saved_isc = isc
    elif res.rc == RC.OTHERWISE_CHANGED:
        q.gisc_refs -= 1  # the new settings did not take: unregister the ISC, unpin the NIB
        q.nib_pins -= 1
    else:
        vfio.klog.warn(f"vfio_ap_irq_enable: apqn {q.apqn:04x}: response: {res.rc:02x}")
        _irq_disable(vfio, q)
    return status


def _irq_disable(vfio: VfioAp, q: VfioQueue) -> int:
    """``vfio_ap_irq_disable`` (one attempt: a busy queue answers the guest at once)."""
    res = vfio.cpu.aqic(q.apqn, enable=False)
    status = res.status if res.status is not None else codes.make_status(res.rc)
    if res.rc in (RC.NORMAL, RC.OTHERWISE_CHANGED):
        t = vfio.cpu.tapq(q.apqn)
        if t.rc not in (RC.NORMAL, RC.RESET_IN_PROGRESS, RC.BUSY):
            vfio.klog.warn(f"WARNING: vfio_ap_wait_for_irqclear: tapq rc {t.rc:02x}: {q.apqn:04x}")
    elif res.rc in (RC.RESET_IN_PROGRESS, RC.BUSY):
        # The kernel sleeps 20 ms and retries (up to 6 times); a hook called from an
        # instruction cannot wait in simulated time, so the guest sees the busy status.
        return status
    else:
        vfio.klog.warn(f"WARNING: vfio_ap_irq_disable: ap_aqic status {res.rc}")
    if q.saved_isc != ISC_INVALID or q.saved_nib:
        q.free_aqic_resources()
    return status
