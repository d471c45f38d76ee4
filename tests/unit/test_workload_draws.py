"""A workload's blocks of random draws are the numbers numpy's plain calls give, in the same order."""

from __future__ import annotations

import numpy as np

from apsim.guest.workload import _BLOCK
from benchmarks.models import build_capacity


def _workload(seed: int = 3):  # noqa: ANN202
    return build_capacity(adapters=1, domains=4, seed=seed).workloads[0]


def test_one_type_mix_moves_the_generator_as_far_as_drawing_the_uniforms():
    wl = _workload()
    ref = np.random.Generator(type(wl.rng.bit_generator)())
    ref.bit_generator.state = wl.rng.bit_generator.state
    types = wl.type_block()
    ref.random(_BLOCK)  # what rng.choice(types, p=[1.0]) draws
    assert (types == wl._mix_idx[0]).all() and len(types) == _BLOCK
    assert wl.rng.bit_generator.state == ref.bit_generator.state
    assert wl.rng.random() == ref.random()


def test_one_type_mix_with_a_buffered_32_bit_half_still_draws_the_uniforms():
    wl = _workload()
    wl.rng.integers(0, 7, dtype=np.uint32)  # leaves half of a 64-bit output buffered
    ref = np.random.Generator(type(wl.rng.bit_generator)())
    ref.bit_generator.state = wl.rng.bit_generator.state
    wl.type_block()
    ref.random(_BLOCK)
    assert wl.rng.bit_generator.state == ref.bit_generator.state


def test_gaps_are_the_rounded_exponentials_at_least_one_nanosecond():
    wl = _workload(seed=8)
    ref = np.random.Generator(type(wl.rng.bit_generator)())
    ref.bit_generator.state = wl.rng.bit_generator.state
    got = wl.gap_block()
    want = np.maximum(1, np.rint(ref.exponential(1e9 / wl.spec.rate, _BLOCK))).astype(np.int64)
    assert got.dtype == np.int64 and np.array_equal(got, want)


def test_service_times_are_mean_times_unit_variate_rounded_half_up_at_least_one():
    m = build_capacity(adapters=1, domains=4, seed=5)
    smp = m.machine.adapters[0].sampler
    units = np.array([0.0, 1e-12, 0.37, 1.0, 2.5, 7.25])
    means = np.full(units.size, 1234.5)
    want = np.maximum(np.floor(means * units + 0.5).astype(np.int64), 1)
    assert np.array_equal(smp._scaled(means, units), want)
