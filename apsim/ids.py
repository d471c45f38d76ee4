"""AP identifiers: adapter ids (APID), queue indexes (APQI) and queue numbers (APQN).

An APQN is the 16-bit value ``APID << 8 | APQI`` as the kernel's ``AP_MKQID``
builds it; the kernel prints it as ``%02x.%04x`` (``05.0004``).
"""

from __future__ import annotations

import re

MAX_ID = 255
"""Largest architectural APID / APQI (256 adapters, 256 domains)."""

NUM_IDS = 256
NUM_APQNS = NUM_IDS * NUM_IDS

_APQN_RE = re.compile(r"^\s*([0-9a-fA-F]{1,2})\.([0-9a-fA-F]{1,4})\s*$")

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
"""An mdev UUID as the mdev core and mdevctl accept it: 8-4-4-4-12 hex digits."""


def check_id(value: int, what: str = "id") -> int:
    """Return *value* if it is an architectural id (0..255), else raise ValueError."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise ValueError(f"{what} {value!r} is out of range 0..{MAX_ID}")
    return value


def apqn(apid: int, apqi: int) -> int:
    """Pack an APID and an APQI into an APQN (each part masked to 8 bits)."""
    return ((apid & 0xFF) << 8) | (apqi & 0xFF)


def apqn_apid(q: int) -> int:
    """The adapter id of an APQN."""
    return (q >> 8) & 0xFF


def apqn_apqi(q: int) -> int:
    """The queue index (usage domain) of an APQN."""
    return q & 0xFF


def format_apqn(q: int) -> str:
    """Format an APQN the way the kernel names queue devices: ``05.0004``."""
    return f"{(q >> 8) & 0xFF:02x}.{q & 0xFF:04x}"


def parse_apqn(text: str) -> int:
    """Parse ``AA.QQQQ`` (hex, as sysfs and lszcrypt print it) into an APQN.

    Raises ValueError with the rule when the text is not an APQN.
    """
    m = _APQN_RE.match(text)
    if not m:
        raise ValueError(f"{text!r} is not an APQN (expected AA.QQQQ in hex, e.g. 05.0004)")
    apid, apqi = int(m.group(1), 16), int(m.group(2), 16)
    check_id(apqi, "APQI")
    return apqn(apid, apqi)


def format_card(apid: int) -> str:
    """The card device name of an adapter: ``card05``."""
    return f"card{apid & 0xFF:02x}"
