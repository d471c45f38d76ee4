"""The AP configuration a CPU issues instructions under.

An LPAR sees the configuration its activation profile grants (what QCI returns);
a KVM guest sees the APCB of its CRYCB. Both are an :class:`APConfiguration`: the
masks, the maxima Na/Nd, the facilities and a 65,536-entry APQN table that makes
the membership test on the hot path a single index. Masks are swapped only through
:meth:`APConfiguration.set_masks`, which replaces masks and table together, so no
instruction can observe a half-updated configuration.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from apsim.masks import Mask, apqn_table

QCI_SIZE = 128
QCI_FLAG_APSC = 0x80000000
QCI_FLAG_APXA = 0x40000000
QCI_FLAG_QACT = 0x20000000
QCI_FLAG_RC8A = 0x10000000
QCI_FLAG_APSB = 0x00800000

NO_APXA_MAX_APID = 63
NO_APXA_MAX_APQI = 15


@dataclass(frozen=True)
class Facilities:
    """AP facilities installed for a CPU (QEMU CPU-model features ap, apft, apqci, apqi).

    ``apsb`` is the Secure-Execution binding facility (BAPQ/AAPQ), ``qact`` the
    query-compatibility facility, ``apsc`` the special-command facility.
    """

    ap: bool = True
    apft: bool = True
    apqci: bool = True
    apqi: bool = True
    qact: bool = True
    apsc: bool = True
    rc8a: bool = True
    apsb: bool = False


class APConfiguration:
    """Masks, maxima and facilities of one issuer of AP instructions."""

    __slots__ = ("name", "lpar", "apm", "aqm", "adm", "na", "nd", "apxa", "facilities", "secure",
                 "table", "generation", "se_secrets", "se_bind_limit", "se_bound", "dependents",
                 "__weakref__")

    def __init__(self, name: str, lpar: object, *, na: int, nd: int, apxa: bool,
                 facilities: Facilities | None = None, secure: bool = False,
                 apm: Mask | None = None, aqm: Mask | None = None, adm: Mask | None = None) -> None:
        self.name = name
        self.lpar = lpar
        self.na = na
        self.nd = nd
        self.apxa = apxa
        self.facilities = facilities or Facilities()
        self.secure = secure
        self.generation = 0
        self.se_secrets = 8  # association secrets installed for an SE guest
        self.se_bind_limit = 256
        self.se_bound = 0
        self.apm = Mask.empty()
        self.aqm = Mask.empty()
        self.adm = Mask.empty()
        self.table = np.zeros(65536, dtype=bool)
        # Configurations that reach the queues through this one (a guest's APCB over its
        # LPAR's): a change here invalidates what callers cached against them too.
        self.dependents: weakref.WeakSet[APConfiguration] = weakref.WeakSet()
        self.set_masks(apm or Mask.empty(), aqm or Mask.empty(), adm or Mask.empty())

    @property
    def max_apid(self) -> int:
        """Largest APID an instruction may name without a specification exception."""
        return self.na if self.apxa else NO_APXA_MAX_APID

    @property
    def max_apqi(self) -> int:
        """Largest APQI an instruction may name without a specification exception."""
        return self.nd if self.apxa else NO_APXA_MAX_APQI

    def set_masks(self, apm: Mask, aqm: Mask, adm: Mask) -> None:
        """Replace all three masks and the APQN table in one step."""
        table = apqn_table(apm, aqm)
        self.apm, self.aqm, self.adm, self.table = apm, aqm, adm, table
        self.bump()

    def bump(self) -> None:
        """Invalidate queue links cached against this configuration and its dependents.

        Callers may keep the physical queue of an APQN while ``generation`` is
        unchanged (see :func:`apsim.engine.instructions.nqap_queue`); a guest's links
        also depend on its LPAR's queue map, so the LPAR's changes bump the guest's
        configuration as well.
        """
        self.generation += 1
        for d in list(self.dependents):
            d.bump()

    def allows(self, apqn: int) -> bool:
        """Whether APQN is in APM × AQM."""
        return bool(self.table[apqn])

    def qci_block(self) -> bytes:
        """The 128-byte QCI information block of this configuration."""
        f = self.facilities
        flags = 0
        if f.apsc:
            flags |= QCI_FLAG_APSC
        if self.apxa:
            flags |= QCI_FLAG_APXA
        if f.qact:
            flags |= QCI_FLAG_QACT
        if f.rc8a:
            flags |= QCI_FLAG_RC8A
        if f.apsb:
            flags |= QCI_FLAG_APSB
        blk = bytearray(QCI_SIZE)
        blk[0:4] = flags.to_bytes(4, "big")
        blk[4] = self.na & 0xFF if self.apxa else 0
        blk[5] = self.nd & 0xFF if self.apxa else 0
        blk[16:48] = self.apm.to_bytes()
        blk[48:80] = self.aqm.to_bytes()
        blk[80:112] = self.adm.to_bytes()
        return bytes(blk)

    def __repr__(self) -> str:
        return f"APConfiguration({self.name!r}, apm={self.apm}, aqm={self.aqm}, adm={self.adm})"


def parse_qci(block: bytes) -> dict:
    """Decode a QCI block into flags, Na, Nd and the three masks."""
    if len(block) != QCI_SIZE:
        raise ValueError("a QCI block has 128 bytes")
    flags = int.from_bytes(block[0:4], "big")
    return {
        "apsc": bool(flags & QCI_FLAG_APSC), "apxa": bool(flags & QCI_FLAG_APXA),
        "qact": bool(flags & QCI_FLAG_QACT), "rc8a": bool(flags & QCI_FLAG_RC8A),
        "apsb": bool(flags & QCI_FLAG_APSB), "na": block[4], "nd": block[5],
        "apm": Mask.from_bytes(block[16:48]), "aqm": Mask.from_bytes(block[48:80]),
        "adm": Mask.from_bytes(block[80:112]),
    }
