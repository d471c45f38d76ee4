"""256-bit AP masks (APM, AQM, ADM, apmask, aqmask, QCI masks) on bitarray.

Every AP mask is big-endian with bit 0 leftmost: id *n* is bit ``0x80 >> (n % 8)``
of byte ``n // 8``. A :class:`Mask` is an immutable value (a frozen bitarray with
``endian="big"``; never rely on bitarray's default endianness), so snapshots of
state can be compared and hashed. Narrower views for CRYCB formats 0/1 (64-bit APM,
16-bit AQM/ADM) are taken with :meth:`Mask.truncated`.

Bulk work over APQNs is vectorized: :meth:`Mask.cross` builds the Cartesian product
with numpy, and :func:`apqn_table` gives a 65,536-entry boolean table of the
product for constant-time membership tests on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
from bitarray import bitarray, frozenbitarray
from bitarray.util import ba2int, int2ba

from apsim.ids import MAX_ID, NUM_APQNS, NUM_IDS

MASK_BITS = 256
_HEX_DIGITS = MASK_BITS // 4


def _zeros() -> bitarray:
    b = bitarray(MASK_BITS, endian="big")
    b.setall(0)
    return b


class Mask:
    """An immutable 256-bit mask of AP ids, bit 0 leftmost."""

    __slots__ = ("_bits",)

    def __init__(self, bits: bitarray | frozenbitarray | None = None) -> None:
        if bits is None:
            self._bits = frozenbitarray(_zeros())
            return
        if len(bits) != MASK_BITS or bits.endian != "big":
            raise ValueError("a Mask needs a 256-bit big-endian bitarray")
        self._bits = bits if isinstance(bits, frozenbitarray) else frozenbitarray(bits)

    # --- construction -------------------------------------------------------------
    @classmethod
    def empty(cls) -> Mask:
        """The mask with no id set."""
        return _EMPTY

    @classmethod
    def full(cls) -> Mask:
        """The mask with all 256 ids set (the AP bus's default apmask/aqmask)."""
        return _FULL

    @classmethod
    def from_ids(cls, ids: Iterable[int]) -> Mask:
        """A mask with exactly the given ids set; ids outside 0..255 raise ValueError."""
        b = _zeros()
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, int | np.integer) or not 0 <= int(i) <= MAX_ID:
                raise ValueError(f"id {i!r} is out of range 0..{MAX_ID}")
            b[int(i)] = 1
        return cls(b)

    @classmethod
    def from_range(cls, first: int, last: int) -> Mask:
        """Ids ``first..last`` inclusive."""
        return cls.from_ids(range(first, last + 1))

    @classmethod
    def from_int(cls, value: int) -> Mask:
        """From a Python int where id *n* is ``1 << (255 - n)``."""
        if not 0 <= value < (1 << MASK_BITS):
            raise ValueError("mask integer out of range")
        return cls(int2ba(value, length=MASK_BITS, endian="big"))

    @classmethod
    def from_bytes(cls, data: bytes) -> Mask:
        """From the 32-byte architected form (QCI, APCB1); shorter input is right-padded."""
        if len(data) > MASK_BITS // 8:
            raise ValueError("a mask has at most 32 bytes")
        b = bitarray(endian="big")
        b.frombytes(bytes(data) + bytes(MASK_BITS // 8 - len(data)))
        return cls(b)

    @classmethod
    def from_hex(cls, text: str) -> Mask:
        """From ``0x`` + up to 64 hex digits, right-padded with zeros (the sysfs read form).

        This is the strict form apsim prints; the kernel's full write grammar
        (relative ``+N``/``-N`` lists, ``x`` prefixes, ...) lives in the host layer.
        """
        t = text.strip()
        if t.startswith("0x"):
            t = t[2:]
        if len(t) > _HEX_DIGITS or any(c not in "0123456789abcdefABCDEF" for c in t):
            raise ValueError(f"{text!r} is not a mask (0x followed by up to 64 hex digits)")
        return cls.from_int(int(t.ljust(_HEX_DIGITS, "0") or "0", 16))

    # --- queries ------------------------------------------------------------------
    @property
    def bits(self) -> frozenbitarray:
        """The underlying frozen big-endian bitarray."""
        return self._bits

    def __contains__(self, i: object) -> bool:
        return isinstance(i, int) and 0 <= i <= MAX_ID and bool(self._bits[i])

    def test(self, i: int) -> bool:
        """Whether id *i* is set (no range check: *i* must be 0..255)."""
        return bool(self._bits[i])

    def ids(self) -> list[int]:
        """The set ids in ascending order."""
        return list(self._bits.search(1))

    def __iter__(self) -> Iterator[int]:
        return iter(self._bits.search(1))

    def __len__(self) -> int:
        return self._bits.count(1)

    def __bool__(self) -> bool:
        return self._bits.any()

    def first(self) -> int | None:
        """The smallest set id, or None."""
        i = self._bits.find(1)
        return None if i < 0 else i

    def as_array(self) -> np.ndarray:
        """The set ids as a numpy int array (ascending)."""
        return np.flatnonzero(np.frombuffer(self._bits.unpack(), dtype=np.uint8))

    def as_bool(self) -> np.ndarray:
        """A 256-entry numpy bool vector, index = id."""
        return np.frombuffer(self._bits.unpack(), dtype=np.uint8).astype(bool)

    def issubset(self, other: Mask) -> bool:
        """Whether every id of this mask is also in *other*."""
        return not (self._bits & ~other._bits).any()

    def overlaps(self, other: Mask) -> bool:
        """Whether the two masks share an id."""
        return (self._bits & other._bits).any()

    # --- algebra ------------------------------------------------------------------
    def __and__(self, other: Mask) -> Mask:
        return Mask(self._bits & other._bits)

    def __or__(self, other: Mask) -> Mask:
        return Mask(self._bits | other._bits)

    def __xor__(self, other: Mask) -> Mask:
        return Mask(self._bits ^ other._bits)

    def __sub__(self, other: Mask) -> Mask:
        return Mask(self._bits & ~other._bits)

    def __invert__(self) -> Mask:
        return Mask(~self._bits)

    def with_id(self, i: int) -> Mask:
        """A copy with id *i* set."""
        b = bitarray(self._bits)
        b[i] = 1
        return Mask(b)

    def without_id(self, i: int) -> Mask:
        """A copy with id *i* cleared."""
        b = bitarray(self._bits)
        b[i] = 0
        return Mask(b)

    def truncated(self, width: int) -> Mask:
        """Only the ids below *width* (the view through a 64- or 16-bit CRYCB field)."""
        if width >= MASK_BITS:
            return self
        b = bitarray(self._bits)
        b[width:] = 0
        return Mask(b)

    def cross(self, aqm: Mask) -> np.ndarray:
        """The Cartesian product self × *aqm* as a sorted array of APQN ints."""
        a = self.as_array()
        q = aqm.as_array()
        if a.size == 0 or q.size == 0:
            return np.empty(0, dtype=np.int64)
        return (a[:, None] * NUM_IDS + q[None, :]).ravel()

    # --- conversion ---------------------------------------------------------------
    def to_int(self) -> int:
        """Python int where id *n* is ``1 << (255 - n)``."""
        return ba2int(self._bits)

    def to_bytes(self) -> bytes:
        """The 32-byte architected form."""
        return self._bits.tobytes()

    def sysfs(self) -> str:
        """As sysfs prints it: ``0x`` and 64 lowercase hex digits (no newline)."""
        return "0x" + self._bits.tobytes().hex()

    def hex_words(self) -> str:
        """As the AP bus prints QCI masks: ``0x`` + eight ``%08x`` words."""
        return "0x" + self._bits.tobytes().hex()

    # --- value semantics ----------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mask) and self._bits == other._bits

    def __hash__(self) -> int:
        return hash(self._bits)

    def __repr__(self) -> str:
        ids = self.ids()
        if len(ids) > 12:
            return f"Mask({len(ids)} ids: {ids[:6]}…{ids[-3:]})"
        return f"Mask({ids})"


_EMPTY = Mask()
_full = _zeros()
_full.setall(1)
_FULL = Mask(_full)


def apqn_table(apm: Mask, aqm: Mask) -> np.ndarray:
    """A 65,536-entry bool table, True where APQN = (apid, apqi) is in apm × aqm.

    Built with one numpy outer product, so updating a guest's table on a mask swap
    costs microseconds and a membership test on the hot path is one index.
    """
    return np.outer(apm.as_bool(), aqm.as_bool()).ravel()


def apqns_of_table(table: np.ndarray) -> np.ndarray:
    """The APQN ints set in a 65,536-entry table."""
    assert table.shape == (NUM_APQNS,)
    return np.flatnonzero(table)
