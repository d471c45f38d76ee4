"""A workload's random streams (apsim.engine.draws): its blocks of request types, gaps and
uniforms are the numbers numpy's plain calls give, and leave the generator where they do."""

from __future__ import annotations

import numpy as np

from apsim.engine import draws
from apsim.engine.draws import BLOCK
from benchmarks.models import build_capacity


def _workload(seed: int = 3):  # noqa: ANN202
    return build_capacity(adapters=1, domains=4, seed=seed).workloads[0]


def test_one_type_mix_moves_the_generator_as_far_as_drawing_the_uniforms():
    wl = _workload()
    ref = np.random.Generator(type(wl.rng.bit_generator)())
    ref.bit_generator.state = wl.rng.bit_generator.state
    types = wl.type_block()
    ref.random(BLOCK)  # what rng.choice(types, p=[1.0]) draws
    assert (types == wl._mix_idx[0]).all() and len(types) == BLOCK
    assert wl.rng.bit_generator.state == ref.bit_generator.state
    assert wl.rng.random() == ref.random()


def test_one_type_mix_with_a_buffered_32_bit_half_still_draws_the_uniforms():
    wl = _workload()
    wl.rng.integers(0, 7, dtype=np.uint32)  # leaves half of a 64-bit output buffered
    ref = np.random.Generator(type(wl.rng.bit_generator)())
    ref.bit_generator.state = wl.rng.bit_generator.state
    wl.type_block()
    ref.random(BLOCK)
    assert wl.rng.bit_generator.state == ref.bit_generator.state


def test_gaps_are_the_rounded_exponentials_at_least_one_nanosecond():
    wl = _workload(seed=8)
    ref = np.random.Generator(type(wl.rng.bit_generator)())
    ref.bit_generator.state = wl.rng.bit_generator.state
    got = wl.gap_block()
    want = np.maximum(1, np.rint(ref.exponential(1e9 / wl.spec.rate, BLOCK))).astype(np.int64)
    assert got.dtype == np.int64 and np.array_equal(got, want)


def _pair(seed: int = 21) -> tuple[np.random.Generator, np.random.Generator]:
    return np.random.default_rng(seed), np.random.default_rng(seed)


def test_every_block_has_the_block_size():
    rng = np.random.default_rng(1)
    idx, p = np.array([3, 5]), np.array([0.25, 0.75])
    assert len(draws.type_block(rng, idx, p.cumsum(), p)) == BLOCK
    assert len(draws.gap_block(rng, 1000.0)) == BLOCK
    assert len(draws.uniform_block(rng)) == BLOCK


def test_the_same_generator_state_gives_the_same_blocks_in_the_same_order():
    (g1, g2), idx, p = _pair(), np.array([3, 5, 9]), np.array([0.2, 0.5, 0.3])
    b1, b2 = ([draws.type_block(g, idx, p.cumsum(), p), draws.uniform_block(g), draws.gap_block(g, 5e4)]
              for g in (g1, g2))
    assert all(np.array_equal(a, b) for a, b in zip(b1, b2))
    assert g1.random() == g2.random()


def test_a_type_block_is_what_rng_choice_draws_and_moves_the_generator_as_far():
    (g1, g2), idx, p = _pair(), np.array([3, 5, 9, 11]), np.array([0.2, 0.5, 0.1, 0.2])
    got = draws.type_block(g1, idx, p.cumsum() / p.sum(), p)
    want = g2.choice(idx, size=BLOCK, p=p)
    assert np.array_equal(got, want)
    assert g1.random() == g2.random()


def test_a_type_block_draws_only_the_types_of_the_mix_in_its_proportions():
    rng = np.random.default_rng(5)
    idx, p = np.array([4, 7]), np.array([0.9, 0.1])
    got = np.concatenate([draws.type_block(rng, idx, p.cumsum(), p) for _ in range(10)])
    assert set(got.tolist()) == {4, 7}
    assert 0.88 < (got == 4).mean() < 0.92  # 40960 draws: ±0.02 is over 13 standard deviations


def test_uniforms_are_the_generators_plain_uniforms():
    g1, g2 = _pair()
    assert np.array_equal(draws.uniform_block(g1), g2.random(BLOCK))
