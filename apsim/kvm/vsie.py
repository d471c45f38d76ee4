"""Nested virtualization (vSIE): the shadow CRYCB of a guest-2.

A guest-1 that runs its own KVM builds a CRYCB for each of its guests (guest-2s)
in its own memory. When guest-1 issues SIE for a guest-2, the hypervisor below
(the host's KVM, in vsie.c) never lets the firmware read that CRYCB directly: it
builds a *shadow* CRYCB whose APCB is the AND of what guest-1 wants for the
guest-2 and what guest-1 itself was granted, so a guest-2 can never reach an APQN
its guest-1 cannot. Incompatible layouts or unreadable CRYCBs end in a validity
intercept instead of a SIE entry.

Modelled after arch/s390/kvm/vsie.c ``shadow_crycb`` and ``setup_apcb``/
``setup_apcb00``/``setup_apcb10``/``setup_apcb11`` (reference §9), on 256-byte
CRYCB images at the kernel's offsets (:mod:`apsim.kvm.crycb`). In the order the
kernel checks:

1. ``apie_s`` = guest-1's ECA_APIE AND the guest-2 SIE block's ECA_APIE. Without
   ``apie_s``, and with either no MSAX3 for guest-1 or a format-0 guest-2 CRYCB,
   the guest-2 gets no CRYCB at all (CRYCBD 0).
2. CRYCB address 0 → validity 0x0039.
3. Format-1 CRYCB whose 128 bytes cross a page → 0x003C.
4. Only with ``apie_s``: the APCB is shadowed per the format pair (2 on 2: AND of
   APCB1; 1 on 2 and 0 on 2: APCB1 word 0 from APCB0, AQM/ADM limited to ids
   0-15; 1 on 1, 0 on 1, 0 on 0: AND of APCB0; 2 on 0/1, 1 on 0 and the undefined
   format bits 0b10 → 0x0022); format 2 crossing a page with 256 bytes and format
   0 with 32 bytes → 0x003C; a failing guest-memory read → 0x0035. The shadow then
   gets ECA_APIE.
5. The shadow is always tagged format 2.

The page-crossing test compares the page of the first byte with the page of the
byte *after* the block, exactly as vsie.c does. Key wrapping (ECB3 AES/DEA, the
wrapping-key masks) is not modelled.

How the firmware reads a format-2-tagged shadow is not documented; vsie.c says the
tag lets the firmware "choose the right format". apsim reads APCB1 when the machine
has APXA and APCB0 otherwise [U]; both agree with every format pair KVM produces on
such a machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from apsim.errors import ValidityIntercept
from apsim.kvm import crycb as cb
from apsim.masks import Mask

if TYPE_CHECKING:
    from apsim.kvm.vm import KVM

PAGE_SIZE = 4096
_PAGE_MASK = ~(PAGE_SIZE - 1)
CRYCB_ADDRESS_MASK = 0x7FFFFFF8
"""vsie.c takes the guest CRYCB address from CRYCBD with this mask."""

VALIDITY_FORMAT = 0x0022
"""The guest-2 CRYCB format cannot be shadowed on guest-1's format."""
VALIDITY_READ = 0x0035
"""Reading the guest-2 CRYCB from guest-1 memory failed."""
VALIDITY_NO_ADDRESS = 0x0039
"""The guest-2 CRYCB address is 0."""
VALIDITY_PAGE = 0x003C
"""The guest-2 CRYCB crosses a page boundary."""

SHADOW_ADDRESS = 0x2000
"""Where an intermediate hypervisor keeps a shadow it built (page aligned, in its own
memory) when the level below shadows it again (guest-3 and deeper)."""

GuestReader = Callable[[int, int], bytes | None]
"""``read(guest_physical_address, size)`` → the bytes, or None when the read fails."""


@dataclass(frozen=True)
class ShadowCrycb:
    """The result of shadowing one nested CRYCB.

    ``crycbd`` is 0 when the nested guest gets no CRYCB, else the format-2 tag
    (``0b11``; the host address is not modelled). ``apie`` is ECA_APIE of the shadow
    SIE block. ``image`` is the 256-byte shadow CRYCB.
    """

    crycbd: int
    apie: bool
    image: bytes

    def masks(self, machine_apxa: bool) -> tuple[Mask, Mask, Mask]:
        """(APM, AQM, ADM) the firmware checks the nested guest's instructions against."""
        if not self.crycbd:
            return Mask.empty(), Mask.empty(), Mask.empty()
        return cb.read_apcb(self.image, 2 if machine_apxa else 1)


def crosses_page(address: int, size: int) -> bool:
    """vsie.c's page test: the page of *address* differs from that of *address + size*."""
    return (address & _PAGE_MASK) != ((address + size) & _PAGE_MASK)


def memory_reader(memory_size: int, base: int, image: bytes | bytearray) -> GuestReader:
    """A reader of a guest memory of *memory_size* bytes holding *image* at *base*.

    Reads beyond the memory fail (None); bytes outside the image read as zero.
    """
    data = bytes(image)

    def read(address: int, size: int) -> bytes | None:
        if address < 0 or size < 0 or address + size > memory_size:
            return None
        # A read that overlaps the image only in part (a CRYCB designation whose low
        # address bits vsie.c masks off) sees the image's bytes where they lie.
        out = bytearray(size)
        lo, hi = max(address, base), min(address + size, base + len(data))
        if lo < hi:
            out[lo - address:hi - address] = data[lo - base:hi - base]
        return bytes(out)

    return read


def _and(a: bytes, b: bytes) -> bytes:
    return bytes(x & y for x, y in zip(a, b, strict=True))


def _validity(code: int, reason: str) -> ValidityIntercept:
    return ValidityIntercept(code, reason)


def _setup_apcb11(shadow: bytearray, addr: int, host: bytes, read: GuestReader) -> None:
    """Format 2 on format 2: APCB1 := guest-2 APCB1 AND guest-1 APCB1 (128 bytes)."""
    data = read(addr + cb.APCB1_OFFSET, cb.APCB1_SIZE)
    if data is None:
        raise _validity(VALIDITY_READ, "guest-2 APCB1 cannot be read from guest-1 memory")
    end = cb.APCB1_OFFSET + cb.APCB1_SIZE
    shadow[cb.APCB1_OFFSET:end] = _and(data, host[cb.APCB1_OFFSET:end])


def _setup_apcb10(shadow: bytearray, addr: int, host: bytes, read: GuestReader) -> None:
    """Format 0/1 on format 2: APCB1 word 0 from the guest-2 APCB0 AND guest-1 APCB1.

    The APM keeps all 64 bits of the word; the AQM and ADM only ids 0-15.
    """
    data = read(addr + cb.APCB0_OFFSET, cb.APCB0_SIZE)
    if data is None:
        raise _validity(VALIDITY_READ, "guest-2 APCB0 cannot be read from guest-1 memory")
    o_apm, o_aqm, o_adm = data[0x00:0x08], data[0x08:0x10], data[0x10:0x18]
    keep16 = bytes([0xFF, 0xFF]) + bytes(6)
    shadow[cb.APCB1_APM:cb.APCB1_APM + 8] = _and(host[cb.APCB1_APM:cb.APCB1_APM + 8], o_apm)
    shadow[cb.APCB1_AQM:cb.APCB1_AQM + 8] = _and(_and(host[cb.APCB1_AQM:cb.APCB1_AQM + 8], o_aqm), keep16)
    shadow[cb.APCB1_ADM:cb.APCB1_ADM + 8] = _and(_and(host[cb.APCB1_ADM:cb.APCB1_ADM + 8], o_adm), keep16)


def _setup_apcb00(shadow: bytearray, addr: int, host: bytes, read: GuestReader) -> None:
    """Format 0/1 on format 0/1: APCB0 := guest-2 APCB0 AND guest-1 APCB0 (32 bytes)."""
    data = read(addr + cb.APCB0_OFFSET, cb.APCB0_SIZE)
    if data is None:
        raise _validity(VALIDITY_READ, "guest-2 APCB0 cannot be read from guest-1 memory")
    end = cb.APCB0_OFFSET + cb.APCB0_SIZE
    shadow[cb.APCB0_OFFSET:end] = _and(data, host[cb.APCB0_OFFSET:end])


def _setup_apcb(shadow: bytearray, addr: int, fmt_o: int, host: bytes, fmt_h: int,
                read: GuestReader) -> None:
    """``setup_apcb``: pick the copy for the (guest-2, guest-1) format pair."""
    if fmt_o == 0b11:
        if crosses_page(addr, cb.CRYCB_SIZE):
            raise _validity(VALIDITY_PAGE, "format-2 guest-2 CRYCB crosses a page")
        if fmt_h != 0b11:
            raise _validity(VALIDITY_FORMAT, "format-2 guest-2 CRYCB on a format-0/1 guest-1")
        _setup_apcb11(shadow, addr, host, read)
        return
    if fmt_o == 0b01:
        if fmt_h == 0b11:
            _setup_apcb10(shadow, addr, host, read)
            return
        if fmt_h == 0b01:
            _setup_apcb00(shadow, addr, host, read)
            return
        raise _validity(VALIDITY_FORMAT, "format-1 guest-2 CRYCB on a format-0 guest-1")
    if fmt_o == 0b00:
        if crosses_page(addr, cb.APCB0_SIZE):
            raise _validity(VALIDITY_PAGE, "format-0 guest-2 CRYCB crosses a page")
        if fmt_h == 0b11:
            _setup_apcb10(shadow, addr, host, read)
        else:
            _setup_apcb00(shadow, addr, host, read)
        return
    raise _validity(VALIDITY_FORMAT, f"undefined CRYCB format bits {fmt_o:#04b}")


def shadow_step(*, host_image: bytes | bytearray, host_crycbd: int, host_apie: bool,
                host_msax3: bool, orig_crycbd: int, orig_apie: bool,
                read_guest: GuestReader) -> ShadowCrycb:
    """One vsie.c ``shadow_crycb`` call.

    *host_** describe the guest that issues SIE (its own CRYCB as its hypervisor
    built it, the format bits of its CRYCBD, its ECA_APIE and MSAX3); *orig_** the
    SIE block it hands over (CRYCBD with address and format bits, ECA_APIE), whose
    CRYCB is read from the issuer's memory with *read_guest*. Raises
    :class:`~apsim.errors.ValidityIntercept`.
    """
    fmt_o = orig_crycbd & cb.CRYCB_FORMAT_MASK
    fmt_h = host_crycbd & cb.CRYCB_FORMAT_MASK
    addr = orig_crycbd & CRYCB_ADDRESS_MASK
    apie_s = bool(host_apie and orig_apie)
    if not apie_s and (not host_msax3 or fmt_o == 0b00):
        return ShadowCrycb(0, False, bytes(cb.CRYCB_SIZE))
    if not addr:
        raise _validity(VALIDITY_NO_ADDRESS, "guest-2 CRYCB address is 0")
    if fmt_o == 0b01 and crosses_page(addr, cb.APCB1_OFFSET):
        raise _validity(VALIDITY_PAGE, "format-1 guest-2 CRYCB crosses a page")
    shadow = cb.empty_image()
    if apie_s:
        _setup_apcb(shadow, addr, fmt_o, bytes(host_image), fmt_h, read_guest)
    return ShadowCrycb(cb.format_bits(2), apie_s, bytes(shadow))


def shadow_crycb(g1: KVM, g2_crycb_format: int, g2_apie: bool, apm: Mask, aqm: Mask, adm: Mask,
                 *, crycb_addr: int = 0x10_0000) -> ShadowCrycb:
    """Shadow a guest-2 CRYCB that guest-1's KVM built, against guest-1's own CRYCB.

    The guest-2 CRYCB is built as guest-1's KVM writes it (*apm*/*aqm*/*adm* through
    *g2_crycb_format*) at *crycb_addr* in guest-1 memory (``g1.memory_size`` bytes).
    Returns the shadow, or raises :class:`~apsim.errors.ValidityIntercept` with the
    code of §9's table; ``result.masks(machine_apxa)`` are the masks SIE then checks.
    """
    image = cb.encode_crycb(g2_crycb_format, apm, aqm, adm)
    return shadow_step(host_image=g1.crycb_image, host_crycbd=g1.crycbd, host_apie=g1.apie,
                       host_msax3=g1.cpu.msax3,
                       orig_crycbd=cb.crycbd(crycb_addr, g2_crycb_format), orig_apie=g2_apie,
                       read_guest=memory_reader(g1.memory_size, crycb_addr, image))


def effective_shadow(kvm: KVM) -> ShadowCrycb:
    """The shadow the real firmware runs a nested *kvm* with, through every level.

    First the hypervisor of *kvm*'s parent shadows *kvm*'s own CRYCB against the
    parent's; for a guest-3 or deeper, each hypervisor below shadows the shadow
    above it again (as a format-2 CRYCB in the issuer's memory) against its own
    guest's CRYCB, down to the first-level guest. Raises ValidityIntercept.
    """
    host = kvm.parent
    if host is None:
        raise ValueError(f"{kvm.name} is not a nested guest")
    shadow = shadow_step(host_image=host.crycb_image, host_crycbd=host.crycbd,
                         host_apie=host.apie, host_msax3=host.cpu.msax3,
                         orig_crycbd=kvm.crycbd, orig_apie=kvm.apie,
                         read_guest=memory_reader(host.memory_size, kvm.crycb_addr, kvm.crycb_image))
    while host.parent is not None:
        # The issuer now runs the shadow it built; the level below shadows it again
        # against the issuer's own CRYCB.
        host = host.parent
        orig = (SHADOW_ADDRESS | shadow.crycbd) if shadow.crycbd else 0
        shadow = shadow_step(host_image=host.crycb_image, host_crycbd=host.crycbd,
                             host_apie=host.apie, host_msax3=host.cpu.msax3,
                             orig_crycbd=orig, orig_apie=shadow.apie,
                             read_guest=memory_reader(host.memory_size, SHADOW_ADDRESS, shadow.image))
    return shadow
