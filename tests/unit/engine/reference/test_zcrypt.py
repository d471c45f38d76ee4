"""The reference workload alone, over a hand-made port: each dispatch rule with numbers one can
check by hand (tests/engine/test_reference_zcrypt.py compares it with the engine)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np
import simpy

from apsim import _engine
from apsim.engine import codes, draws, reference
from apsim.engine.reference import zcrypt, zcrypt_control, zcrypt_parts
from apsim.engine.recorder import RequestRecorder
from apsim.engine.reference.zcrypt import RefWorkload
from apsim.engine.reference.zcrypt_control import POLL_LOW_NS
from apsim.engine.request import Ledger, Request
from apsim.engine.workload_spec import WorkloadSpec
from apsim.hw.timing import get_profile

SERVICE_NS = 10_000
IRQ_NS = 5_000  # the default profile's irq_latency_ns
DQAP_NS = 3_000  # its dqap_ns
POLL_NS = 250_000


class FakeQueue:
    """A queue that answers DQAP's status word (its R bit) and keeps its replies."""

    def __init__(self) -> None:
        self.replies: deque[Request] = deque()

    def status(self) -> int:
        return codes.make_status(0, replies=bool(self.replies))


class FakePort:
    """A Port whose queues take every request (unless told to refuse) and answer it
    ``SERVICE_NS`` later, raising the interruption if a handler is enabled."""

    name = "fake"

    def __init__(self, apqns: list[int], depth: int = 2) -> None:
        self.env = simpy.Environment()
        self.profile = get_profile("default")
        self.ledger = Ledger()
        self.apqns = apqns
        self.depth = depth
        self.queues = {q: FakeQueue() for q in apqns}
        self.handlers: dict[int, Callable[[int], None]] = {}
        self.refuse: dict[int, int] = {}  # APQN -> the response code its NQAP answers
        self.tapq_rc = 0
        self.sent: list[tuple[int, int, int]] = []  # (time, APQN, psmid) of every accepted NQAP
        self.errors: list[tuple[int, int, str]] = []
        self.irq_enables: list[int] = []

    def nqap(self, apqn: int, req: Request) -> int:
        rc = self.refuse.get(apqn, 0)
        if rc:
            self.ledger.reject(rc)
            return rc
        self.ledger.accept()
        req.queue = self.queues[apqn]
        req.t_start = self.env.now
        self.sent.append((self.env.now, apqn, req.psmid))
        self.env.timeout(SERVICE_NS).callbacks.append(lambda _ev: self._done(apqn, req))
        return 0

    def _done(self, apqn: int, req: Request) -> None:
        req.t_done = self.env.now
        self.queues[apqn].replies.append(req)
        if apqn in self.handlers:
            self.handlers[apqn](apqn)

    def dqap(self, apqn: int) -> tuple[int, Request | None]:
        q = self.queues[apqn]
        if not q.replies:
            return 0x10, None
        return 0, q.replies.popleft()

    def targets(self) -> list[int]:
        return list(self.apqns)

    def queue_depth(self, apqn: int) -> int:
        return self.depth

    def enable_irq(self, apqn: int, handler: Callable[[int], None]) -> bool:
        self.handlers[apqn] = handler
        self.irq_enables.append(apqn)
        return True

    def ready_at(self, now: int) -> int:
        return now

    def poll_ns(self) -> int:
        return POLL_NS

    def queue_error(self, apqn: int, rc: int, fn: str) -> None:
        self.errors.append((apqn, rc, fn))

    def tapq(self, apqn: int) -> int:
        return self.tapq_rc


def _workload(port: FakePort, owner: int = 3, seed: int = 1, weight_of=None, **spec) -> tuple:  # noqa: ANN001
    rec = RequestRecorder()
    spec.setdefault("kind", "closed")
    wl = RefWorkload(port, WorkloadSpec(**spec), rec, owner, np.random.default_rng(seed), weight_of=weight_of)
    return wl, rec


def _rows(rec: RequestRecorder) -> list[tuple[int, ...]]:
    cols = rec.arrays(include_warmup=True)
    return list(zip(*(cols[k].tolist() for k in ("apqn", "t_submit", "t_done", "t_deq")), strict=True))


def test_psmid_is_owner_shifted_32_or_the_low_32_bits_of_the_sequence_number():
    port = FakePort([0x0103])
    wl, _ = _workload(port, owner=3, concurrency=2)
    wl.seq = 0xFFFFFFFF  # the next two wrap in the low half
    wl.start()
    assert [p for _, _, p in port.sent] == [(3 << 32) | 0, (3 << 32) | 1]


def test_round_robin_moves_on_before_it_picks_so_the_first_request_goes_to_the_second_target():
    port = FakePort([0x0103, 0x0104, 0x0203], depth=4)
    wl, _ = _workload(port, select="round_robin", concurrency=4)
    wl.start()
    assert [q for _, q, _ in port.sent] == [0x0104, 0x0203, 0x0103, 0x0104]


def test_least_loaded_ties_go_to_fewer_requests_so_far_then_to_the_earlier_target():
    port = FakePort([0x0103, 0x0104], depth=4)
    wl, _ = _workload(port, select="least_loaded", concurrency=3)
    wl.start()
    # load 0/0 -> the earlier; load 1/0 -> the second; 1/1, totals 1/1 -> the earlier again.
    assert [q for _, q, _ in port.sent] == [0x0103, 0x0104, 0x0103]
    wl.tgt[0x0103].load = wl.tgt[0x0104].load = 0
    wl.new_request()  # equal load: 0x0104 has had fewer requests (1 against 2)
    assert port.sent[-1][1] == 0x0104


def test_least_loaded_adds_the_weight_of_the_request_type_to_the_load():
    port = FakePort([0x0103, 0x0203], depth=4)
    heavy_on_2 = lambda apqn, rt: 5 if apqn >> 8 == 2 else 2  # noqa: E731
    wl, _ = _workload(port, select="least_loaded", concurrency=3, weight_of=heavy_on_2)
    wl.start()
    # 2+0 < 5+0 -> 0x0103 (load 2); 2+2 < 5 -> 0x0103 (load 4); 2+4 > 5+0 -> 0x0203.
    assert [q for _, q, _ in port.sent] == [0x0103, 0x0103, 0x0203]
    assert (wl.tgt[0x0103].load, wl.tgt[0x0203].load) == (4, 5)


def test_a_full_queue_holds_requests_in_the_software_queue_and_a_reply_sends_the_next():
    port = FakePort([0x0103], depth=1)
    wl, rec = _workload(port, concurrency=3)
    wl.start()
    assert len(port.sent) == 1 and wl.in_software_queues() == 2
    port.env.run(until=SERVICE_NS + IRQ_NS + 1)
    # The reply is picked up at 15 us: its slot goes to the next held request at once.
    assert [t for t, _, _ in port.sent] == [0, SERVICE_NS + IRQ_NS]
    assert wl.in_software_queues() == 2  # one left, and the closed loop's next request
    assert _rows(rec) == [(0x0103, 0, SERVICE_NS, SERVICE_NS + IRQ_NS + DQAP_NS)]


def test_one_pickup_takes_every_reply_pending_and_the_kth_is_dequeued_k_dqap_times_later():
    port = FakePort([0x0103], depth=4)
    wl, rec = _workload(port, kind="open", trace=[0, 2_000], concurrency=1)
    wl.start()
    port.env.run(until=100_000)
    # Replies at 10 and 12 us; the first interruption's pickup at 15 us takes both
    # (the second interruption found it pending).
    assert _rows(rec) == [(0x0103, 0, 10_000, 15_000 + DQAP_NS),
                          (0x0103, 2_000, 12_000, 15_000 + 2 * DQAP_NS)]


def test_poll_mode_picks_replies_up_at_the_poll_tick_and_stops_when_nothing_is_outstanding():
    port = FakePort([0x0103])
    wl, rec = _workload(port, kind="open", trace=[0], reply="poll")
    wl.start()
    port.env.run(until=3 * POLL_NS)
    assert _rows(rec) == [(0x0103, 0, SERVICE_NS, POLL_NS + DQAP_NS)]
    assert not wl.polling and port.irq_enables == []


def test_open_loop_gaps_are_the_draws_gap_stream_after_the_type_of_each_request():
    port = FakePort([0x0103], depth=16)
    wl, _ = _workload(port, kind="open", rate=10_000.0, seed=5)
    wl.start()
    port.env.run(until=1_000_000)
    rng = np.random.default_rng(5)
    gaps = draws.gap_block(rng, 10_000.0)  # drawn at start, before the first type block
    want = np.cumsum(gaps)[:len(port.sent)].tolist()
    assert [t for t, _, _ in port.sent] == want and len(want) > 3


def test_a_trace_arrival_in_the_past_arrives_now_and_the_last_ends_the_arrivals():
    port = FakePort([0x0103], depth=16)
    wl, _ = _workload(port, kind="open", trace=[5, 0, 7])
    port.env.run(until=6)
    wl.start()
    port.env.run(until=100)
    assert [t for t, _, _ in port.sent] == [6, 6, 7] and not wl.arrival_pending


def test_message_errors_count_as_einval_and_keep_the_queue_in_use():
    port = FakePort([0x0103])
    port.refuse[0x0103] = 0x15  # MESSAGE_TOO_BIG
    wl, _ = _workload(port)
    wl.start()
    assert (wl.rejected, wl.einval, wl.targets, port.errors) == (1, 1, [0x0103], [])
    assert wl.last_rejections == [(0, 0x0103, 0x15)]


def test_a_code_ap_sm_write_has_no_case_for_retires_the_queue_and_stalls_its_held_requests():
    port = FakePort([0x0103], depth=1)
    wl, _ = _workload(port, concurrency=2)
    wl.start()  # one sent, one held
    port.refuse[0x0103] = 0x0A  # STATE_CHANGE_IN_PROGRESS: the default branch
    wl.new_request()
    assert port.errors == [] and wl.in_software_queues() == 2
    wl.tgt[0x0103].held.clear()
    wl.tgt[0x0103].outstanding = 0
    wl.new_request()
    assert port.errors == [(0x0103, 0x0A, "ap_sm_write")] and wl.targets == []


def test_a_closed_loop_sends_its_next_request_one_poll_interval_after_a_rejection():
    port = FakePort([0x0103])
    port.refuse[0x0103] = 0x10  # Q_FULL: rejected, the queue stays in use
    wl, _ = _workload(port)
    wl.start()
    port.env.run(until=POLL_NS)
    assert wl.seq == 1
    port.env.run(until=POLL_NS + 1)
    assert (wl.seq, wl.rejected) == (2, 2)


def test_reset_in_progress_keeps_the_request_and_resends_it_after_the_low_rate_poll():
    port = FakePort([0x0103])
    port.refuse[0x0103] = 0x02
    wl, _ = _workload(port)
    wl.start()
    assert wl.rejected == 0 and port.ledger.submitted == 0 and wl.in_software_queues() == 1
    port.tapq_rc = 0x02
    port.env.run(until=POLL_LOW_NS + 1)  # still in reset: wait once more
    assert wl.backlog.waits == 1 and port.sent == []
    del port.refuse[0x0103]
    port.tapq_rc = 0
    port.env.run(until=2 * POLL_LOW_NS + 1)
    assert port.sent == [(2 * POLL_LOW_NS, 0x0103, (3 << 32) | 1)]
    assert wl.backlog.resent == 1 and port.irq_enables == [0x0103, 0x0103]


def test_a_drop_frees_the_slot_for_a_held_request_zero_ns_later():
    port = FakePort([0x0103], depth=1)
    wl, _ = _workload(port, kind="open", trace=[0, 0])
    wl.start()
    port.env.run(until=1)
    assert len(port.sent) == 1 and wl.in_software_queues() == 1  # the second request is held
    first = Request((3 << 32) | 1, 0, 912, 3, 0, -1, wl)
    first.apqn = 0x0103
    wl.on_dropped(first, "reset")  # as the queue's flush calls it
    assert wl.dropped == 1 and wl.tgt[0x0103].outstanding == 0 and len(port.sent) == 1
    port.env.run(until=2)
    assert [t for t, _, _ in port.sent] == [0, 1] and wl.in_software_queues() == 0


def test_refresh_targets_takes_back_the_held_requests_of_a_queue_that_left_and_dispatches_them():
    port = FakePort([0x0103, 0x0104], depth=1)
    wl, _ = _workload(port, select="round_robin", concurrency=4)
    wl.start()  # 0x0104 and 0x0103 get one each, the next two are held
    assert wl.in_software_queues() == 2
    port.apqns = [0x0103]
    wl.refresh_targets()
    assert wl.targets == [0x0103] and len(wl.tgt[0x0103].held) == 2
    gone = wl.tgt[0x0104]
    assert (gone.load, gone.outstanding, len(gone.held)) == (1, 1, 0)  # the held one's weight left


def test_the_reference_is_never_compiled():
    """The specification stays plain Python: no .pxd beside it, so setup.py never compiles it."""
    assert not [m for m in _engine.COMPILED_MODULES if m.startswith(reference.__name__)]
    assert all(mod.__file__.endswith(".py") for mod in (zcrypt, zcrypt_control, zcrypt_parts))
