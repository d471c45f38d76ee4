"""The kernel's text parsers behind the AP bus and vfio_ap sysfs attributes.

Modelled on drivers/s390/crypto/ap_bus.c (``ap_hex2bitmap``, ``modify_bitmap``,
``ap_parse_bitmap_str``), lib/kstrtox.c (``kstrtoul``), lib/vsprintf.c
(``simple_strtoul`` and ``vsscanf``'s ``%d``/``%i``) and lib/kstrtox.c's
``kstrtobool``. Every function reproduces the accepted inputs exactly, including
the corners users trip over:

* absolute masks: an optional ``0x`` (lower-case ``x`` only) and/or a single ``x``,
  up to 64 hex digits, right padding with zeros, one optional trailing newline;
  nothing else (``0X41``, a space, a comma or a 65th digit is ``EINVAL``);
* relative masks (first character ``+`` or ``-``): terms ``±N`` or ``±N-M`` applied
  left to right to the current mask; numbers auto-detect their base (``0x`` hex,
  leading ``0`` octal, else decimal) and wrap modulo 2**64 like ``simple_strtoul``;
  commas and newlines between terms are optional (``+1+2`` is accepted);
* ``kstrtoul``: one optional leading ``+``, base auto-detection, one trailing
  newline, ``EINVAL`` on anything else, ``ERANGE`` above 2**64-1 (checked before the
  trailing junk, as the kernel does);
* ``sscanf("%d")``: leading white space skipped, only ``-`` as a sign, the first
  number counts and anything after it is ignored.

Errors are :class:`apsim.errors.SysfsError` with the kernel's errno, the path
written and the rule that was broken. A NUL character ends the text, as it ends
the C string the kernel parses.
"""

from __future__ import annotations

import errno

from apsim.errors import SysfsError
from apsim.masks import MASK_BITS, Mask

ULONG_MAX = (1 << 64) - 1
_HEX = "0123456789abcdefABCDEF"
_SPACES = " \t\n\v\f\r"


def _cstr(text: str) -> str:
    """The text up to the first NUL, as the kernel sees a written buffer."""
    i = text.find("\0")
    return text if i < 0 else text[:i]


def _digit(c: str) -> int:
    """Value of a digit character in bases up to 16, or 99 when it is none.

    Like ``_parse_integer``, letters are folded with ``| 0x20`` rather than tolower().
    """
    o = ord(c)
    if 48 <= o <= 57:
        return o - 48
    lc = o | 0x20
    if 97 <= lc <= 102:
        return lc - 87
    return 99


def _fixup_radix(s: str, i: int) -> tuple[int, int]:
    """``_parse_integer_fixup_radix`` for base 0: (base, index after a ``0x`` prefix)."""
    if s[i:i + 1] == "0":
        if s[i + 1:i + 2].lower() == "x" and s[i + 2:i + 3] != "" and s[i + 2] in _HEX:
            return 16, i + 2
        return 8, i
    return 10, i


def _parse_digits(s: str, i: int, base: int) -> tuple[int, int, bool]:
    """Digits of *base* from *i*: (exact value, end index, any digit consumed)."""
    val = 0
    j = i
    while j < len(s):
        d = _digit(s[j])
        if d >= base:
            break
        val = val * base + d
        j += 1
    return val, j, j > i


# --- numbers -------------------------------------------------------------------------------
def kstrtoul(text: str, *, path: str = "<value>", what: str = "number") -> int:
    """Parse *text* like ``kstrtoul(buf, 0, &val)``; raise SysfsError(EINVAL/ERANGE)."""
    s = _cstr(text)
    i = 1 if s[:1] == "+" else 0
    base, i = _fixup_radix(s, i)
    val, j, consumed = _parse_digits(s, i, base)
    if val > ULONG_MAX:
        raise SysfsError(errno.ERANGE, path, f"{what} {s.strip()!r} does not fit in an unsigned long")
    if not consumed:
        raise SysfsError(errno.EINVAL, path, f"{s!r} is not {_article(what)} {what} (decimal, 0x hex or 0 octal)")
    if s[j:j + 1] == "\n":
        j += 1
    if j != len(s):
        raise SysfsError(errno.EINVAL, path,
                         f"{s!r} is not {_article(what)} {what}: unexpected {s[j]!r} after the digits")
    return val


def simple_strtoul(s: str, i: int) -> tuple[int, int]:
    """``simple_strtoul(s + i, &end, 0)``: (value modulo 2**64, end index).

    When no digit follows, the end index is *i* itself (the caller's ``str == np``).
    """
    base, k = _fixup_radix(s, i)
    val, j, consumed = _parse_digits(s, k, base)
    if not consumed:
        return 0, i
    return val & ULONG_MAX, j


def scanf_int(text: str, *, base: int = 10) -> int | None:
    """``sscanf(buf, "%d")`` (base 10) or ``"%i"`` (base 0); None when nothing converts.

    The kernel's vsscanf skips white space, accepts ``-`` but not ``+``, needs a
    decimal digit first, and stores the number truncated to a 32-bit int.
    """
    s = _cstr(text)
    i = 0
    while i < len(s) and s[i] in _SPACES:
        i += 1
    neg = False
    if s[i:i + 1] == "-":
        neg = True
        i += 1
    if s[i:i + 1] == "" or s[i] not in "0123456789":
        return None
    if base == 0:
        b, i = _fixup_radix(s, i)
    else:
        b = base
    val, _j, _c = _parse_digits(s, i, b)
    val &= ULONG_MAX
    if neg:
        val = (-val) & ULONG_MAX
    val &= 0xFFFFFFFF
    return val - (1 << 32) if val & 0x80000000 else val


def kstrtobool(text: str) -> bool | None:
    """``kstrtobool``: True/False from ``y Y 1 on`` / ``n N 0 off``, else None."""
    s = _cstr(text)
    c = s[:1]
    if c in ("y", "Y", "1"):
        return True
    if c in ("n", "N", "0"):
        return False
    if c in ("o", "O"):
        c2 = s[1:2]
        if c2 in ("n", "N"):
            return True
        if c2 in ("f", "F"):
            return False
    return None


# --- masks ----------------------------------------------------------------------------------
def parse_hex_mask(text: str, *, path: str = "<mask>", bits: int = MASK_BITS) -> Mask:
    """Absolute mask text (``ap_hex2bitmap``) → Mask; raise SysfsError(EINVAL).

    Hex digits fill the mask from the left (id 0 first); a shorter string is padded
    with zeros on the right.
    """
    s = _cstr(text)
    i = 0
    if s[:2] == "0x":
        i = 1
    if s[i:i + 1] == "x":
        i += 1
    start = i
    ndig = 0
    while i < len(s) and s[i] in _HEX and ndig * 4 < bits:
        i += 1
        ndig += 1
    digits = s[start:i]
    if s[i:i + 1] == "\n":
        i += 1
    if i != len(s):
        bad = s[i]
        if bad in _HEX:
            rule = f"more than {bits // 4} hex digits"
        else:
            rule = f"unexpected {bad!r} (an absolute mask is 0x followed by up to {bits // 4} hex digits)"
        raise SysfsError(errno.EINVAL, path, f"{s!r}: {rule}")
    value = int(digits.ljust(bits // 4, "0"), 16) if digits else 0
    return Mask.from_int(value << (MASK_BITS - bits)) if bits < MASK_BITS else Mask.from_int(value)


def modify_mask(text: str, current: Mask, *, path: str = "<mask>", bits: int = MASK_BITS) -> Mask:
    """Relative mask text (``modify_bitmap``) applied to *current*; raise SysfsError(EINVAL)."""
    s = _cstr(text)
    ids = bytearray(current.as_bool().astype("uint8").tobytes())
    i = 0
    n = len(s)
    while i < n:
        sign = s[i]
        i += 1
        if sign not in "+-":
            raise SysfsError(errno.EINVAL, path,
                             f"{s!r}: every term starts with '+' or '-' (found {sign!r})")
        a, j = simple_strtoul(s, i)
        if j == i:
            raise SysfsError(errno.EINVAL, path, f"{s!r}: a number must follow {sign!r}")
        if a >= bits:
            raise SysfsError(errno.EINVAL, path, f"{s!r}: bit {a} is outside 0..{bits - 1}")
        z = a
        i = j
        if s[i:i + 1] == "-":
            i += 1
            z, j = simple_strtoul(s, i)
            if j == i:
                raise SysfsError(errno.EINVAL, path, f"{s!r}: a range needs an end after '-'")
            if a > z:
                raise SysfsError(errno.EINVAL, path, f"{s!r}: range {a}-{z} runs backwards")
            if z >= bits:
                raise SysfsError(errno.EINVAL, path, f"{s!r}: bit {z} is outside 0..{bits - 1}")
            i = j
        v = 1 if sign == "+" else 0
        for k in range(a, z + 1):
            ids[k] = v
        while i < n and s[i] in ",\n":
            i += 1
    return Mask.from_ids(k for k in range(MASK_BITS) if ids[k])


def parse_mask(text: str, current: Mask, *, path: str = "<mask>") -> Mask:
    """An ``apmask``/``aqmask`` write (``ap_parse_bitmap_str``): relative or absolute.

    The first character selects the mode: ``+``/``-`` edits *current*, anything
    else replaces it. Raises SysfsError(EINVAL) and never changes *current*.
    """
    s = _cstr(text)
    if s[:1] in ("+", "-"):
        return modify_mask(s, current, path=path)
    return parse_hex_mask(s, path=path)


def format_mask(mask: Mask) -> str:
    """A mask as the AP bus prints it: ``0x`` + 64 hex digits + newline."""
    return mask.sysfs() + "\n"


def _article(noun: str) -> str:
    """'an' before a vowel sound ("an adapter id"), else 'a'."""
    return "an" if noun[:1].lower() in "aeio" else "a"
