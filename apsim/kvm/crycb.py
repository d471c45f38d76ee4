"""CRYCB formats 0/1/2 and the byte layout of the APCBs inside a CRYCB.

A KVM guest's AP configuration lives in its crypto control block (CRYCB), a
256-byte block that every vCPU's SIE block designates (CRYCBD: 31-bit address with
the format in the two low bits). Two AP control blocks sit in it:

* APCB0 at 0x00: APM in an 8-byte word (APIDs 0-63), AQM and ADM in 8-byte words of
  which KVM only ever writes the first 2 bytes (APQIs / domains 0-15);
* APCB1 at 0x80: APM, AQM, ADM of 32 bytes each (ids 0-255).

Between them lie the DEA (0x48, 24 bytes) and AES (0x60, 32 bytes) wrapping-key
masks. The format decides which APCB the firmware reads: 0 (guest without MSAX3)
and 1 (MSAX3, host without APXA) use APCB0, 2 (MSAX3 and APXA) uses APCB1.

Sources: arch/s390/include/asm/kvm_host.h (``struct kvm_s390_crypto_cb``,
``kvm_s390_apcb0/1``, ``CRYCB_FORMAT*``), arch/s390/kvm/kvm-s390.c
(``kvm_s390_set_crycb_format``, ``kvm_arch_crypto_set_masks`` and
``kvm_arch_crypto_clear_masks``); reference §3 and §8. The images are kept as bytes
at the kernel's offsets so that :mod:`apsim.kvm.vsie` can AND them byte-wise as
vsie.c does with ``bitmap_and``.
"""

from __future__ import annotations

from apsim.masks import MASK_BITS, Mask

CRYCB_SIZE = 0x100
"""Bytes of one CRYCB (``struct kvm_s390_crypto_cb``)."""

# APCB0 (format 0 and 1): 8-byte words.
APCB0_OFFSET = 0x00
APCB0_SIZE = 0x20
APCB0_APM = 0x00
APCB0_AQM = 0x08
APCB0_ADM = 0x10
# Wrapping-key masks (key wrapping is not modelled; the offsets document the layout).
DEA_WRAPPING_KEY_MASK = 0x48
AES_WRAPPING_KEY_MASK = 0x60
# APCB1 (format 2): 32-byte masks.
APCB1_OFFSET = 0x80
APCB1_SIZE = 0x80
APCB1_APM = 0x80
APCB1_AQM = 0xA0
APCB1_ADM = 0xC0

MASK_BYTES = MASK_BITS // 8
APCB0_APM_BYTES = 8
"""KVM copies 8 bytes of the APM into APCB0 (APIDs 0-63)."""
APCB0_AQM_BYTES = 2
"""KVM copies 2 bytes of the AQM and of the ADM into APCB0 (ids 0-15)."""

CRYCB_FORMAT_MASK = 0x3
"""CRYCBD bits that carry the format."""
_FORMAT_BITS = {0: 0b00, 1: 0b01, 2: 0b11}
_BITS_FORMAT = {0b00: 0, 0b01: 1, 0b11: 2}


def crycb_format(msax3: bool, host_apxa: bool) -> int:
    """The CRYCB format KVM picks for a VM (``kvm_s390_set_crycb_format``).

    Format 0 when the guest lacks MSAX3 (facility 76); otherwise format 2 when the
    host's QCI reports APXA and format 1 when it does not.
    """
    if not msax3:
        return 0
    return 2 if host_apxa else 1


def format_bits(fmt: int) -> int:
    """The CRYCBD low bits of a format: 0 → 0b00, 1 → 0b01, 2 → 0b11."""
    try:
        return _FORMAT_BITS[fmt]
    except KeyError:
        raise ValueError(f"CRYCB format {fmt!r} is not 0, 1 or 2") from None


def format_of_bits(bits: int) -> int | None:
    """The format named by CRYCBD low bits; ``None`` for the undefined value 0b10."""
    return _BITS_FORMAT.get(bits & CRYCB_FORMAT_MASK)


def mask_widths(fmt: int) -> tuple[int, int, int]:
    """Bits of APM, AQM and ADM a format can express: (64, 16, 16) or (256, 256, 256)."""
    format_bits(fmt)
    if fmt == 2:
        return MASK_BITS, MASK_BITS, MASK_BITS
    return APCB0_APM_BYTES * 8, APCB0_AQM_BYTES * 8, APCB0_AQM_BYTES * 8


def apcb_view(fmt: int, apm: Mask, aqm: Mask, adm: Mask) -> tuple[Mask, Mask, Mask]:
    """The masks as a guest with CRYCB format *fmt* receives them.

    The truncation rule: with format 0/1 only APIDs 0-63 and APQIs/control domains
    0-15 fit into APCB0; the others never reach the guest.
    """
    wa, wq, wd = mask_widths(fmt)
    return apm.truncated(wa), aqm.truncated(wq), adm.truncated(wd)


def empty_image() -> bytearray:
    """A zeroed CRYCB image."""
    return bytearray(CRYCB_SIZE)


def write_apcb(image: bytearray, fmt: int, apm: Mask, aqm: Mask, adm: Mask) -> None:
    """Copy masks into *image* the way ``kvm_arch_crypto_set_masks`` does.

    Format 2: 32 bytes each into APCB1. Format 0/1: the first 8 bytes of the APM and
    the first 2 bytes of the AQM and ADM into APCB0 (the rest of APCB0's words is
    left as it was, which for a KVM-built CRYCB is zero).
    """
    if len(image) != CRYCB_SIZE:
        raise ValueError(f"a CRYCB image has {CRYCB_SIZE} bytes")
    format_bits(fmt)
    if fmt == 2:
        image[APCB1_APM:APCB1_APM + MASK_BYTES] = apm.to_bytes()
        image[APCB1_AQM:APCB1_AQM + MASK_BYTES] = aqm.to_bytes()
        image[APCB1_ADM:APCB1_ADM + MASK_BYTES] = adm.to_bytes()
        return
    image[APCB0_APM:APCB0_APM + APCB0_APM_BYTES] = apm.to_bytes()[:APCB0_APM_BYTES]
    image[APCB0_AQM:APCB0_AQM + APCB0_AQM_BYTES] = aqm.to_bytes()[:APCB0_AQM_BYTES]
    image[APCB0_ADM:APCB0_ADM + APCB0_AQM_BYTES] = adm.to_bytes()[:APCB0_AQM_BYTES]


def clear_apcbs(image: bytearray) -> None:
    """Zero APCB0 and APCB1, as ``kvm_arch_crypto_clear_masks`` does."""
    image[APCB0_OFFSET:APCB0_OFFSET + APCB0_SIZE] = bytes(APCB0_SIZE)
    image[APCB1_OFFSET:APCB1_OFFSET + APCB1_SIZE] = bytes(APCB1_SIZE)


def read_apcb(image: bytes | bytearray, fmt: int) -> tuple[Mask, Mask, Mask]:
    """The (APM, AQM, ADM) the firmware checks instructions against for *fmt*.

    Format 2 reads APCB1. Format 0/1 read APCB0 with the widths of the format: the
    APM word gives APIDs 0-63, the first 2 bytes of the AQM and ADM words ids 0-15.
    That firmware ignores the other bits of those words is an assumption [U]; KVM
    never sets them.
    """
    if len(image) != CRYCB_SIZE:
        raise ValueError(f"a CRYCB image has {CRYCB_SIZE} bytes")
    format_bits(fmt)
    if fmt == 2:
        return (Mask.from_bytes(bytes(image[APCB1_APM:APCB1_APM + MASK_BYTES])),
                Mask.from_bytes(bytes(image[APCB1_AQM:APCB1_AQM + MASK_BYTES])),
                Mask.from_bytes(bytes(image[APCB1_ADM:APCB1_ADM + MASK_BYTES])))
    return (Mask.from_bytes(bytes(image[APCB0_APM:APCB0_APM + APCB0_APM_BYTES])),
            Mask.from_bytes(bytes(image[APCB0_AQM:APCB0_AQM + APCB0_AQM_BYTES])),
            Mask.from_bytes(bytes(image[APCB0_ADM:APCB0_ADM + APCB0_AQM_BYTES])))


def encode_crycb(fmt: int, apm: Mask, aqm: Mask, adm: Mask) -> bytes:
    """A fresh CRYCB image holding the masks as KVM writes them for *fmt*."""
    image = empty_image()
    write_apcb(image, fmt, apm, aqm, adm)
    return bytes(image)


def crycbd(address: int, fmt: int) -> int:
    """The 32-bit CRYCB designation: the 31-bit address with the format bits."""
    return (address & 0x7FFFFFFC) | format_bits(fmt)
