"""The reference firmware on its own, with hand-computed numbers: the specification
is checked against arithmetic, not only against the engine."""

from __future__ import annotations

from apsim.engine import codes
from apsim.engine.reference.firmware import RefRequest
from tests.unit.engine.reference.machine import ACCEPTED, RESET_IN_PROGRESS, build, send


def test_fifo_with_two_engines_starts_the_third_request_when_the_first_engine_frees():
    env, _m, cpu = build([10, 20, 5])
    assert [send(cpu, 0x101, p) for p in (1, 2, 3)] == [ACCEPTED] * 3
    env.run(until=30)
    replies = [cpu.dqap(0x101).req for _ in range(3)]
    # A 0-10, B 0-20, C waits for A's engine: 10-15; replies in completion order.
    assert [(r.psmid, r.t_start, r.t_done) for r in replies] == [(1, 0, 10), (3, 10, 15), (2, 0, 20)]
    assert cpu.dqap(0x101).rc == codes.NO_PENDING_REPLY


def test_round_robin_serves_one_request_per_apqn_in_turn():
    env, _m, cpu = build([10] * 4, engines=1, arbitration="round_robin")
    for apqn, psmid in ((0x101, 1), (0x101, 2), (0x101, 3), (0x102, 4)):
        send(cpu, apqn, psmid)
    env.run(until=50)
    got = sorted((r.t_start, r.psmid) for r in (cpu.dqap(a).req for a in (0x101, 0x101, 0x101, 0x102)))
    # 1 takes the idle engine; then the ring [0101, 0102]: 2, then 4, then 3.
    assert got == [(0, 1), (10, 2), (20, 4), (30, 3)]


def test_reset_drops_everything_frees_the_engine_and_answers_0x02_for_reset_ns():
    env, m, cpu = build([50, 30], engines=1)
    send(cpu, 0x101, 1)
    send(cpu, 0x102, 2)  # waits for the one engine
    env.run(until=10)
    assert cpu.rapq(0x101).rc == ACCEPTED
    assert m.ledger.summary()["dropped"] == {"reset": 1}
    assert send(cpu, 0x101, 3) == RESET_IN_PROGRESS
    env.run(until=109)
    assert cpu.tapq(0x101).rc == RESET_IN_PROGRESS
    env.run(until=110)
    assert cpu.tapq(0x101).rc == ACCEPTED
    r = cpu.dqap(0x102).req  # the freed engine took it at the reset: 10 + 30
    assert (r.t_start, r.t_done) == (10, 40)


def test_nqap_answers_state_before_length_type_domain_and_full():
    env, m, cpu = build([10] * 5, depth=1)
    m.se_configure(m.lpars["l"], [1], False)
    assert send(cpu, 0x101, 1, length=5000, rtype=1, ctrl_domain=7) == codes.RC.DECONFIGURED
    m.se_configure(m.lpars["l"], [1], True)
    assert send(cpu, 0x101, 2, length=5000, rtype=1) == codes.RC.MESSAGE_TOO_BIG
    assert send(cpu, 0x101, 3, rtype=1, ctrl_domain=7) == codes.RC.REQ_FAC_NOT_INST
    assert send(cpu, 0x101, 4, ctrl_domain=7) == codes.RC.INVALID_DOMAIN
    assert send(cpu, 0x101, 5) == ACCEPTED
    assert send(cpu, 0x101, 6) == codes.RC.Q_FULL
    assert send(cpu, 0x0301, 7) == codes.RC.Q_NOT_AVAIL
    assert m.ledger.summary()["rejected"] == {"0x01": 1, "0x03": 1, "0x10": 1, "0x15": 1, "0x16": 1, "0x42": 1}


def test_status_word_bits_follow_count_replies_and_interruptions():
    env, _m, cpu = build([10], depth=1)
    sw = cpu.nqap(0x101, RefRequest(1, 0, 100)).status
    assert sw & codes.SW_QUEUE_FULL and not sw & (codes.SW_QUEUE_EMPTY | codes.SW_REPLIES_WAITING)
    cpu.aqic(0x101, enable=True, target=lambda q: None, nib=0x1000)
    env.run(until=10)  # the completion at 10 comes after an instruction issued at 10
    assert not cpu.tapq(0x101).status & codes.SW_REPLIES_WAITING
    env.run(until=11)
    assert cpu.tapq(0x101).status == (codes.SW_QUEUE_FULL | codes.SW_REPLIES_WAITING | codes.SW_IRQ_ENABLED)
    assert cpu.dqap(0x101).status == codes.SW_QUEUE_EMPTY | codes.SW_IRQ_ENABLED


def test_a_deferrable_target_is_interrupted_at_t_done_not_at_its_pickup():
    env, _m, cpu = build([10, 12])
    calls = []

    class Deferrable:
        pickup_ns = 1_000

        def __call__(self, q):
            calls.append(("irq", env.now, q.apqn))

        def pickup(self, q):
            calls.append(("pickup", env.now))

    cpu.aqic(0x101, enable=True, target=Deferrable(), nib=0x1000)
    send(cpu, 0x101, 1)
    send(cpu, 0x101, 2)
    env.run(until=5_000)
    assert calls == [("irq", 10, 0x101), ("irq", 12, 0x101)]


def test_mean_occupancy_is_the_time_average_of_count():
    env, _m, cpu = build([10])
    send(cpu, 0x101, 1)
    env.run(until=30)
    cpu.dqap(0x101)  # one entry from 0 to 30
    env.run(until=60)
    assert cpu.queue(0x101).mean_occupancy(60) == 0.5
