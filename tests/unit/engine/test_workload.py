"""A workload's hot path (apsim.engine.workload.Workload): its blocks of draws, the type
and length of each request it sends, and the open loop's arrival chain."""

from __future__ import annotations

import numpy as np

from benchmarks.models import build_capacity


def _workload(seed: int = 3):  # noqa: ANN202
    return build_capacity(adapters=1, domains=4, seed=seed).workloads[0]


def test_setting_a_block_of_gaps_or_types_updates_the_length_the_hot_path_reads():
    wl = _workload()
    wl._gaps = np.arange(5, 12, dtype=np.int64)
    wl._types = np.zeros(3, dtype=np.int64)
    assert (wl._gaps_n, wl._types_n) == (7, 3)
    assert list(wl._gaps) == list(range(5, 12))


def _mixed(spec_mix: dict, length=None):  # noqa: ANN001, ANN202
    from apsim.engine.port import LparPort
    from apsim.engine.workload import Workload
    from apsim.engine.workload_spec import WorkloadSpec
    from apsim.engine.recorder import RequestRecorder
    m = build_capacity(adapters=1, domains=4, seed=2)
    lp = m.machine.lpars["capacity"]
    rec = RequestRecorder()
    ws = WorkloadSpec(kind="open", rate=1e5, select="round_robin", mix=spec_mix, length=length)
    wl = Workload(LparPort(m.machine, lp.config, name="x"), ws, rec, rec.owner_index("x"),
                  m.machine.streams.get("x"))
    return m, wl


def test_a_one_type_mix_sends_that_type_at_its_message_length_or_the_spec_length():
    from apsim.hw.timing import request_type
    sent = []
    for length in (None, 333):
        m, wl = _mixed({"rsa1024_me": 1.0}, length)
        assert wl._rt1 == request_type("rsa1024_me").index
        m.machine.ledger.drop_listeners.append(lambda r, c: None)
        wl.start()
        m.env.run(until=200_000)
        reqs = [r for q in m.machine.adapters[0].queues.values() for r in q.live]
        assert reqs and wl.seq > 0
        sent.append({(r.rtype, r.length) for r in reqs})
    rt = request_type("rsa1024_me")
    assert sent == [{(rt.index, rt.msg_len)}, {(rt.index, 333)}]


def test_a_mix_of_several_types_reads_each_requests_type_and_length_from_its_tables():
    from apsim.hw.timing import request_type
    m, wl = _mixed({"rsa1024_me": 0.5, "rsa2048_me": 0.5})
    assert wl._rt1 == -1
    wl.start()
    m.env.run(until=400_000)
    reqs = [r for q in m.machine.adapters[0].queues.values() for r in q.live]
    want = {request_type(n).index: request_type(n).msg_len for n in ("rsa1024_me", "rsa2048_me")}
    assert {r.rtype for r in reqs} == set(want)
    assert all(r.length == want[r.rtype] for r in reqs)


def test_an_open_workload_is_its_own_arrival_clock_and_resumes_the_chain_it_left_pending():
    m, wl = _mixed({"rsa1024_me": 1.0})
    assert wl._arr is wl and not wl.pending
    wl.start()
    assert wl.pending
    wl.stop()
    m.env.run(until=m.env.now + 10_000_000)
    n = wl.seq
    assert not wl.pending and n <= 1  # the pending arrival fired once, found it stopped, ended
    wl.start()
    m.env.run(until=m.env.now + 1_000_000)
    assert wl.pending and wl.seq > n


def test_a_polling_closed_loop_keeps_polling_while_any_target_has_a_request_outstanding():
    """The replies one poll takes send the next requests, round robin, to targets that had
    nothing outstanding when the poll began: the poll timer must run on for them."""
    from apsim.engine.port import LparPort
    from apsim.engine.recorder import RequestRecorder
    from apsim.engine.workload import Workload
    from apsim.engine.workload_spec import WorkloadSpec
    m = build_capacity(adapters=2, domains=6, seed=2)
    lp = m.machine.lpars["capacity"]
    rec = RequestRecorder()
    ws = WorkloadSpec(kind="closed", concurrency=2, select="round_robin", reply="poll")
    port = LparPort(m.machine, lp.config, name="x")
    wl = Workload(port, ws, rec, rec.owner_index("x"), m.machine.streams.get("x"))
    wl.start()
    m.env.run(until=100 * port.poll_ns())
    assert wl.completed > 50 and wl.live == 2 and wl.polling
