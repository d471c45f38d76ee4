"""A workload's cold half (apsim.engine.control.WorkloadControl): what happens to a target's
requests when the driver stops using it."""

from __future__ import annotations

from apsim.engine.core import new_env
from apsim.engine.port import LparPort
from apsim.engine.recorder import RequestRecorder
from apsim.engine.workload import Workload
from apsim.engine.workload_spec import WorkloadSpec
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.machine import Machine


def _held_on_two_adapters() -> tuple:
    env = new_env()
    m = Machine(env, seed=3, max_domain_id=15)
    for apid in (1, 2):
        m.install_adapter(apid, CardSpec(CardType.CEX7, Mode.ACCELERATOR, engines=1, queue_depth=1))
    lp = m.add_lpar("l", adapters=(1, 2), usage_domains=(3,), control_domains=(3,))
    rec = RequestRecorder()
    wl = Workload(LparPort(m, lp.config), WorkloadSpec(kind="closed", concurrency=6, select="least_loaded"),
                  rec, 0, m.streams.get("workload.zcrypt"))
    wl.start()  # one request on each queue, two held for each
    assert [len(wl.target(q).held) for q in (0x0103, 0x0203)] == [2, 2]
    return m, lp, wl


def test_a_target_that_leaves_gives_the_weight_of_its_held_requests_back():
    m, lp, wl = _held_on_two_adapters()
    m.se_configure(lp, [2], False)  # drops the request on 02.0003
    wl.refresh_targets()  # 02.0003 left: its held requests go to 01.0003
    gone = wl.target(0x0203)
    assert (gone.load, gone.outstanding, len(gone.held)) == (0, 0, 0)
    assert wl.target(0x0103).load == 1 + 2 + 2


def test_a_queue_error_gives_the_weight_of_the_queues_held_requests_back():
    m, lp, wl = _held_on_two_adapters()
    m.checkstop(2, True)  # the next NQAP on 02.0003 answers 0x04: ap_sm_write's default branch
    m.env.run(until=m.env.now + 10_000_000)
    bad = wl.target(0x0203)
    assert bad.idx == -1 and not bad.held and bad.load == bad.outstanding
