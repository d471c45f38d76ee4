"""Engine service times of one adapter: the sampler its NQAP draws from.

The means come from the timing profile (:mod:`apsim.hw.timing`); this module
turns them into a reproducible stream of integer nanosecond draws.
"""

from __future__ import annotations

import math
from array import array

import numpy as np

from apsim.hw.cards import CardSpec
from apsim.hw.timing import REQUEST_TYPES, TimingProfile, service_mean_ns, supports

_CONST_ROW = 256  # length of the constant rows of a deterministic sampler


class ServiceSampler:
    """Draws engine service times for one adapter.

    ``mean_ns[rt.index]`` is the mean service time of each request type on this card
    (0 when the card cannot run it). Every draw for a supported type takes the next
    unit-mean variate ``u`` of one stream and returns ``max(1, floor(mean × u + 0.5))``
    ns. The stream is drawn from *rng* in blocks of *block* variates. A draw for an
    unsupported type (it returns 0) or from a deterministic profile (it returns the
    mean) takes no variate. The values therefore depend only on the generator's seed
    and the sequence of calls, and :meth:`draw_many` returns exactly what the same
    sequence of :meth:`draw` calls would.

    Speed: converting ``mean × u`` to an int costs more than the rest of a draw, so
    the first draw of a type in a block converts the whole block for that type at
    once (numpy, then one copy into an ``array('q')`` row). Later draws of that type
    are an index into the row, which the compiled NQAP reads as a C array (the block
    state ``pos``, ``n``, ``rows`` of :class:`apsim.engine.api.Sampler`): 8 bytes
    per draw, where a list of Python ints costs 40 and, with hundreds of adapters
    each at its own place in its block, one cache miss per request more. The cost
    of the conversion grows with the number of distinct types an adapter serves
    within one block; memory is 8 bytes × *block* per type in use.
    """

    __slots__ = ("card", "profile", "rng", "block", "mean_ns", "_mean_f", "_fixed", "_sigma",
                 "_mult", "_units", "n", "pos", "rows", "_no_rows")

    def __init__(self, card: CardSpec, profile: TimingProfile, rng: np.random.Generator,
                 block: int = 4096) -> None:
        if block < 1:
            raise ValueError(f"block must be at least 1, not {block}")
        self.card = card
        self.profile = profile
        self.rng = rng
        self.block = int(block)
        self.mean_ns: list[int] = [
            service_mean_ns(card.type, card.mode, rt, profile) if supports(card, rt) else 0
            for rt in REQUEST_TYPES
        ]
        self._mean_f = np.asarray(self.mean_ns, dtype=np.float64)
        self._fixed = profile.distribution == "deterministic"
        self._sigma = math.sqrt(math.log1p(profile.cv ** 2))
        self._mult = (np.asarray(profile.empirical, dtype=np.float64)
                      if profile.empirical is not None else None)
        self._no_rows: list[array | None] = [None] * len(REQUEST_TYPES)
        self._units: np.ndarray = np.empty(0, dtype=np.float64)
        self.pos = 0
        if self._fixed:
            # Constant rows let the fast path of draw() serve deterministic profiles too;
            # the "block" just wraps around and no variate is ever drawn.
            self.rows = [array("q", [m]) * _CONST_ROW if m else None for m in self.mean_ns]
            self.n = _CONST_ROW
        else:
            self.rows = list(self._no_rows)
            self.n = 0

    # -- the stream of unit variates ---------------------------------------------------
    def _unit_block(self) -> np.ndarray:
        """The next *block* unit-mean variates from the generator."""
        dist = self.profile.distribution
        rng = self.rng
        if dist == "exponential":
            return rng.standard_exponential(self.block)
        if dist == "lognormal":
            s = self._sigma
            # exp(σZ − σ²/2) has mean 1 and CV sqrt(exp(σ²) − 1) = cv.
            return np.exp(s * rng.standard_normal(self.block) - 0.5 * s * s)
        if dist == "empirical":
            assert self._mult is not None
            return self._mult[rng.integers(0, len(self._mult), size=self.block)]
        raise AssertionError(f"no variates for distribution {dist!r}")

    def _new_block(self) -> None:
        self._units = self._unit_block()
        self.n = len(self._units)
        self.pos = 0
        self.rows = list(self._no_rows)

    def _scaled(self, means: np.ndarray | float, units: np.ndarray) -> np.ndarray:
        """max(1, floor(mean × u + 0.5)) as int64: the one rounding rule of every draw."""
        x = means * units
        x += 0.5
        np.floor(x, out=x)
        out = x.astype(np.int64)
        np.maximum(out, 1, out=out)
        return out

    # -- drawing -------------------------------------------------------------------------
    def draw(self, rt_index: int) -> int:
        """One service time (ns) for a request of type index *rt_index*."""
        pos = self.pos
        if pos < self.n:
            row = self.rows[rt_index]
            if row is not None:
                self.pos = pos + 1
                return row[pos]
        return self._draw_slow(rt_index)

    def _draw_slow(self, rt_index: int) -> int:
        m = self.mean_ns[rt_index]
        if not m:
            return 0
        if self._fixed:
            self.pos = 1
            return m
        if self.pos >= self.n:
            self._new_block()
        pos = self.pos
        row = array("q", self._scaled(self._mean_f[rt_index], self._units).tobytes())
        self.rows[rt_index] = row
        self.pos = pos + 1
        return row[pos]

    def draw_many(self, rt_indices: np.ndarray) -> np.ndarray:
        """Service times (int64 ns) for a sequence of type indices, as repeated :meth:`draw`."""
        idx = np.asarray(rt_indices, dtype=np.intp)
        means = self._mean_f[idx]
        if self._fixed:
            return means.astype(np.int64)
        live = means > 0
        n_live = int(np.count_nonzero(live))
        if n_live == len(idx):  # the usual case: no boolean indexing
            return self._scaled(means, self._take_units(n_live))
        out = np.zeros(len(idx), dtype=np.int64)
        out[live] = self._scaled(means[live], self._take_units(n_live))
        return out

    def _take_units(self, n: int) -> np.ndarray:
        """The next *n* unit variates, moving through blocks exactly as :meth:`draw` does."""
        parts: list[np.ndarray] = []
        have = self.n - self.pos
        if have > 0 and n > 0:
            take = min(have, n)
            parts.append(self._units[self.pos:self.pos + take])
            self.pos += take
            n -= take
        while n > 0:
            self._new_block()
            take = min(n, self.n)
            parts.append(self._units[:take])
            self.pos = take
            n -= take
        if not parts:
            return np.empty(0, dtype=np.float64)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    # -- saving and replaying -------------------------------------------------------------
    def snapshot(self) -> tuple:
        """Everything the next draws depend on (the generator and the current block)."""
        return (self.rng.bit_generator.state, self._units, self.n, self.pos, list(self.rows))

    def restore(self, snap: tuple) -> None:
        """Go back to *snap* (from :meth:`snapshot`): the draws after it come again, the same."""
        self.rng.bit_generator.state, self._units, self.n, self.pos, rows = snap
        self.rows = list(rows)

    def __repr__(self) -> str:
        return (f"ServiceSampler({self.card.type_name}, profile={self.profile.name!r}, "
                f"distribution={self.profile.distribution})")
