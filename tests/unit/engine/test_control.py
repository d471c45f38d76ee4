"""A workload's cold half (apsim.engine.control.WorkloadControl): its life cycle, its target
set, and zcrypt's handling of an NQAP that refuses a message (ap_queue.c ap_sm_write): the
request ends with EINVAL for its caller and the queue stays in use; any other
non-transient code takes the queue out of use until the bus sees it again; and what
happens to a target's held requests when the driver stops using it."""

from __future__ import annotations

import pytest

from apsim.engine.port import LparPort
from apsim.engine.workload import Workload
from apsim.engine.workload_spec import WorkloadSpec
from apsim.hw.faults import Fault, table_of
from apsim.ids import apqn
from apsim.engine.recorder import RequestRecorder
from apsim.engine.core import new_env
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.machine import Machine
from tests.conftest import build_machine


def _workload(length: int):  # noqa: ANN202
    env, m, lp = build_machine()
    rec = RequestRecorder()
    spec = WorkloadSpec(kind="closed", concurrency=2, mix={"rsa2048": 1.0}, targets=[apqn(5, 4)],
                        reply="poll", length=length)
    wl = Workload(LparPort(m, lp.config), spec, rec, rec.owner_index("lp"), m.streams.get("workload.lp"))
    wl.start()
    return env, m, wl


def test_message_too_big_ends_the_request_with_einval_and_keeps_the_queue():
    """ap_queue.c ap_sm_write: AP_RESPONSE_MESSAGE_TOO_BIG (0x15), like REQ_FAC_NOT_INST
    and INVALID_DOMAIN, takes the message off the request queue with rc -EINVAL, calls its
    receive callback and returns AP_SM_WAIT_AGAIN: the queue keeps working."""
    env, m, wl = _workload(length=64 * 1024)  # a CEX7C takes 12 KiB (ml 0)
    env.run(until=5_000_000)
    assert wl.rejected > 0 and wl.einval == wl.rejected and wl.completed == 0
    assert wl.targets == [apqn(5, 4)]
    assert {rc for _, _, rc in wl.last_rejections} == {0x15}


def test_a_message_that_fits_completes():
    """The same queue with a message within ap_card's maxmsgsize (12 KiB default) replies."""
    env, m, wl = _workload(length=1024)
    env.run(until=5_000_000)
    assert wl.completed > 0 and wl.einval == 0 and wl.rejected == 0


def test_busy_on_an_lpar_port_retires_the_queue_and_the_port_marks_nothing():
    """ap_queue.c ap_sm_write ``default:``: NQAP RC 0x05 (busy) is not retried; the
    workload retires the queue after the first refusal. A bare LPAR port has no Linux
    queue device to put into AP_DEV_STATE_ERROR (LparPort.queue_error does nothing)."""
    env, m, lp = build_machine()
    rec = RequestRecorder()
    spec = WorkloadSpec(kind="closed", concurrency=2, mix={"rsa2048": 1.0}, targets=[apqn(5, 4)],
                        reply="poll")
    port = LparPort(m, lp.config)
    calls: list[tuple[int, int, str]] = []
    real = port.queue_error
    port.queue_error = lambda q, rc, fn: (calls.append((q, rc, fn)), real(q, rc, fn))[1]
    wl = Workload(port, spec, rec, rec.owner_index("lp"), m.streams.get("workload.lp"))
    wl.start()
    env.run(until=1_000_000)
    done = wl.completed
    assert done > 0
    fault = Fault(id=1, kind="busy", start=int(env.now), end=int(env.now) + 2_000_000, code=0x05,
                  instructions=frozenset({"NQAP"}))
    table_of(m).arm(fault, [lp.config.lpar.queues[apqn(5, 4)]])
    env.run(until=5_000_000)
    assert calls == [(apqn(5, 4), 0x05, "ap_sm_write")], (fault.fired, wl.rejected, wl.targets, wl.last_rejections)
    assert wl.targets == [] and wl.rejected == 1 and fault.fired == 1
    assert wl.completed - done <= 2   # at most the two already in the queue finish


def _wl(*, kind: str = "closed", targets="all", select: str = "round_robin", per: str = "guest",
        concurrency: int = 1, reply: str = "poll", start: bool = True, port=None):  # noqa: ANN001, ANN202
    env, m, lp = build_machine()
    rec = RequestRecorder()
    spec = WorkloadSpec(kind=kind, concurrency=concurrency, per=per, mix={"rsa2048": 1.0},
                        targets=targets, select=select, reply=reply, rate=1e4 if kind == "open" else 0.0)
    port = port or LparPort(m, lp.config)
    wl = Workload(port, spec, rec, rec.owner_index("lp"), m.streams.get("workload.lp"))
    if start:
        wl.start()
    return env, m, lp, wl


A, B, C = apqn(5, 4), apqn(6, 4), apqn(7, 4)


def _refuse(m, lp, q: int, rc: int) -> Fault:  # noqa: ANN001
    """Every NQAP on *q* answers *rc* for the next 2 ms."""
    f = Fault(id=rc, kind="response", start=int(m.env.now), end=int(m.env.now) + 2_000_000, code=rc,
              instructions=frozenset({"NQAP"}))
    table_of(m).arm(f, [lp.config.lpar.queues[q]])
    return f


@pytest.mark.parametrize("rc", [0x15, 0x16, 0x42])
def test_nqap_codes_that_end_one_message_with_einval_keep_the_queue_in_use(rc):
    """ap_sm_write: INVALID_DOMAIN (0x42), MESSAGE_TOO_BIG (0x15), REQ_FAC_NOT_INST (0x16)."""
    env, m, lp, wl = _wl(targets=[A, B])
    env.run(until=1_000_000)
    f = _refuse(m, lp, A, rc)
    env.run(until=5_000_000)
    assert f.fired > 0 and wl.einval == wl.rejected > 0
    assert wl.targets == [A, B]


@pytest.mark.parametrize("rc", [0x03, 0x04, 0x05, 0x06, 0x0A])
def test_other_nqap_codes_take_the_queue_out_of_use(rc):
    """ap_sm_write's ``default:`` branch (AP_DEV_STATE_ERROR) for any code it has no case for."""
    env, m, lp, wl = _wl(targets=[A, B])
    env.run(until=1_000_000)
    _refuse(m, lp, A, rc)
    env.run(until=5_000_000)
    assert wl.rejected == 1 and wl.einval == 0
    assert wl.targets == [B] and wl.completed > 0


def test_queue_full_neither_ends_the_message_with_einval_nor_retires_the_queue():
    env, m, lp, wl = _wl(targets=[A, B])
    env.run(until=1_000_000)
    _refuse(m, lp, A, 0x10)
    env.run(until=5_000_000)
    assert wl.rejected > 0 and wl.einval == 0 and wl.targets == [A, B]


def test_a_rejection_is_remembered_with_its_time_apqn_and_code_the_last_three_only():
    env, m, lp, wl = _wl(targets=[A, B], concurrency=4)
    env.run(until=1_000_000)
    _refuse(m, lp, A, 0x15)
    env.run(until=5_000_000)
    assert wl.rejected > 3 and len(wl.last_rejections) == 3
    assert all(q == A and rc == 0x15 and t <= env.now for t, q, rc in wl.last_rejections)


def test_a_closed_loop_starts_its_concurrency_per_guest_or_per_apqn():
    for per, want in (("guest", 3), ("apqn", 3 * 2)):
        env, m, lp, wl = _wl(targets=[A, B], per=per, concurrency=3)
        assert wl.seq == want and wl.live == want


def test_starting_twice_or_an_idle_workload_issues_nothing_more():
    env, m, lp, wl = _wl(concurrency=2)
    wl.start()
    assert wl.seq == 2
    env, m, lp, idle = _wl(kind="none")
    assert not idle.running and idle.seq == 0


def test_a_stopped_closed_loop_creates_no_new_requests():
    env, m, lp, wl = _wl(concurrency=2)
    env.run(until=1_000_000)
    wl.stop()
    n = wl.seq
    env.run(until=10_000_000)
    assert wl.seq == n and wl.live == 0 and wl.completed == n


def test_the_active_targets_are_the_specs_list_in_its_order_limited_to_usable_apqns():
    env, m, lp, wl = _wl(targets=[C, apqn(9, 4), A])
    assert wl.targets == [C, A]
    assert [wl.target(q).idx for q in (C, A)] == [0, 1]
    assert wl.target(apqn(9, 4)) is None and wl.ever_targeted == [C, A]


def test_all_targets_every_usable_apqn_of_the_port():
    env, m, lp, wl = _wl()
    assert wl.targets == wl.port.targets() and len(wl.targets) == 12


def test_an_interrupt_driven_workload_enables_interruptions_on_its_targets():
    env, m, lp, wl = _wl(targets=[A, B], reply="interrupt")
    assert all(lp.config.lpar.queues[q].irq for q in (A, B))
    assert not lp.config.lpar.queues[C].irq
    env, m, lp, wl = _wl(targets=[A], reply="poll")
    assert not lp.config.lpar.queues[A].irq


def test_a_target_that_leaves_is_inactive_and_one_that_returns_is_active_again():
    env, m, lp, wl = _wl(targets=[A, B])
    tg = wl.target(A)
    m.checkstop(5)
    wl.refresh_targets()
    assert wl.targets == [B] and tg.idx == -1
    m.checkstop(5, on=False)
    env.run(until=env.now + 10**8)  # past the reset period of the recovered queue
    wl.refresh_targets()
    assert wl.targets == [A, B] and wl.target(A) is tg and tg.idx == 0


def test_least_loaded_groups_the_targets_that_weigh_every_type_the_same():
    env, m, lp, wl = _wl(targets=[A, B, C], select="least_loaded", start=False)
    wl.weight_of = lambda q, rt: 2 if q == B else 1
    wl.refresh_targets()
    groups = {tuple(t.apqn for t in g.members) for g in wl._groups}
    assert groups == {(A, C), (B,)}
    assert wl.target(A).group is wl.target(C).group is not wl.target(B).group


def test_round_robin_builds_no_least_loaded_groups():
    env, m, lp, wl = _wl(targets=[A, B], select="round_robin")
    assert wl._groups == []


def test_dropped_requests_are_counted_and_the_closed_loop_replaces_them_after_the_poll_period():
    env, m, lp, wl = _wl(targets=[A], concurrency=2)
    env.run(until=1_000)
    assert wl.live == 2
    assert wl.port.cpu.rapq(A).cc == 0
    assert wl.dropped == 2 and wl.live == 0 and m.ledger.dropped["reset"] == 2
    env.run(until=env.now + wl.port.poll_ns() + 10**8)
    assert wl.seq > 2 and wl.completed > 0


def test_state_reports_every_counter_and_the_live_ones_balance():
    env, m, lp, wl = _wl(targets=[A, B], concurrency=3)
    env.run(until=3_000_000)
    st = wl.state()
    assert set(st) == {"completed", "dropped", "rejected", "live", "held", "seq"}
    assert st["seq"] == st["completed"] + st["dropped"] + st["rejected"] + st["live"]
    assert st["held"] == wl.in_software_queues()

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
