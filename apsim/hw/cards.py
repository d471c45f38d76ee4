"""Crypto Express adapter generations, modes and their architected properties.

Hardware types follow ``AP_DEVICE_TYPE_*`` (CEX4 = 10 … CEX8 = 14); facility bits
follow the TAPQ (T=1) GR2 layout (``struct ap_tapq_hwinfo``). Anything the sources
do not fix (engines per adapter, message limits per generation) is a named
default that scenarios may override.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class CardType(Enum):
    """Crypto Express generation with its AP hardware type number.

    CEX2 and CEX3 predate the kernel's support (``ap_get_compatible_type`` drops AP
    types below CEX4): each ran as an accelerator (CEX2A 6, CEX3A 8) or a CCA
    coprocessor (CEX2C 7, CEX3C 9), so their AP type depends on the mode
    (:attr:`CardSpec.ap_type`); the member's value is the accelerator's.
    """

    CEX2 = 6
    CEX3 = 8
    CEX4 = 10
    CEX5 = 11
    CEX6 = 12
    CEX7 = 13
    CEX8 = 14

    @property
    def hwtype(self) -> int:
        """The AP type (``hwtype`` sysfs attribute, TAPQ ``at``); CEX2/CEX3: of the accelerator."""
        return self.value

    @property
    def pre_cex4(self) -> bool:
        """An adapter older than CEX4 (AP types 6..9): no Linux driver supports it today."""
        return self.value < CardType.CEX4.value

    @classmethod
    def parse(cls, text: str) -> CardType:
        """``"CEX7"`` (any case, an ``S`` suffix allowed) to a CardType."""
        t = str(text).strip().upper()
        if t.endswith("S"):
            t = t[:-1]
        try:
            return cls[t]
        except KeyError:
            raise ValueError(f"unknown adapter type {text!r} (CEX2, CEX3, CEX4, CEX5, CEX6, CEX7 or CEX8)") from None


class Mode(Enum):
    """Adapter mode: the letter is the suffix of the card's ``type`` (CEX7C, CEX7A, CEX7P)."""

    ACCELERATOR = "accelerator"
    CCA = "cca"
    EP11 = "ep11"

    @property
    def letter(self) -> str:
        """Type suffix: A, C or P."""
        return {"accelerator": "A", "cca": "C", "ep11": "P"}[self.value]

    @property
    def lszcrypt_mode(self) -> str:
        """The MODE column of lszcrypt."""
        return {"accelerator": "Accelerator", "cca": "CCA-Coproc", "ep11": "EP11-Coproc"}[self.value]

    @classmethod
    def parse(cls, text: str) -> Mode:
        """``accelerator`` / ``cca`` / ``ep11`` (also ``accel``, ``A``, ``C``, ``P``)."""
        t = str(text).strip().lower()
        aliases = {"accel": "accelerator", "a": "accelerator", "c": "cca", "p": "ep11", "xcp": "ep11"}
        t = aliases.get(t, t)
        try:
            return cls(t)
        except ValueError:
            raise ValueError(f"unknown adapter mode {text!r} (accelerator, cca or ep11)") from None


# TAPQ T=1 GR2 bits, numbered from the MSB of the 64-bit register.
def _bit(n: int) -> int:
    return 1 << (63 - n)


HW_APSC = _bit(0)
HW_MEX4K = _bit(1)
HW_CRT4K = _bit(2)
HW_CCA = _bit(3)
HW_ACCEL = _bit(4)
HW_EP11 = _bit(5)
HW_APXA = _bit(6)
HW_SLCF = _bit(7)
HW_CLASS_SHIFT = 63 - 15
HW_BS_SHIFT = 63 - 17
HW_AT_SHIFT = 63 - 39
HW_ND_SHIFT = 63 - 47
HW_ML_SHIFT = 63 - 55
HW_QD_SHIFT = 63 - 63

# The card's ap_functions attribute is the top 32 bits of the hwinfo word; lszcrypt
# reads mode and FUNCTIONS flags from it (0x10000000 CCA, 0x08000000 Accel, ...).
FUNC_MASK_SHIFT = 32

DEFAULT_QUEUE_DEPTH = 8
"""Firmware slots per APQN (TAPQ qd = 7 means 8 slots)."""

DEFAULT_MAX_MSG = 12 * 1024
"""The kernel's AP_DEFAULT_MAX_MSG_SIZE, used when TAPQ ml is 0."""


SERIALNR_LENGTH = {"cca": 8, "ep11": 16}
"""Length of the serial number field the firmware reports: CCA's STATICSA query answers
8 characters, the EP11 module query a 16-character field, blank-padded like PKCS#11's
(zcrypt_ccamisc.c, zcrypt_ep11misc.c; lszcrypt -s shows the first 8 of either)."""
_SERIALNR_CHARS = re.compile(r"[0-9A-Z]+")


def check_serialnr(mode: Mode, serialnr: str) -> str:
    """The serial number field a card of *mode* reports for *serialnr*, or ValueError naming the rule.

    Only coprocessors have one (the kernel creates ``serialnr`` for CCA and EP11 cards
    only). It is digits and upper-case letters: exactly 8 for CCA; up to 16 for EP11,
    returned blank-padded to the field's 16 characters.
    """
    length = SERIALNR_LENGTH.get(mode.value)
    if length is None:
        raise ValueError("an accelerator has no serial number (only CCA and EP11 cards report one)")
    text = serialnr.rstrip(" ") if isinstance(serialnr, str) and mode is Mode.EP11 else serialnr
    exact = mode is Mode.CCA
    if (not isinstance(text, str) or not _SERIALNR_CHARS.fullmatch(text)
            or (len(text) != length if exact else len(text) > length)):
        what = "8 characters" if exact else "up to 16 characters"
        card = "a CCA" if exact else "an EP11"
        raise ValueError(f"serialnr {serialnr!r}: {card} card reports {what} of digits and upper-case "
                         f"letters (e.g. '93AABEHR')")
    return text.ljust(length)


@dataclass(frozen=True)
class CardSpec:
    """What one installed adapter is: generation, mode and its architected limits."""

    type: CardType
    mode: Mode
    engines: int = 4
    queue_depth: int = DEFAULT_QUEUE_DEPTH
    ml: int = 0
    """TAPQ ml: max message length in 4 KiB units (0 means the 12 KiB default)."""
    num_domains: int = 85
    apsc: bool = True
    mex4k: bool = True
    crt4k: bool = True
    apxa: bool = True
    slcf: bool = False
    serialnr: str | None = None
    """The serial number the card's firmware reports (CCA, EP11); None: not known."""

    def __post_init__(self) -> None:
        if self.serialnr is not None:  # frozen: store the field as the firmware reports it
            object.__setattr__(self, "serialnr", check_serialnr(self.mode, self.serialnr))
        if not 1 <= self.engines <= 5:
            raise ValueError(f"engines must be 1..5, not {self.engines}")
        if not 1 <= self.queue_depth <= 16:
            raise ValueError(f"queue_depth must be 1..16, not {self.queue_depth}")
        if not 0 <= self.ml <= 15:
            raise ValueError(f"ml must be 0..15 (4 KiB units), not {self.ml}")
        if self.type.pre_cex4 and self.mode is Mode.EP11:
            raise ValueError(f"a {self.type.name} runs as an accelerator ({self.type.name}A) or a CCA "
                             f"coprocessor ({self.type.name}C); EP11 came with CEX4P")
        if self.type.pre_cex4 and self.serialnr is not None:
            raise ValueError(f"a {self.type.name} gets no card device (the AP bus supports CEX4 and "
                             f"newer), so no serialnr attribute shows one")

    @property
    def ap_type(self) -> int:
        """The AP type TAPQ reports: the generation's, or for CEX2/CEX3 by mode (6/7, 8/9)."""
        if self.type.pre_cex4 and self.mode is Mode.CCA:
            return self.type.value + 1
        return self.type.value

    @property
    def max_msg_size(self) -> int:
        """Largest NQAP message in bytes (ml × 4096 when ml > 3, else 12 KiB, as ap_card.c)."""
        return self.ml * 4096 if self.ml > 3 else DEFAULT_MAX_MSG

    @property
    def type_name(self) -> str:
        """The card's ``type`` attribute, e.g. ``CEX7C``."""
        return f"{self.type.name}{self.mode.letter}"

    def hwinfo(self, bind_state: int = 0) -> int:
        """The TAPQ (T=1) GR2 value for a queue of this card."""
        v = 0
        if self.apsc:
            v |= HW_APSC
        if self.mex4k:
            v |= HW_MEX4K
        if self.crt4k:
            v |= HW_CRT4K
        v |= {Mode.CCA: HW_CCA, Mode.ACCELERATOR: HW_ACCEL, Mode.EP11: HW_EP11}[self.mode]
        if self.apxa:
            v |= HW_APXA
        if self.slcf:
            v |= HW_SLCF
        v |= (bind_state & 3) << HW_BS_SHIFT
        v |= (self.ap_type & 0xFF) << HW_AT_SHIFT
        v |= (self.num_domains & 0xFF) << HW_ND_SHIFT
        v |= (self.ml & 0xF) << HW_ML_SHIFT
        v |= ((self.queue_depth - 1) & 0xF) << HW_QD_SHIFT
        return v

    @property
    def functions(self) -> int:
        """The ``ap_functions`` sysfs value (top 32 bits of hwinfo, bind state masked)."""
        return (self.hwinfo() >> FUNC_MASK_SHIFT) & 0xFFFF0000


def decode_hwinfo(v: int) -> dict[str, int | bool]:
    """Split a TAPQ GR2 value into its named fields (for tests and traces)."""
    return {
        "apsc": bool(v & HW_APSC), "mex4k": bool(v & HW_MEX4K), "crt4k": bool(v & HW_CRT4K),
        "cca": bool(v & HW_CCA), "accel": bool(v & HW_ACCEL), "ep11": bool(v & HW_EP11),
        "apxa": bool(v & HW_APXA), "slcf": bool(v & HW_SLCF),
        "class": (v >> HW_CLASS_SHIFT) & 0xFF, "bs": (v >> HW_BS_SHIFT) & 3,
        "at": (v >> HW_AT_SHIFT) & 0xFF, "nd": (v >> HW_ND_SHIFT) & 0xFF,
        "ml": (v >> HW_ML_SHIFT) & 0xF, "qd": (v >> HW_QD_SHIFT) & 0xF,
    }
