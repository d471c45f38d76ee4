"""A second, independent statement of apsim's isolation rules, with plain sets.

No SimPy, no bitarray, no apsim code: the state machine in test_isolation.py drives
the real simulator and mirrors every accepted change here, then checks that the
guest masks apsim computed equal what these few lines say the kernel computes.

Rules (reference §10.1, §11.2, §11.4, §3):
* An APQN (a, q) is host-owned when a ∈ apmask and q ∈ aqmask.
* A queue device exists when a is in the host configuration's APM, q in its AQM and
  the adapter is installed with type CEX4 or newer; it is bound to vfio_ap when it
  exists and is not host-owned.
* An assignment is accepted when no APQN of the new matrix is host-owned and no
  APQN is in another mdev's matrix (in that order: EADDRNOTAVAIL before EADDRINUSE).
* A write of apmask/aqmask that sets bits R that were clear is refused (EBUSY)
  when some mdev holds an APQN of R × all domains (apmask) or all adapters × R
  (aqmask); clearing bits is never refused.
* A guest can open an mdev that exists and that no other guest has open.
* Guest APCB (vfio_ap filtering): AQM = assigned ∩ host AQM; APM = the assigned
  adapters in the host APM all of whose APQNs (a, q∈AQM) are bound to vfio_ap;
  ADM = assigned control domains ∩ host ADM. A guest without a running mdev has
  empty masks; CRYCB formats 0/1 keep only APIDs < 64 and APQIs/ADM < 16.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RefMdev:
    """An mdev's assignment."""

    apm: set[int] = field(default_factory=set)
    aqm: set[int] = field(default_factory=set)
    adm: set[int] = field(default_factory=set)


@dataclass
class RefSystem:
    """Host configuration, masks, mdevs and which guest uses which mdev."""

    installed: dict[int, int] = field(default_factory=dict)  # APID -> hwtype
    host_apm: set[int] = field(default_factory=set)
    host_aqm: set[int] = field(default_factory=set)
    host_adm: set[int] = field(default_factory=set)
    apmask: set[int] = field(default_factory=lambda: set(range(256)))
    aqmask: set[int] = field(default_factory=lambda: set(range(256)))
    mdevs: dict[str, RefMdev] = field(default_factory=dict)
    running: dict[str, str] = field(default_factory=dict)  # guest -> mdev uuid
    formats: dict[str, int] = field(default_factory=dict)  # guest -> CRYCB format

    def host_owned(self, a: int, q: int) -> bool:
        """Whether the default drivers own (a, q)."""
        return a in self.apmask and q in self.aqmask

    def bound_to_vfio(self, a: int, q: int) -> bool:
        """Whether queue (a, q) exists and is bound to vfio_ap."""
        return (a in self.host_apm and q in self.host_aqm and self.installed.get(a, 0) >= 10
                and not self.host_owned(a, q))

    def can_assign(self, uuid: str, apm: set[int], aqm: set[int]) -> str | None:
        """None when the matrix apm × aqm may be given to *uuid*, else the errno name."""
        for a in apm:
            for q in aqm:
                if self.host_owned(a, q):
                    return "EADDRNOTAVAIL"
        for other, m in self.mdevs.items():
            if other != uuid and apm & m.apm and aqm & m.aqm:
                return "EADDRINUSE"
        return None

    def mask_write_errno(self, which: str, new: set[int]) -> str | None:
        """None when *new* may replace apmask/aqmask (*which*), else the errno name."""
        cur = self.apmask if which == "apmask" else self.aqmask
        added = new - cur
        if not added:
            return None
        for m in self.mdevs.values():
            mine, other = (m.apm, m.aqm) if which == "apmask" else (m.aqm, m.apm)
            if added & mine and other:
                return "EBUSY"
        return None

    def set_mask(self, which: str, new: set[int]) -> None:
        """Mirror an accepted apmask/aqmask write."""
        setattr(self, which, set(new))

    def open_errno(self, uuid: str) -> str | None:
        """None when a guest may open *uuid* now, else the errno name."""
        if uuid not in self.mdevs:
            return "ENOENT"
        if uuid in self.running.values():
            return "EBUSY"
        return None

    def remove_mdev(self, uuid: str) -> None:
        """Mirror an mdev removal: a guest using it loses its AP device."""
        self.mdevs.pop(uuid, None)
        for g in [g for g, u in self.running.items() if u == uuid]:
            del self.running[g]

    def shadow(self, uuid: str) -> tuple[set[int], set[int], set[int]]:
        """What vfio_ap gives a guest of this mdev."""
        m = self.mdevs[uuid]
        aqm = m.aqm & self.host_aqm
        apm = {a for a in m.apm & self.host_apm if all(self.bound_to_vfio(a, q) for q in aqm)}
        adm = m.adm & self.host_adm
        return apm, aqm, adm

    def guest_masks(self, guest: str) -> tuple[set[int], set[int], set[int]]:
        """The masks in the guest's CRYCB as seen through its format."""
        uuid = self.running.get(guest)
        if uuid is None or uuid not in self.mdevs:
            return set(), set(), set()
        apm, aqm, adm = self.shadow(uuid)
        if self.formats.get(guest, 2) != 2:
            apm = {a for a in apm if a < 64}
            aqm = {q for q in aqm if q < 16}
            adm = {d for d in adm if d < 16}
        return apm, aqm, adm

    def guest_apqns(self, guest: str) -> set[tuple[int, int]]:
        """Every APQN the guest can reach."""
        apm, aqm, _ = self.guest_masks(guest)
        return {(a, q) for a in apm for q in aqm}
