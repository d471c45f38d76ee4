"""zcrypt's handling of an NQAP that refuses one message (ap_queue.c ap_sm_write): the
request ends with EINVAL for its caller and the queue stays in use; any other
non-transient code takes the queue out of use until the bus sees it again."""

from __future__ import annotations

from apsim.engine.port import LparPort
from apsim.engine.workload import Workload
from apsim.engine.workload_spec import WorkloadSpec
from apsim.ids import apqn
from apsim.engine.recorder import RequestRecorder
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
    from apsim.hw.faults import Fault, table_of

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
