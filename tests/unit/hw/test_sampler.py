"""A card's service-time sampler (apsim.hw.sampler.ServiceSampler): its draws, its block
state (apsim.engine.api.Sampler) and its snapshots."""

from __future__ import annotations

import numpy as np

from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.sampler import ServiceSampler
from apsim.hw.timing import get_profile, request_type
from benchmarks.models import build_capacity

CEX7C = CardSpec(CardType.CEX7, Mode.CCA)


def _sampler(profile: str = "default", block: int = 64) -> ServiceSampler:
    return ServiceSampler(CEX7C, get_profile(profile), np.random.default_rng(3), block=block)


def test_a_draw_the_current_block_holds_is_rows_at_pos_and_advances_pos():
    smp = _sampler()
    a, b = request_type("rsa2048").index, request_type("cca_high").index
    seen = 0
    for i in range(300):  # several blocks, two types filling their rows at different times
        rt = a if i % 3 else b
        pos, n, row = smp.pos, smp.n, smp.rows[rt]
        got = smp.draw(rt)
        if pos < n and row is not None:
            seen += 1
            assert got == row[pos] and smp.pos == pos + 1
    assert seen > 250


def test_a_deterministic_profile_serves_every_draw_from_its_rows():
    smp = _sampler("deterministic")
    rt = request_type("rsa2048").index
    assert smp.n > 0 and smp.rows[rt] is not None
    assert smp.draw(rt) == smp.rows[rt][0] == smp.mean_ns[rt]


def test_draws_after_a_restore_repeat_those_after_the_snapshot():
    smp = _sampler(block=16)
    types = [request_type("rsa2048").index, request_type("cca_medium").index] * 20
    for rt in types[:7]:
        smp.draw(rt)
    snap = smp.snapshot()
    first = [smp.draw(rt) for rt in types] + list(smp.draw_many(np.array(types)))
    smp.restore(snap)
    again = [smp.draw(rt) for rt in types] + list(smp.draw_many(np.array(types)))
    assert first == again


def test_service_times_are_mean_times_unit_variate_rounded_half_up_at_least_one():
    m = build_capacity(adapters=1, domains=4, seed=5)
    smp = m.machine.adapters[0].sampler
    units = np.array([0.0, 1e-12, 0.37, 1.0, 2.5, 7.25])
    means = np.full(units.size, 1234.5)
    want = np.maximum(np.floor(means * units + 0.5).astype(np.int64), 1)
    assert np.array_equal(smp._scaled(means, units), want)


def _cex8_sampler(distribution: str = "lognormal", seed: int = 9, block: int = 64):  # noqa: ANN202
    prof = get_profile("default").with_overrides({"distribution": distribution})
    return ServiceSampler(CardSpec(CardType.CEX8, Mode.CCA, engines=1), prof,
                          np.random.default_rng(seed), block=block)


def _rt(name: str) -> int:
    from apsim.hw.timing import request_type
    return request_type(name).index


def test_a_type_the_card_cannot_run_has_mean_zero_draws_zero_and_takes_no_variate():
    s, ref = _cex8_sampler(), _cex8_sampler()
    ep11 = _rt("ep11_low")  # a CCA coprocessor runs no EP11 requests
    assert s.mean_ns[ep11] == 0 and s.draw(ep11) == 0
    assert s.draw(_rt("rsa2048")) == ref.draw(_rt("rsa2048"))


def test_a_deterministic_profile_draws_the_mean_every_time():
    s = _cex8_sampler("deterministic")
    rt = _rt("cca_low")
    assert [s.draw(rt) for _ in range(600)] == [s.mean_ns[rt]] * 600


def test_draw_many_returns_what_the_same_sequence_of_draws_returns_across_blocks():
    seq = np.array([_rt(n) for n in ("rsa2048", "cca_low", "ep11_low", "rsa4096")] * 50)
    for dist in ("lognormal", "exponential", "deterministic"):
        a, b = _cex8_sampler(dist), _cex8_sampler(dist)
        assert a.draw_many(seq).tolist() == [b.draw(int(r)) for r in seq]
        assert a.draw(_rt("cca_low")) == b.draw(_rt("cca_low"))  # both left at the same place


def test_the_same_seed_gives_the_same_draws_and_another_seed_other_draws():
    rt = _rt("rsa2048")
    s = _cex8_sampler(seed=3)
    one = [s.draw(rt) for _ in range(100)]
    assert one == _cex8_sampler(seed=3).draw_many(np.full(100, rt)).tolist()
    assert one != _cex8_sampler(seed=4).draw_many(np.full(100, rt)).tolist()


def test_draws_are_at_least_one_nanosecond_with_the_mean_of_the_type():
    s = _cex8_sampler("exponential", block=4096)
    rt = _rt("rsa2048")
    d = s.draw_many(np.full(40_000, rt))
    assert d.min() >= 1
    assert abs(d.mean() / s.mean_ns[rt] - 1) < 0.03  # 40000 unit exponentials: 6 standard errors


def test_a_block_below_one_is_refused():
    import pytest
    with pytest.raises(ValueError, match="block must be at least 1"):
        _cex8_sampler(block=0)
