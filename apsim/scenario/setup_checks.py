"""Setup conflicts vfio_ap would refuse, found before the run.

The setup writes each level's ``apmask``/``aqmask``, then creates and assigns the
mdevs in file order, then starts the guests. Three of those writes can only fail
(the run would stop at 0 ns with a failed expectation and no line), so they are
checked on the file with the kernel's rules:

* an APQN (adapter × domain of one mdev's assignment) that an earlier mdev of the
  same level already holds: ``assign_*`` answers EADDRINUSE
  (``vfio_ap_mdev_verify_no_sharing``);
* an APQN whose adapter bit is set in ``apmask`` and domain bit in ``aqmask``
  belongs to the host's zcrypt drivers: EADDRNOTAVAIL
  (``vfio_ap_mdev_validate_masks``);
* two guests of one level whose run times overlap on one mdev: the second open of
  the vfio device answers EBUSY (one KVM per mdev).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from apsim.errors import SysfsError
from apsim.linux.maskparse import parse_mask
from apsim.masks import Mask
from apsim.units import format_duration

if TYPE_CHECKING:
    from apsim.scenario.schema import GuestSpec, HostSpec, MdevSpec, Scenario

Loc = tuple[str | int, ...]

__all__ = ["check_setup"]


def check_setup(sc: Scenario) -> Iterator[tuple[Loc, str]]:
    """Every setup conflict of *sc*, level by level, as ``(loc, rule)``."""
    yield from _level(sc.host, sc.mdevs, sc.guests, (), sc.duration)
    for ref in sc.walk_guests():
        g = ref.spec
        if g.mdevs or g.guests:
            yield from _level(g.host, g.mdevs, g.guests, ref.loc, sc.duration)


def _owned_by_host(host: HostSpec | None) -> tuple[Mask, Mask] | None:
    """The (apmask, aqmask) the level's Linux has after setup; None if unparsable."""
    apm, aqm = Mask.full(), Mask.full()
    try:
        if host is not None and host.apmask is not None:
            apm = parse_mask(host.apmask, apm, path="apmask")
        if host is not None and host.aqmask is not None:
            aqm = parse_mask(host.aqmask, aqm, path="aqmask")
    except SysfsError:
        return None  # the mask itself is reported by the schema
    return apm, aqm


def _level(host: HostSpec | None, mdevs: list[MdevSpec], guests: list[GuestSpec], loc: Loc,
           duration: int) -> Iterator[tuple[Loc, str]]:
    masks = _owned_by_host(host)
    holder: dict[tuple[int, int], int] = {}
    for i, md in enumerate(mdevs):
        base = (*loc, "mdevs", i)
        yield from _mdev(md, base, i, mdevs, holder, masks)
    yield from _shared_mdevs(guests, loc, duration)


def _mdev(md: MdevSpec, base: Loc, i: int, mdevs: list[MdevSpec], holder: dict[tuple[int, int], int],
          masks: tuple[Mask, Mask] | None) -> Iterator[tuple[Loc, str]]:
    # Adapters are assigned before domains, so the first APQN appears with a domain
    # (or with an adapter when domains are empty: then there are no APQNs at all).
    for j, d in enumerate(md.assign_domain):
        for a in md.assign_adapter:
            apqn = f"{a:02x}.{d:04x}"
            other = holder.get((a, d))
            if other is not None and other != i:
                yield (*base, "assign_domain", j), (
                    f"APQN {apqn} is already assigned to mdev {mdevs[other].uuid} "
                    f"(mdevs[{other}]); vfio_ap refuses the write with EADDRINUSE "
                    f"(an APQN belongs to one mdev)")
                return
            if masks is not None and a in masks[0] and d in masks[1]:
                yield (*base, "assign_domain", j), (
                    f"APQN {apqn} belongs to the host's zcrypt drivers (adapter {a:#x} is set in "
                    f"apmask and domain {d:#x} in aqmask); vfio_ap refuses the write with "
                    f"EADDRNOTAVAIL (clear one of the bits, e.g. apmask: \"-{a}\")")
                return
    for a in md.assign_adapter:
        for d in md.assign_domain:
            holder.setdefault((a, d), i)


def _shared_mdevs(guests: list[GuestSpec], loc: Loc, duration: int) -> Iterator[tuple[Loc, str]]:
    users: dict[str, list[tuple[int, GuestSpec]]] = {}
    for i, g in enumerate(guests):
        if g.mdev is None:
            continue
        start, stop = g.start, g.stop if g.stop is not None else duration
        for j, other in users.get(g.mdev, []):
            o_stop = other.stop if other.stop is not None else duration
            if start < o_stop and other.start < stop:
                yield (*loc, "guests", i, "mdev"), (
                    f"mdev {g.mdev} is already used by guest {other.name} (guests[{j}]) from "
                    f"{format_duration(other.start) if other.start else '0'} to "
                    f"{format_duration(o_stop)}; one VM opens an mdev at a time (the second "
                    f"open fails with EBUSY)")
                break
        users.setdefault(g.mdev, []).append((i, g))
