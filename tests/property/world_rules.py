"""Rules and invariants of the isolation proof that close its holes (issue 20).

Kept apart from :mod:`tests.property.test_isolation_world` (which is already long):

* driver bind/unbind of queues of assigned APQNs, so filtering that ignores whether a
  queue is bound to vfio_ap shows up (invariant 2);
* PQAP(AQIC) to every queue linked to a guest's mdev, including queues filtered out
  of its APCB (invariant 3: outside the APCB nothing reaches the queue);
* per-queue work kept across unplugs: a write that unplugs some queues from a guest
  may not reset (drop) its requests on the queues it keeps;
* the ledger checked against counters kept independently of it: the NQAP rejections
  the World saw answered and the ones each workload counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
