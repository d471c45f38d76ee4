"""The service-time sampler's block state (apsim.engine.api.Sampler) and its snapshots."""

from __future__ import annotations

import numpy as np

from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.sampler import ServiceSampler
from apsim.hw.timing import get_profile, request_type

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
