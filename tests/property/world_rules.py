"""Rules and invariants of the isolation proof that close its holes (issue 20).

Kept apart from :mod:`tests.property.test_isolation_world` (which is already long):

* driver bind/unbind of queues of assigned APQNs, so filtering that ignores whether a
  queue is bound to vfio_ap shows up (invariant 2);
* PQAP(AQIC) to every queue linked to a guest's mdev, including queues filtered out
  of its APCB (invariant 3: outside the APCB nothing reaches the queue);
* per-queue work kept across unplugs: a write that unplugs some queues from a guest
  may not reset (drop) its requests on the queues it keeps;
* the ledger checked against counters kept independently of it: the NQAP rejections
  the World saw answered and the ones each workload counted;
* a guest's system reset (``VFIO_DEVICE_RESET``) leaves none of its requests in the
  queues of its mdev;
* an mdev's ``guest_matrix`` attribute shows exactly the APQNs its running guest has
  (what an administrator reads is what the guest gets);
* a queue's interruptions go only to a running guest that has the queue in its APCB,
  and PQAP(AQIC) answered RC 0x00 leaves them the way the guest asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apsim.kvm import crycb
from apsim.kvm.vm import KVM

if TYPE_CHECKING:
    from tests.property.test_isolation_world import World

BUS = "/sys/bus/ap"
# The drop causes of a queue reset (RAPQ/ZAPQ), as the ledger names them: the guest's
# own reset and zeroize, and the causes vfio_ap's resets carry (reset.py).
RESET_CAUSES = ("reset", "zeroize", "hot_unplug", "queue_removed", "mdev_remove")


def vfio_queues(w: World, level: str) -> list[int]:
    """APQNs of *level*'s Linux bound to vfio_ap."""
    lx = w.linux(level)
    if lx is None or lx.bus is None or lx.vfio is None:
        return []
    return sorted(k for k, q in lx.bus.queues.items() if q.driver is lx.vfio.driver)


def unbound_queues(w: World, level: str) -> list[int]:
    """APQNs of *level*'s Linux bound to no driver."""
    lx = w.linux(level)
    if lx is None or lx.bus is None:
        return []
    return sorted(k for k, q in lx.bus.queues.items() if q.driver is None)


def _name(apqn: int) -> str:
    return f"{apqn >> 8:02x}.{apqn & 0xFF:04x}\n"


def unbind(w: World, level: str, apqn: int) -> str:
    """``echo AA.QQQQ > /sys/bus/ap/drivers/vfio_ap/unbind``: always allowed for a bound queue."""
    with kept_work(w):
        got = w.write(level, f"{BUS}/drivers/vfio_ap/unbind", _name(apqn), "ok")
    # The reference model knows nothing of bindings: from now on a guest may lack an
    # adapter the model gives it (the subset comparison stays on).
    w.exact = False
    w._gap()
    return got


def bind(w: World, level: str, apqn: int, driver: str) -> str:
    """Bind an unbound queue to *driver*; the masks decide (ENODEV for the other class)."""
    lx = w.linux(level)
    default = lx.bus.owned_by_default(apqn >> 8, apqn & 0xFF)
    ok = (driver == "vfio_ap") != default
    got = w.write(level, f"{BUS}/drivers/{driver}/bind", _name(apqn), "ok" if ok else "ENODEV")
    w._gap()
    return got


def linked_queues(w: World, name: str) -> list[int]:
    """APQNs linked to the mdev guest *name* uses (bound to vfio_ap and assigned)."""
    g = w.guest(name)
    if g is None or not g.running or g.kvm is None or g.kvm.mdev is None or g.parent is None:
        return []
    vfio = g.parent.vfio
    if vfio is None:
        return []
    try:
        m = vfio.mdev(g.kvm.mdev)
    except Exception:  # noqa: BLE001 - a removed mdev: nothing linked
        return []
    return sorted(m.qtable)


class kept_work:  # noqa: N801 - used as a context manager around one write
    """Requests on queues a guest keeps through a write must not be reset by it."""

    def __init__(self, w: World) -> None:
        self.w = w

    def __enter__(self) -> kept_work:
        self.before = {n: g.kvm.config.table.copy() for n, g in self.w.running().items() if g.kvm is not None}
        self.mark = len(self.w.drops)
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            return
        w = self.w
        owners = {w.owner[n]: n for n in self.before}
        for req, cause in w.drops[self.mark:]:
            n = owners.get(req.owner)
            if n is None or cause not in RESET_CAUSES:
                continue
            g = w.guest(n)
            if g is None or not g.running or g.kvm is None:
                continue
            apqn = req.apqn
            kept = bool(self.before[n][apqn]) and bool(g.kvm.config.table[apqn])
            assert not kept, (f"{n}'s request {req.psmid:#x} on {apqn >> 8:02x}.{apqn & 0xFF:04x}, a queue "
                              f"{n} keeps, was dropped ({cause}) by an unplug of other queues")


def check_ledger_against_counters(w: World) -> None:
    """Every NQAP rejection in the ledger is one the World or a workload saw answered."""
    for g in [*w.guests.values(), w.nested]:
        wl = getattr(g, "workload", None) if g is not None else None
        if wl is not None and all(x is not wl for x in w.workloads):
            w.workloads.append(wl)
    seen = w.nqap_rejected + sum(wl.rejected for wl in w.workloads)
    led = w.machine.ledger
    assert sum(led.rejected.values()) == seen, (
        f"ledger rejections {dict(led.rejected)} ({sum(led.rejected.values())}) != {seen} NQAPs answered "
        f"with a response code ({w.nqap_rejected} by the checks, the rest by workloads)")


def check_reset_cleared(w: World, name: str) -> None:
    """Right after guest *name*'s system reset: none of its requests wait in its queues.

    vfio_ap's VFIO_DEVICE_RESET zeroizes every queue linked to the mdev at once (the
    verification runs later); a queue already resetting or deconfigured holds nothing.
    """
    g = w.guest(name)
    if g is None or not g.running or g.kvm is None:
        return
    owner = w.owner[name]
    for ad in w.machine.adapters.values():
        for q in ad.queues.values():
            if not q.count or not g.kvm.config.table[q.apqn]:
                continue
            left = [req for req in q.live if req.owner == owner]
            assert not left, (f"{name}'s request {left[0].psmid:#x} is still in queue {q.apqn >> 8:02x}."
                              f"{q.apqn & 0xFF:04x} after the guest's system reset (VFIO_DEVICE_RESET)")


def _shown_apqns(text: str) -> set[tuple[int, int]]:
    """The APQNs of a ``matrix``/``guest_matrix`` text (``AA.`` and ``.QQQQ`` lines name none)."""
    out = set()
    for line in text.splitlines():
        a, _, q = line.partition(".")
        if a and q:
            out.add((int(a, 16), int(q, 16)))
    return out


def check_guest_matrix(w: World) -> None:
    """Each first-level guest's mdev shows in ``guest_matrix`` the APQNs the guest has.

    A format-0/1 CRYCB cannot hold APIDs above 63 or APQIs above 15, so those shown
    ids never reach such a guest; everything else shown must be in its APCB and
    nothing else may be. (A nested guest's APCB is also cut by its guest-1's, so there
    the APCB is only checked to be within what its mdev shows.)
    """
    for n, g in w.running().items():
        if g.kvm is None or g.kvm.mdev is None or g.parent is None or g.parent.vfio is None:
            continue
        m = g.parent.vfio.mdev(g.kvm.mdev)
        shown = _shown_apqns(g.parent.read(f"{m.path}/guest_matrix"))
        wa, wq, _ = crycb.mask_widths(g.kvm.crycb_format)
        fits = {(a, q) for a, q in shown if a < wa and q < wq}
        cfg = g.kvm.config
        has = {(a, q) for a in cfg.apm for q in cfg.aqm}
        if g.kvm.parent is None:
            assert has == fits, (f"{m.path}/guest_matrix shows {sorted(fits - has)[:4]} that {n} lacks "
                                 f"and lacks {sorted(has - fits)[:4]} that {n} has")
        else:
            assert has <= fits, f"{n} has {sorted(has - fits)[:4]} that {m.path}/guest_matrix does not show"


def _irq_guest(w: World, target: object) -> tuple[str | None, bool]:
    """(guest name, whether the target is a KVM at all) for a queue's interruption target."""
    kvm = getattr(target, "__self__", None)
    if not isinstance(kvm, KVM):
        return None, False
    for n in w.owner:
        g = w.guest(n)
        if g is not None and g.kvm is kvm:
            return (n if g.running else None), True
    return None, True


def check_interruptions(w: World) -> None:
    """A queue interrupts only a running guest that has the queue in its APCB.

    Every way a guest loses a queue (unplug, filtering, close, reset) resets it, and
    a reset turns its interruptions off; interruptions left on would post the next
    user's reply notifications into the old guest's indicator byte.
    """
    for ad in w.machine.adapters.values():
        for q in ad.queues.values():
            if not q.irq:
                continue
            name, is_kvm = _irq_guest(w, q.irq_target)
            if not is_kvm:
                continue
            where = f"{q.apqn >> 8:02x}.{q.apqn & 0xFF:04x}"
            assert name is not None, f"queue {where} still interrupts a guest that is no longer running"
            assert w.guest(name).kvm.config.table[q.apqn], (
                f"queue {where} interrupts {name}, which no longer has it in its APCB")


def check_aqic(w: World, name: str, op: str, in_apcb: bool, outcome: str, phys: object) -> None:
    """PQAP(AQIC) answered RC 0x00 inside the APCB left the queue's interruptions as asked.

    Enabled ones go to the guest through its GISA: the target is the KVM of the guest
    (of its guest-1 for a nested guest, whose interruptions the guest-1 forwards),
    never the host.
    """
    if not in_apcb or outcome != "rc00" or phys is None or op not in ("AQIC_ON", "AQIC_OFF"):
        return
    want = op == "AQIC_ON"
    where = f"{phys.apqn >> 8:02x}.{phys.apqn & 0xFF:04x}"
    assert phys.irq == want, (f"AQIC {'on' if want else 'off'} for {where} answered 0x00 but "
                              f"interruptions are {'on' if phys.irq else 'off'}")
    if want:
        kvm = w.guest(name).kvm
        while kvm.parent is not None:
            kvm = kvm.parent
        got = getattr(phys.irq_target, "__self__", None)
        assert got is kvm, f"{name}'s AQIC for {where} sends its interruptions to {got!r}, not to its GISA"

