"""s390-tools' ``ap-check``: the mdevctl callout that vets vfio_ap mdev definitions and starts.

mdevctl runs the callout before it defines, modifies or starts an mdev of type
``vfio_ap-passthrough`` and gives up when it refuses. The rules (s390-tools
``ap_tools/ap-check.c`` and ``libap``):

* **define / modify** of an ``auto`` mdev: no APQN may be shared with another
  ``auto`` definition ("APQN a.d is defined for autostart by UUID"), and none may lie
  in the persistent ``apmask`` x ``aqmask`` of ``/etc/udev/rules.d/41-ap.rules``
  ("AQPN a.d is not defined for vfio_ap-passthrough use by the persistent ap bus
  mask settings"). ``manual`` definitions are not checked.
* **start**: control domains need at least one usage domain ("At least one usage
  domain must be specified"); no APQN may be in another active mdev's ``matrix``
  ("APQN a.d already in use by UUID") or in the active ``apmask`` x ``aqmask``
  ("AQPN a.d is not allowed for vfio_ap-passthrough use by the active ap bus mask
  settings").

Every conflicting APQN gets its own line, ids in decimal; the ``AQPN`` spelling is
the tool's own. The attributes are read as libap reads them: ``strtol(…, 0)`` on
each comma-separated number, ``ap_config`` replacing all three lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from apsim.masks import Mask

__all__ = ["APCheckDevice", "device_from_attrs", "parse_matrix_text", "check_define", "check_start",
           "MDEV_TYPE"]

MDEV_TYPE = "vfio_ap-passthrough"


@dataclass(frozen=True)
class APCheckDevice:
    """The adapters, usage domains and control domains ap-check reads from a definition."""

    adapters: frozenset[int]
    domains: frozenset[int]
    controls: frozenset[int]

    def apqns(self) -> list[tuple[int, int]]:
        """Every (adapter, domain) pair, in ap-check's (sorted) order."""
        return [(a, d) for a in sorted(self.adapters) for d in sorted(self.domains)]


def _strtol0(text: str) -> int:
    """C ``strtol(text, NULL, 0)``: leading digits in base 10, 0x hex or 0 octal; 0 if none."""
    s = text.strip()
    neg = s.startswith("-")
    s = s.lstrip("+-")
    if s[:2].lower() == "0x":
        base, s = 16, s[2:]
    elif s.startswith("0") and len(s) > 1:
        base, s = 8, s[1:]
    else:
        base = 10
    digits = "0123456789abcdef"[:base]
    n = 0
    for c in s.lower():
        if c not in digits:
            break
        n = n * base + digits.index(c)
    return -n if neg else n


def device_from_attrs(attrs: Iterable[tuple[str, str]]) -> APCheckDevice:
    """The device libap builds from a definition's ordered ``attrs``."""
    lists: dict[str, set[int]] = {"assign_adapter": set(), "assign_domain": set(),
                                  "assign_control_domain": set()}
    for key, value in attrs:
        if key in lists:
            lists[key].update(_strtol0(v) for v in value.split(",") if v)
        elif key == "ap_config":
            parts = value.strip().split(",")
            if len(parts) == 3:
                for k, text in zip(lists, parts):
                    lists[k] = set(Mask.from_hex(text).ids())
    return APCheckDevice(frozenset(lists["assign_adapter"]), frozenset(lists["assign_domain"]),
                         frozenset(lists["assign_control_domain"]))


def parse_matrix_text(text: str) -> APCheckDevice:
    """A device from an active mdev's ``matrix`` attribute (``aa.dddd`` lines, hex)."""
    adapters: set[int] = set()
    domains: set[int] = set()
    for line in text.splitlines():
        a, _, d = line.partition(".")
        if a:
            adapters.add(int(a, 16))
        if d:
            domains.add(int(d, 16))
    return APCheckDevice(frozenset(adapters), frozenset(domains), frozenset())


def _conflicts(dev: APCheckDevice, other: APCheckDevice) -> list[tuple[int, int]]:
    return [(a, d) for a, d in dev.apqns() if a in other.adapters and d in other.domains]


def _mask_device(apmask: Mask, aqmask: Mask) -> APCheckDevice:
    # ap-check treats the host's masks as one more device owning apmask x aqmask.
    return APCheckDevice(frozenset(apmask.ids()), frozenset(aqmask.ids()), frozenset())


def check_define(dev: APCheckDevice, *, autostart: bool,
                 other_autostart: Mapping[str, APCheckDevice],
                 persistent_masks: tuple[Mask, Mask]) -> list[str]:
    """ap-check's refusals of a definition (empty: accepted). ``other_autostart``: UUID -> device."""
    if not autostart:
        return []
    out = [f"APQN {a}.{d} is defined for autostart by {uuid}"
           for uuid, other in other_autostart.items() for a, d in _conflicts(dev, other)]
    out += [f"AQPN {a}.{d} is not defined for vfio_ap-passthrough use by the persistent ap bus "
            f"mask settings" for a, d in _conflicts(dev, _mask_device(*persistent_masks))]
    return out


def check_start(dev: APCheckDevice, *, active: Mapping[str, APCheckDevice],
                active_masks: tuple[Mask, Mask]) -> list[str]:
    """ap-check's refusals of a start (empty: accepted). ``active``: UUID -> running mdev."""
    if dev.controls and not dev.domains:
        return ["At least one usage domain must be specified"]
    out = [f"APQN {a}.{d} already in use by {uuid}"
           for uuid, other in active.items() for a, d in _conflicts(dev, other)]
    out += [f"AQPN {a}.{d} is not allowed for vfio_ap-passthrough use by the active ap bus mask "
            f"settings" for a, d in _conflicts(dev, _mask_device(*active_masks))]
    return out


