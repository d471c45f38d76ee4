"""Kernel version profiles: which release's AP bus, vfio_ap and KVM a Linux runs.

The default is the newest mainline release the reference covers, with every
behaviour of its code, including the ones older apsim releases called "quirks"
(reference §15 items 16-22): they are what mainline does. A profile selects an
older release (``kernel: "6.12"`` in a scenario) and with it every
version-dependent behaviour, and a separate list of named *fixes* switches on
deviations from mainline for people testing a patch. Every version rule lives in
this module; the drivers ask the profile, never compare versions themselves.

Version boundaries and where they come from:

* 6.8 — ``vfio_ap_irq_enable`` unpins the NIB page when the guest ISC cannot be
  registered and answers 0x06 (before: 0x08, page left pinned).
* 6.15 — upstream commit d33d729afcc8 ("s390/vfio-ap: Fix no AP queue sharing allowed
  message written to kernel log"): before it, ``vfio_ap_mdev_log_sharing_err`` logs
  "Userspace may not re-assign queue AA.QQQQ already assigned to <uuid>" on the mdev
  that holds the queue, naming itself, for both a sharing conflict and an apmask/
  aqmask reservation; since, "Userspace may not assign queue … to mdev: already
  assigned to …" on the assignee and "Can not reserve queue … for host driver: in
  use by mdev" for the reservation. 6.15 also adds the config-change eventfd (VFIO
  IRQ index 1) that QEMU turns into a CHSC event (reference §15 item 15).
* 6.18 — ``vfio_ap_on_cfg_changed``'s ``do_remove`` flag is reset per mdev (the
  reference's v6.16/6.17 copy accumulates it across mdevs, §15 item 18; the exact
  release of the change is inferred, not verified).
* 6.19 — ap_bus.c: the ``driver_override`` attribute of queue devices (refused with
  EINVAL unless apmask and aqmask are all ones; apmask/aqmask writes refused with
  EINVAL while any queue has an override), and ``apmask_commit``/``aqmask_commit``
  ask the drivers' ``in_use`` with an all-ones opposite mask (before: the new mask
  against the current opposite mask).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NEWEST = (6, 19)
"""The newest mainline release the reference covers: the default profile."""

OLDEST = (5, 15)
"""The oldest release modelled: vfio_ap's dynamic configuration (hot plug) starts here."""

FIXES: dict[str, str] = {
    "cdom-unplug-intersect": "on_config_changed removes a control domain the host lost from the guest "
                             "ADM at once (removed ∩ assigned; mainline computes removed − assigned, "
                             "§15 item 16)",
    "unplug-push-empty": "a host-removal unplug pushes the APCB whenever the shadow changed, also when "
                         "the remaining mask is empty (mainline pushes only a non-empty remainder, item 17)",
    "hook-after-eperm": "open_device installs the PQAP hook only after the one-mdev-per-KVM check "
                        "(mainline installs it first, so a refused mdev serves the KVM's AQICs, item 19)",
    "pqap-status-low-word": "KVM's no-hook PQAP(AQIC) path stores the status word in GR1 bits 32-63 "
                            "(mainline copies it to bits 0-31, item 20)",
    "aqic-hook-shadow": "the AQIC hook answers RC 0x01 for a linked queue filtered out of the guest's "
                        "APCB (mainline accepts any linked queue, item 21)",
    "qtype-all-domains": "a new adapter's type is checked on every configured domain (mainline probes "
                         "only newly added domains, item 22)",
}
"""Named deviations from mainline a scenario's ``fixes:`` may switch on, with what each does."""

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?$")


def parse_major_minor(text: str, what: str, example: str, lo: tuple[int, int], hi: tuple[int, int],
                      range_text: str) -> tuple[int, int]:
    """``"6.12"`` or ``"6.12.7"`` → (6, 12) within *lo*..*hi*; ValueError naming *what*
    and the rule otherwise (kernel and QEMU versions are written alike)."""
    m = _VERSION_RE.match(str(text).strip())
    if m is None:
        raise ValueError(f"{what} version {text!r} is not MAJOR.MINOR (e.g. \"{example}\")")
    v = (int(m.group(1)), int(m.group(2)))
    if not lo <= v <= hi:
        raise ValueError(f"{what} version {text!r} is outside {range_text}")
    return v


def parse_version(text: str) -> tuple[int, int]:
    """``"6.12"`` or ``"6.12.7"`` → (6, 12); ValueError naming the rule otherwise."""
    return parse_major_minor(text, "kernel", "6.19", OLDEST, NEWEST,
                             f"the modelled range {OLDEST[0]}.{OLDEST[1]}..{NEWEST[0]}.{NEWEST[1]}")


def check_fixes(names: list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    """The fix names as a set; ValueError listing the known names for an unknown one."""
    unknown = sorted(set(names) - set(FIXES))
    if unknown:
        raise ValueError(f"unknown fix {unknown[0]!r} (known: {', '.join(sorted(FIXES))})")
    return frozenset(names)


@dataclass(frozen=True)
class KernelProfile:
    """One kernel release plus the named fixes applied to it (see :data:`FIXES`)."""

    version: tuple[int, int] = NEWEST
    fixes: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, version: str | None = None, fixes: list[str] | tuple[str, ...] = ()) -> KernelProfile:
        """A profile from a version string (None: :data:`NEWEST`) and fix names."""
        v = NEWEST if version is None else parse_version(version)
        return cls(v, check_fixes(fixes))

    @classmethod
    def all_fixed(cls, version: tuple[int, int] = NEWEST) -> KernelProfile:
        """Every named deviation on: the behaviour the code evidently intends."""
        return cls(version, frozenset(FIXES))

    @property
    def name(self) -> str:
        """``"6.19"``, plus ``+fix,...`` when fixes are applied."""
        base = f"{self.version[0]}.{self.version[1]}"
        return base + ("+" + ",".join(sorted(self.fixes)) if self.fixes else "")

    def fixed(self, name: str) -> bool:
        """Whether the named deviation from mainline is switched on."""
        if name not in FIXES:
            raise KeyError(name)
        return name in self.fixes

    def at_least(self, major: int, minor: int) -> bool:
        """Whether this release is *major.minor* or newer."""
        return self.version >= (major, minor)

    # --- version-dependent behaviours, one predicate each ------------------------------------
    @property
    def new_sharing_messages(self) -> bool:
        """≥ 6.15: "may not assign queue … to mdev" / "Can not reserve queue …" texts."""
        return self.at_least(6, 15)

    @property
    def device_request_irq(self) -> bool:
        """≥ 6.5: vfio_ap has the VFIO request callback and IRQ index 0 (the request eventfd)."""
        return self.at_least(6, 5)

    @property
    def config_change_eventfd(self) -> bool:
        """≥ 6.15: vfio_ap signals APCB changes through VFIO IRQ index 1."""
        return self.at_least(6, 15)

    @property
    def cfg_remove_accumulates(self) -> bool:
        """< 6.18: ``do_remove`` is not reset between mdevs in ``vfio_ap_on_cfg_changed``."""
        return not self.at_least(6, 18)

    @property
    def gisc_failure_unpins(self) -> bool:
        """≥ 6.8: a failed ``kvm_s390_gisc_register`` in ``vfio_ap_irq_enable`` unpins the NIB
        page and answers RC 0x06 (before: the page stays pinned and the guest sees 0x08;
        commits 7b2d039da622 and 3746d48c55ac, release inferred from their merge)."""
        return self.at_least(6, 8)

    @property
    def driver_override(self) -> bool:
        """≥ 6.19: queue devices have ``driver_override`` and the all-ones ``in_use`` check."""
        return self.at_least(6, 19)
