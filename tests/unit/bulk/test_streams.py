"""The bulk mode's random streams (apsim.bulk.streams._Stream): a workload's arrivals drawn
from its own generator in the event engine's order, so that after a window and the
handover the workload is exactly where the event engine would have left it."""

from __future__ import annotations

import numpy as np
import pytest

from apsim.bulk.streams import _Stream
from apsim.engine.calendar import pending
from benchmarks.models import build_capacity

T_END = 2_000_000_000  # about 9000 arrivals: more than two blocks of every draw


def _twins(select: str):  # noqa: ANN202
    """Two identical capacity models with their workload started (nothing run yet)."""
    out = []
    for _ in range(2):
        m = build_capacity(adapters=1, domains=4, seed=5, select=select)
        m.workloads[0].start()
        out.append(m)
    return out


def _next_arrival(m) -> int:  # noqa: ANN001
    wl = m.workloads[0]
    return min(e[0] for e in pending(m.env) if e[3] is wl)


@pytest.mark.parametrize("select", ["round_robin", "random"])
def test_after_a_window_and_the_handover_the_workload_is_where_the_event_engine_leaves_it(select):
    bulk, event = _twins(select)
    wl, ref = bulk.workloads[0], event.workloads[0]
    s = _Stream(wl, _next_arrival(bulk))
    at, ty, un, js = s.generate(T_END)
    s.handover()
    event.env.run(until=T_END)
    assert len(at) == s.n == ref.seq - s.seq0 > 2 * 4096
    assert np.all(np.diff(at) >= 1) and at[-1] < T_END <= s.t_next
    assert s.t_next == _next_arrival(event)
    assert wl.seq == ref.seq and wl.rr == ref.rr
    assert wl.rng.bit_generator.state == ref.rng.bit_generator.state
    for blk, pos in (("_gaps", "_gi"), ("_types", "_ti")) + ((("_uni", "_ui"),) if select == "random" else ()):
        assert getattr(wl, pos) == getattr(ref, pos)
        assert np.array_equal(np.asarray(getattr(wl, blk)), np.asarray(getattr(ref, blk)))
    assert len(ty) == len(at) and (len(un) == len(at) if select == "random" else len(un) == 0)
    assert js.tolist() == list(range(len(at)))


def test_a_rewind_makes_an_earlier_arrival_the_next_and_the_handover_undoes_the_later_draws():
    bulk, event = _twins("round_robin")
    wl, ref = bulk.workloads[0], event.workloads[0]
    s = _Stream(wl, _next_arrival(bulk))
    at, *_ = s.generate(T_END)
    J = 5000  # past the first block: the handover must undo a block draw
    s.rewind(J)
    s.handover()
    event.env.run(until=int(at[J]))  # the event engine before arrival J fires
    assert s.t_next == at[J] == _next_arrival(event)
    assert wl.seq == ref.seq and wl.rng.bit_generator.state == ref.rng.bit_generator.state
    assert (wl._gi, wl._ti) == (ref._gi, ref._ti)
