"""A workload's random streams: blocks of request types, arrival gaps and uniforms.

Random-number discipline (the bulk mode replays it exactly): per arrival, the
request type is taken first (a new block of types is drawn when the previous one
is used up), then, for ``select: random``, the target (blocks of uniforms), then
the gap to the next arrival (blocks of exponential gaps). These functions are the
only users of a workload's generator (through :meth:`apsim.engine.workload.Workload.type_block`
and its siblings), so both modes see the same numbers. Blocks are drawn only
when needed, so the order of generator calls is the same whoever consumes them.
"""

from __future__ import annotations

import numpy as np

BLOCK = 4096
"""Draws per block, of every kind (the bulk mode generates arrivals a block at a time too)."""


def type_block(rng: np.random.Generator, mix_idx: np.ndarray, mix_cdf: np.ndarray,
               mix_p: np.ndarray) -> np.ndarray:
    """The next block of request-type indices (drawn from the mix).

    The values and the generator's position are those of
    ``rng.choice(mix_idx, size, p=mix_p)``; when numpy's ``choice`` is confirmed to be
    "uniforms, then search the cumulative mix" (checked once per process) that
    is computed directly from *mix_cdf*, which skips most of ``choice``'s overhead.
    """
    if _choice_is_cdf_search():
        if mix_cdf.size == 1:
            # One type: the uniforms only move the generator on; skip them if the
            # bit generator can jump exactly as far.
            if _advance_equals_random(rng):
                rng.bit_generator.advance(BLOCK)
            else:
                rng.random(BLOCK)
            return np.full(BLOCK, mix_idx[0], dtype=mix_idx.dtype)
        u = rng.random(BLOCK)
        return mix_idx[mix_cdf.searchsorted(u, side="right")]
    return rng.choice(mix_idx, size=BLOCK, p=mix_p)


def gap_block(rng: np.random.Generator, rate: float) -> np.ndarray:
    """The next block of inter-arrival gaps at *rate* per second (int64 ns, at least 1)."""
    x = rng.exponential(1e9 / rate, BLOCK)
    np.rint(x, out=x)
    np.maximum(x, 1.0, out=x)
    return x.astype(np.int64)


def uniform_block(rng: np.random.Generator) -> np.ndarray:
    """The next block of uniforms for random target selection."""
    return rng.random(BLOCK)


_CHOICE_OK: bool | None = None


def _choice_is_cdf_search() -> bool:
    """Whether ``Generator.choice(a, size, p=p)`` equals ``a[cdf.searchsorted(random(size), 'right')]``.

    That is how numpy implements it; a scratch generator checks values and the
    generator's position afterwards, once, so a different numpy falls back to
    ``choice`` itself and sample paths never change.
    """
    global _CHOICE_OK
    if _CHOICE_OK is None:
        ok = True
        for p in (np.array([1.0]), np.array([0.7, 0.3]), np.array([0.2, 0.5, 0.1, 0.2])):
            a = np.arange(3, 3 + p.size)
            g1, g2 = np.random.default_rng(12345), np.random.default_rng(12345)
            want = g1.choice(a, size=257, p=p)
            cdf = p.cumsum()
            cdf /= cdf[-1]
            got = a[cdf.searchsorted(g2.random(257), side="right")]
            ok = ok and np.array_equal(want, got) and g1.random() == g2.random()
        _CHOICE_OK = bool(ok)
    return _CHOICE_OK


_ADVANCE_OK: dict[type, bool] = {}


def _advance_equals_random(rng: np.random.Generator) -> bool:
    """Whether ``bit_generator.advance(n)`` would leave *rng* where ``random(n)`` does.

    True for PCG64 (one 64-bit output per double) while no 32-bit half is buffered
    (``advance`` drops it; the workload's own draws never leave one). The class is
    checked once on scratch generators, the buffer on every call, so any other
    generator keeps drawing the uniforms and sample paths never change.
    """
    bg = rng.bit_generator
    cls = type(bg)
    ok = _ADVANCE_OK.get(cls)
    if ok is None:
        ok = False
        if callable(getattr(bg, "advance", None)):
            try:
                g1, g2 = np.random.Generator(cls(2024)), np.random.Generator(cls(2024))
                g1.random(257)
                g2.bit_generator.advance(257)
                ok = g1.bit_generator.state == g2.bit_generator.state and g1.random() == g2.random()
            except (TypeError, ValueError, NotImplementedError):
                ok = False
        _ADVANCE_OK[cls] = ok
    return ok and bg.state.get("has_uint32", 1) == 0
