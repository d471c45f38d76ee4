"""The engine against its specification: random operation sequences (NQAP with every
refusal, DQAP, TAPQ, RAPQ/ZAPQ, AQIC on with a plain and with a deferrable pickup
target, AQIC off, SE configure off/on, checkstop/recover, busy windows, time) give the
same observables on the engine (whichever form this process imports: compiled, or
pure with APSIM_PURE=1) and on the pure reference (apsim/engine/reference/): every
instruction's cc, rc and status word, dequeued replies with their PSMIDs and engine
times, the interruption log, the pickups' DQAPs, the ledger, every queue's counters,
replies and mean occupancy, and adapter utilization — after every operation.

Planned FIFO, round-robin and engine-by-engine FIFO adapters are covered
(tests/engine/ref_driver.py builds the machine twice). This is the test that guards
the engine's inlining: a rule copied into a fast path and changed in one place only
shows up here.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from apsim.engine import codes
from tests.engine.ref_driver import APQNS, OPS, EngineSide, PickupTarget, ReferenceSide, run_both

op = st.tuples(st.sampled_from(OPS), st.integers(0, len(APQNS) - 1), st.integers(0, 20))

# The round-robin case that once differed: 02.0004 waits behind both engines, 02.0003
# is reset while it has a request waiting and then sends a new one; 02.0004 has waited
# longer and is served first.
RR_AFTER_RESET = [("nqap", 3, 3), ("nqap", 3, 3), ("nqap", 2, 3), ("nqap", 3, 3), ("rapq", 2, 0),
                  ("time", 0, 1), ("nqap", 2, 3), ("time", 0, 20), ("dqap", 2, 0), ("dqap", 3, 0)]

# A queue in its reset period on an adapter in a busy window: NQAP answers 0x02 (reset
# checked first), TAPQ, DQAP and RAPQ answer 0x05 (busy checked first).
RESET_WHILE_BUSY = [("nqap", 0, 0), ("rapq", 0, 0), ("busy", 0, 1), ("nqap", 0, 0), ("tapq", 0, 0),
                    ("dqap", 0, 0), ("rapq", 0, 0), ("aqic_plain", 0, 0)]

# APQN indices: 0 01.0003, 1 01.0004, 2 02.0003, 3 02.0004, 4 03.0003, 5 03.0004,
# 6 01.0005 (outside the configuration), 7 01.0006 and 8 02.0006 (LPAR "m").
# A planned FIFO adapter re-plans after a reset frees one engine: the older waiting request
# of 01.0004 takes it.
REPLAN_AFTER_RESET = [("nqap", 0, 1), ("nqap", 7, 1), ("nqap", 1, 0), ("nqap", 1, 1), ("time", 0, 1),
                      ("rapq", 0, 0), ("time", 0, 20)]
# Configure off and on within a reset period: the queue comes back without the reset.
CONFIGURE_ENDS_RESET = [("rapq", 0, 0), ("configure_off", 0, 0), ("configure_on", 0, 0), ("nqap", 0, 0),
                        ("to_edge", 0, 1), ("nqap", 0, 0)]
# A reply posted to a deferrable target, then dropped by a reset before its pickup: the
# pickup still comes (and its DQAP meets the reset).
PICKUP_AFTER_RESET = [("aqic_pickup", 1, 1), ("nqap", 1, 0), ("to_reply", 0, 1), ("rapq", 1, 0),
                      ("time", 0, 1)]
# The reset period's last nanosecond and the first after it.
RESET_EDGE = [("rapq", 0, 0), ("to_edge", 0, 0), ("tapq", 0, 0), ("nqap", 0, 0), ("to_edge", 0, 1),
              ("tapq", 0, 0), ("nqap", 0, 0)]
# Round robin with three requests of one APQN waiting behind another APQN's two.
RR_ONE_APQN_MANY_WAITING = [("nqap", 3, 2), ("nqap", 3, 2), ("nqap", 2, 2), ("nqap", 2, 2), ("nqap", 2, 2),
                            ("nqap", 8, 2), ("configure_on", 8, 0), ("nqap", 8, 2), ("time", 0, 20)]


@settings(max_examples=300, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=10, max_size=60), st.sampled_from(("default", "deterministic")))
@example(RR_AFTER_RESET, "default")
@example(RESET_WHILE_BUSY, "default")
@example(REPLAN_AFTER_RESET, "default")
@example(CONFIGURE_ENDS_RESET, "default")
@example(PICKUP_AFTER_RESET, "default")
@example(RR_ONE_APQN_MANY_WAITING, "default")
@example(RESET_EDGE, "default")
def test_engine_and_reference_give_the_same_observables_for_any_operation_sequence(ops, profile):
    """With exponential service times, and with deterministic ones (engines finishing at one
    instant: replies, interruptions and pickups at the same time)."""
    engine, reference = run_both(ops, profile=profile)
    for k, (a, b) in enumerate(zip(engine, reference, strict=True)):
        assert a == b, f"engine and reference differ after operation {k} of {ops[:k + 1]} ({profile})"


def test_the_comparison_sees_completions_drops_interruptions_pickups_and_refusals():
    """Not vacuous: a plain sequence completes, drops, interrupts, picks up and refuses."""
    # APQN indices: 0 01.0003, 1 01.0004, 2 02.0003, 3 02.0004, 4 03.0003, 5 03.0004, 6 01.0005.
    ops = [("aqic_plain", 0, 1), ("aqic_pickup", 3, 1),
           ("nqap", 0, 0), ("nqap", 0, 0), ("nqap", 2, 2), ("nqap", 3, 2), ("nqap", 4, 3),
           ("nqap", 6, 0), ("nqap", 0, 2), ("nqap", 0, 20), ("nqap", 2, 4),  # 0x01 0x16 0x15 0x42
           ("time", 0, 20), ("dqap", 0, 0), ("dqap", 0, 0), ("dqap", 2, 0),
           ("nqap", 1, 0), ("rapq", 1, 0), ("nqap", 4, 3), ("configure_off", 4, 0),
           ("busy", 0, 1), ("nqap", 0, 0)]  # 0x05
    engine, reference = run_both(ops)
    assert engine == reference
    final = reference[-1]
    ledger = final["ledger"]
    assert ledger["completed"] == 4
    assert ledger["dropped"] == {"configure_off": 2, "reset": 1}
    assert set(ledger["rejected"]) == {"0x01", "0x05", "0x15", "0x16", "0x42"}
    assert final["irqs"] and final["pickups"]
    assert all(0 < u < 1 for u in final["utilization"])


def _next_done(ref: ReferenceSide, apqn: int) -> int:
    (job,) = [j for j in ref.m.adapters[apqn >> 8].engines if j is not None]
    return job.t_start + job.service_ns


def _tapq_at_t_done(apqn: int, rtype_arg: int) -> list:
    """NQAP one request on *apqn*, run to exactly its t_done, TAPQ: (engine, reference)."""
    sides = (EngineSide(7), ReferenceSide(7))
    for s in sides:
        s.op("nqap", apqn, rtype_arg, 1)
    t = _next_done(sides[1], apqn)
    seen = []
    for s in sides:
        s.env.run(until=t)
        seen.append(s.op("tapq", apqn, 0, 2))
    return seen


def test_an_instruction_at_t_done_comes_before_the_completion_engine_by_engine():
    """The reference's order at one instant, which the engine-by-engine FIFO adapter 03 has too:
    a TAPQ issued at exactly t_done (after env.run(until=t_done)) sees no reply yet."""
    engine, reference = _tapq_at_t_done(0x303, 2)
    assert engine == reference and not reference[2] & codes.SW_REPLIES_WAITING


@pytest.mark.xfail(strict=True, reason="known engine difference: a planned FIFO adapter posts a reply "
                   "at the start of its instant t_done, so an instruction issued at exactly t_done "
                   "sees it; engine by engine (and in the reference) the completion comes after it")
def test_a_planned_fifo_adapter_orders_an_instruction_at_t_done_as_engine_by_engine():
    engine, reference = _tapq_at_t_done(0x103, 0)
    assert engine == reference


def test_a_deferrable_target_picks_up_pickup_ns_after_its_interruption_whoever_dequeued():
    """A planned FIFO adapter folds a deferrable target's interruption and pickup into one
    event; a DQAP by someone else in between does not cancel the pickup (it once did)."""
    sides = (EngineSide(7), ReferenceSide(7))
    for s in sides:
        s.aqic_on(0x104, PickupTarget(s.env, 0x104, lambda s=s: s.dqap(0x104)[1::2], s.pickups), 0x2000)
        s.op("nqap", 0x104, 0, 1)
    t = _next_done(sides[1], 0x104)
    for s in sides:
        s.env.run(until=t + 1)
        assert s.dqap(0x104)[1] == 0  # a DQAP by someone else than the target
        s.env.run(until=t + 1_000_000)
    assert sides[0].pickups == sides[1].pickups
