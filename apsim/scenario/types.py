"""Value types of the scenario format: ids, durations, APQNs, UUIDs, errno names, masks.

Each type is an ``Annotated`` pydantic type whose validator turns what a YAML
author writes into the value the simulation uses (ints in nanoseconds, ints for
ids and APQNs) and fails with one sentence naming the rule. Each also carries the
JSON Schema of what may be *written*, so editors that read the generated schema
accept ``"10ms"`` and ``"0x47"``.

YAML 1.2 traps this module guards against: an unquoted ``05.0004`` is the float
5.0004 and an unquoted ``0xff00`` mask is the integer 65280 (losing the digits that
fix its width); both are refused with a hint to quote them.
"""

from __future__ import annotations

import difflib
import errno as _errno
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

from apsim.engine.codes import RC
from apsim.ids import MAX_ID, UUID_RE, format_apqn, parse_apqn
from apsim.units import parse_duration

__all__ = [
    "Id", "Duration", "Apqn", "Uuid", "ErrnoName", "MaskString", "ResponseCode", "Address",
    "parse_id", "parse_scenario_duration", "parse_apqn_value", "check_mask_string", "ERRNO_NAMES",
]


# --- ids ----------------------------------------------------------------------------------
def parse_id(value: Any) -> int:
    """An adapter or domain id written as ``5``, ``0x47`` or ``"0xab"`` → int 0..255."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{value!r} is not an id (write a number 0..255 in decimal or 0x hex)")
    if isinstance(value, str):
        text = value.strip()
        try:
            n = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise ValueError(f"{value!r} is not an id (write a number 0..255 in decimal "
                             f"or 0x hex, e.g. 5 or 0x47)") from None
    else:
        n = value
    if not 0 <= n <= MAX_ID:
        shown = f"{n} (0x{n:x})" if n >= 0 else str(n)
        raise ValueError(f"id {shown} is out of range 0..255 (0x00..0xff)")
    return n


_ID_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": MAX_ID},
        {"type": "string", "pattern": r"^\s*(0[xX][0-9a-fA-F]{1,2}|[0-9]{1,3})\s*$"},
    ],
    "description": "An adapter or domain id, 0..255, decimal or 0x hex.",
}

Id = Annotated[int, BeforeValidator(parse_id), WithJsonSchema(_ID_SCHEMA)]
"""An APID or domain index (0..255); accepts decimal or ``0x`` hex, as int or string."""


# --- durations ----------------------------------------------------------------------------
def parse_scenario_duration(value: Any) -> int:
    """A duration with a unit (``"10ms"``, ``"1.5us"``) → integer nanoseconds.

    A bare ``0`` is accepted; any other bare number needs a unit, because a scenario
    author writing ``start: 5`` rarely means five nanoseconds.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration (write e.g. 10ms)")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"negative duration {value} (times must be >= 0)")
        if value == 0:
            return 0
        raise ValueError(f"{value} needs a unit: ns, us, ms or s (e.g. {value}us)")
    return parse_duration(value, allow_bare_int=False)


_DURATION_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*(ns|us|µs|ms|s)\s*$"},
        {"type": "integer", "const": 0},
    ],
    "description": "A duration with a unit: ns, us, ms or s (e.g. 10ms, 1.5us); 0 needs none.",
}

Duration = Annotated[int, BeforeValidator(parse_scenario_duration), WithJsonSchema(_DURATION_SCHEMA)]
"""Integer nanoseconds after validation; written with a unit (``10ms``)."""


# --- APQNs --------------------------------------------------------------------------------
def parse_apqn_value(value: Any) -> int:
    """An APQN written ``"05.0004"`` → int; refuses YAML floats (an unquoted 05.0004)."""
    if isinstance(value, float):
        raise ValueError(f"write the APQN in quotes (e.g. \"05.0004\"): unquoted, YAML reads "
                         f"it as the number {value}")
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"{value!r} is not an APQN (write \"AA.QQQQ\" in hex, e.g. \"05.0004\")")
    return parse_apqn(value)


Apqn = Annotated[
    int,
    BeforeValidator(parse_apqn_value),
    PlainSerializer(format_apqn, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\s*[0-9a-fA-F]{1,2}\.[0-9a-fA-F]{1,4}\s*$",
                    "description": "An APQN as sysfs prints it: AA.QQQQ in hex (05.0004)."}),
]
"""An APQN (``APID << 8 | APQI``) after validation; written ``"05.0004"``, serialized back so."""


# --- names -------------------------------------------------------------------------------
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
"""A name in a scenario (LPARs, guests, containers)."""


# --- UUIDs --------------------------------------------------------------------------------
_UUID_RE = UUID_RE


def _parse_uuid(value: Any) -> str:
    if not isinstance(value, str) or not _UUID_RE.match(value.strip()):
        raise ValueError(f"{value!r} is not a UUID (write 8-4-4-4-12 hex digits, "
                         f"e.g. 62177883-f1bb-47f0-914d-32a22e3a8804)")
    return value.strip().lower()


Uuid = Annotated[
    str, BeforeValidator(_parse_uuid),
    WithJsonSchema({"type": "string", "pattern": _UUID_RE.pattern,
                    "description": "An mdev UUID, 8-4-4-4-12 hex digits."}),
]
"""An mdev UUID, lower-cased."""


# --- errno names --------------------------------------------------------------------------
ERRNO_NAMES: frozenset[str] = frozenset(
    n for n in dir(_errno) if n.startswith("E") and n.isupper() and isinstance(getattr(_errno, n), int))
"""Every errno name Python's errno module knows (EBUSY, ENODEV, EADDRNOTAVAIL, ...)."""


def _parse_errno(value: Any) -> str:
    if not isinstance(value, str) or value.strip() not in ERRNO_NAMES:
        hint = ""
        if isinstance(value, str):
            close = difflib.get_close_matches(value.strip().upper(), sorted(ERRNO_NAMES), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
        raise ValueError(f"unknown errno name {value!r} (write a name from Python's errno module, "
                         f"e.g. EBUSY, EINVAL, ENODEV, EADDRNOTAVAIL, EADDRINUSE){hint}")
    return value.strip()


ErrnoName = Annotated[
    str, BeforeValidator(_parse_errno),
    WithJsonSchema({"type": "string", "enum": sorted(ERRNO_NAMES),
                    "description": "An errno name (EBUSY, ENODEV, ...)."}),
]
"""An errno name known to Python's errno module."""


# --- apmask / aqmask strings --------------------------------------------------------------
def check_mask_string(value: Any) -> str:
    """Check an ``apmask``/``aqmask`` string with the AP bus's own parser; return it.

    Absolute form ``0x`` + up to 64 hex digits (bit 0 leftmost), or relative form:
    ``+n`` / ``-n`` / ``+a-b`` terms (decimal, ``0x`` hex), separated by commas. A
    string the scenario accepts is one the kernel accepts.
    """
    from apsim.errors import SysfsError
    from apsim.linux.maskparse import parse_mask
    from apsim.masks import Mask

    if isinstance(value, bool) or isinstance(value, int | float):
        raise ValueError(f"write the mask in quotes (e.g. \"0xffff\" or \"-5,-6\"): unquoted, "
                         f"YAML reads it as the number {value!r} and its width is lost")
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a mask string")
    text = value.strip()
    try:
        parse_mask(text, Mask.full())
    except SysfsError as e:
        raise ValueError(f"bad mask {e.rule}") from None  # the rule quotes the text
    return text


MaskString = Annotated[
    str, BeforeValidator(check_mask_string),
    WithJsonSchema({"type": "string",
                    "description": "An AP bus mask: 0x + up to 64 hex digits, or +n,-m,+a-b terms."}),
]
"""An apmask/aqmask string in the AP bus's sysfs grammar."""


# --- response codes and addresses ---------------------------------------------------------
def _parse_rc(value: Any) -> int:
    if isinstance(value, str):
        text = value.strip()
        name = text.upper().removeprefix("AP_RESPONSE_")
        if name in RC.__members__:
            return int(RC[name])
        if name == "NO_PENDING_REPLY":
            return int(RC.Q_FULL)
        try:
            value = int(text, 0)
        except ValueError:
            raise ValueError(f"{text!r} is not a response code (a number such as 0x01, or a name "
                             f"such as Q_NOT_AVAIL)") from None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise ValueError(f"{value!r} is not a response code (0x00..0xff)")
    return value


ResponseCode = Annotated[
    int, BeforeValidator(_parse_rc),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0, "maximum": 255}, {"type": "string"}],
                    "description": "An AP response code: 0x01, 1 or a name such as Q_NOT_AVAIL."}),
]
"""An AP response code (accepts numbers, ``"0x01"`` or names like ``Q_NOT_AVAIL``)."""


def _parse_address(value: Any) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip(), 0)
        except ValueError:
            raise ValueError(f"{value!r} is not an address (a number, e.g. 0x1000)") from None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 64:
        raise ValueError(f"{value!r} is not a 64-bit address")
    return value


Address = Annotated[
    int, BeforeValidator(_parse_address),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}],
                    "description": "A guest address (decimal or 0x hex)."}),
]
"""A 64-bit guest address."""
