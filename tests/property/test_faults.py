"""Robustness under faults and overload: nothing hangs, every request is accounted.

A two-adapter machine with two guests under load (one open loop, one closed loop)
goes through adapter checkstops and recovery, configure off/on in the middle of a
heavy load, reset storms (hundreds of RAPQ/ZAPQ from a guest), queue-full storms
(an open loop far above capacity plus NQAP bursts past the queue depth) and, as a
property, random schedules of all of these. After every run:

* the run reached its end in simulated time (a hang would trip the guard instead);
* the ledger balances: submitted = completed + rejected + dropped + in flight, and
  in flight equals the requests the queues still hold; every drop has a named cause;
* the recorder holds no more rows than DQAPs completed, and every row's times are
  ordered (submit ≤ start ≤ done ≤ dequeue), so no latency is negative;
* no guest's workload ever got a reply of another issuer;
* the JSON report builds and its latency figures are not negative.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apsim.engine.request import DROP_CAUSES
from apsim.report.json_report import build_report
from apsim.scenario.run import RunResult, run_scenario
from apsim.scenario.schema import Scenario
from tests.property.test_isolation_world import SOAK, hang_guard, phases

U1 = "62177883-f1bb-47f0-914d-32a22e3a8804"
U2 = "cef03c3c-903d-4ecc-9a83-40694cb8aee4"
MS = 1_000_000
T0 = 100
"""ms: a guest's Linux boots after QEMU's reset of its queues (vfio_ap_mdev_reset_qlist: 40 ms,
as the host's own reset of them is still running) and 10 ms of boot; its queues are usable after
its AP bus reset (RAPQ, then TAPQ at the 40 ms low poll rate), so the load starts at about 90 ms;
faults come after T0."""


def scenario(timeline: list[dict], *, rate: float = 20_000, duration: str = "140ms",
             concurrency: int = 6, seed: int = 1, a_adapters: tuple[int, ...] = (1, 2),
             a_mix: dict | None = None) -> Scenario:
    """Adapters 01 (CEX7C) and 02 (CEX7A), domains 3 and 5; gA: 01/02 × 3 open loop;
    gB: 01/02 × 5 closed loop."""
    return Scenario.model_validate({
        "name": "faults", "seed": seed, "duration": duration,
        "machine": {"model": "z15", "max_adapter_id": 15, "max_domain_id": 15,
                    "adapters": [{"id": 1, "type": "CEX7", "mode": "cca", "engines": 2},
                                 {"id": 2, "type": "CEX7", "mode": "accelerator", "engines": 2}]},
        "lpar": {"adapters": [1, 2], "usage_domains": [3, 5], "control_domains": [3, 5]},
        "host": {"apmask": "-1,-2"},
        "mdevs": [{"uuid": U1, "assign_adapter": list(a_adapters), "assign_domain": [3]},
                  {"uuid": U2, "assign_adapter": [1, 2], "assign_domain": [5]}],
        "guests": [
            {"name": "gA", "mdev": U1,
             "workload": {"kind": "open", "rate": rate, "mix": a_mix or {"rsa1024_me": 1.0}}},
            {"name": "gB", "mdev": U2,
             "workload": {"kind": "closed", "concurrency": concurrency, "mix": {"rsa2048_me": 1.0},
                          "reply": "poll"}},
        ],
        "timeline": timeline,
    })


def rescans(at_ms: int) -> list[dict]:
    """An admin forces an AP bus rescan in both guests (``echo 1 > /sys/bus/ap/scans``)."""
    return [{"at": f"{at_ms}ms", "do": "sysfs.write", "guest": g, "path": "/sys/bus/ap/scans",
             "value": "1\n"} for g in ("gA", "gB")]


def run(sc: Scenario) -> RunResult:
    with hang_guard(120):
        return run_scenario(sc)


def check_run(r: RunResult) -> dict:
    """The robustness invariants of every run; returns the JSON report."""
    assert r.sim_time_ns == r.scenario.duration, "the run stopped before its end"
    led, m = r.ledger, r.sim.machine
    live = m.live_requests()
    assert led.in_flight >= 0 and led.in_flight == live, (led.summary(), live)
    assert led.submitted == (led.completed + sum(led.rejected.values()) + sum(led.dropped.values())
                             + led.in_flight)
    assert set(led.dropped) <= set(DROP_CAUSES), led.dropped
    assert all(n > 0 for n in led.dropped.values())
    cols = r.recorder.arrays()
    n = len(cols["t_submit"])
    assert n <= led.completed, f"{n} recorded rows but only {led.completed} replies dequeued"
    if n:
        sub, start, done, deq = (cols[k] for k in ("t_submit", "t_start", "t_done", "t_deq"))
        assert (sub >= 0).all() and (sub <= r.sim_time_ns).all()
        has_start = start >= 0
        assert (start[has_start] >= sub[has_start]).all() and (done[has_start] >= start[has_start]).all()
        assert (done >= sub).all() and (deq >= done).all(), "a negative latency"
    for name, g in r.guests.items():
        assert g["foreign_replies"] == 0, f"{name} got replies of another issuer"
    report = build_report(r)
    req = report["requests"]
    assert req["submitted"] == (req["completed"] + sum(req["rejected"].values())
                                + sum(req["dropped"].values()) + req["in_flight"])
    for section in ("latency",):
        _non_negative(report[section], section)
    for name, row in report["guests"].items():
        _non_negative(row, f"guests.{name}")
    return report


def _non_negative(row: dict, where: str) -> None:
    for k, v in row.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k.endswith(("_us", "_rps")):
            assert v >= 0 and np.isfinite(v), f"{where}.{k} = {v}"
        elif isinstance(v, dict):
            _non_negative(v, f"{where}.{k}")


def rows_of_owner(r: RunResult, guest: str, after_ns: int) -> int:
    cols = r.recorder.arrays()
    return int(((cols["owner"] == r.recorder.owner_index(guest)) & (cols["t_submit"] >= after_ns)).sum())


def rows_of(r: RunResult, apid: int, after_ns: int) -> int:
    cols = r.recorder.arrays()
    return int(((cols["apqn"] >> 8 == apid) & (cols["t_submit"] >= after_ns)).sum())


# --- named faults ---------------------------------------------------------------------------------
def test_load_on_queues_that_cannot_run_it_terminates():
    """gA's only adapter (02, an accelerator) cannot run CCA requests: every NQAP answers
    0x16, the workload retires the queue, and the run still reaches its end."""
    with hang_guard(20):
        r = run_scenario(scenario([], duration="130ms", a_adapters=(2,), a_mix={"cca_low": 1.0}))
    check_run(r)
    assert r.ledger.rejected[0x16] >= 1


def test_checkstop_and_recovery_under_load():
    # Checkstop changes no QCI, so the guests learn of the recovery at their next AP bus
    # scan (reference §12.3): here an admin forces it in each guest after the clear.
    r = run(scenario([{"at": f"{T0 + 8}ms", "do": "fault.checkstop", "adapter": 1},
                      {"at": f"{T0 + 14}ms", "do": "fault.clear", "adapter": 1}, *rescans(T0 + 16)],
                     duration="200ms"))
    check_run(r)
    assert r.ledger.dropped["checkstop"] > 0
    assert rows_of(r, 2, (T0 + 9) * MS) > 0, "adapter 02 kept serving while 01 was checkstopped"
    assert rows_of(r, 1, (T0 + 17) * MS) > 0, "adapter 01 serves again after recovery and a rescan"


def test_configure_off_during_heavy_load_and_back_on():
    r = run(scenario([{"at": f"{T0 + 6}ms", "do": "se.configure_off", "adapters": [1]},
                      {"at": f"{T0 + 12}ms", "do": "sclp.configure_ap", "adapter": 1}, *rescans(T0 + 13),
                      {"at": f"{T0 + 18}ms", "do": "sclp.deconfigure_ap", "adapter": 2},
                      {"at": f"{T0 + 24}ms", "do": "se.configure_on", "adapters": [2]}, *rescans(T0 + 25)],
                     rate=60_000, duration="210ms"))
    check_run(r)
    assert r.ledger.dropped["configure_off"] > 0
    assert rows_of(r, 1, (T0 + 16) * MS) > 0 and rows_of(r, 2, (T0 + 30) * MS) > 0


def reset_storm(guest: str, apqns: tuple[str, str], n: int = 400) -> list[dict]:
    """*n* RAPQ/ZAPQ from *guest*, alternating over two of its queues, one every 25 µs."""
    return [{"at": f"{T0 * 1000 + 2000 + 25 * i}us", "do": "guest.instruction", "guest": guest,
             "op": ("RAPQ", "ZAPQ")[i % 2], "apqn": apqns[(i // 2) % 2]} for i in range(n)]


def test_reset_storm_from_a_guest():
    r = run(scenario(reset_storm("gA", ("01.0003", "02.0003")), duration="190ms"))
    check_run(r)
    assert r.ledger.dropped["reset"] + r.ledger.dropped["zeroize"] > 0
    outcomes = {e.outcome for e in r.timeline.entries if e.do == "guest.instruction"}
    assert outcomes <= {"ok", "RESET_IN_PROGRESS", "BUSY"}, outcomes
    # The other guest's queues (domain 5) never noticed.
    assert rows_of_owner(r, "gB", (T0 + 15) * MS) > 0


def test_guest_load_recovers_after_its_own_reset_storm():
    """ap_queue.c ap_sm_write: NQAP RC 0x02 puts the queue in RESET_WAIT and the same request is
    sent again after the low-rate poll (ap_sm_reset_wait); zcrypt never gives the queue up for
    it and the caller never sees the 0x02."""
    r = run(scenario(reset_storm("gB", ("01.0005", "02.0005")), duration="190ms"))
    check_run(r)
    assert rows_of_owner(r, "gB", (T0 + 30) * MS) > 0
    wl = r.sim.guests["gB"].workload
    assert wl.reset_wait.resent > 0 and wl.rejected == 0 and 0x02 not in r.ledger.rejected


def test_queue_full_storm_far_above_capacity():
    burst = [{"at": f"{T0 + 5 + i // 40}ms", "do": "guest.instruction", "guest": "gB", "op": "NQAP",
              "apqn": "01.0005", "request": "rsa4096_crt"} for i in range(120)]
    r = run(scenario(burst, rate=400_000, concurrency=32, duration="120ms"))
    check_run(r)
    assert r.ledger.rejected[0x10] > 0, "NQAP past the queue depth answers 0x10"
    assert r.ledger.completed > 0


# --- random fault schedules ------------------------------------------------------------------------
def _action(kind: str, at_us: int, a: int, guest: str, apqn: str) -> dict:
    at = f"{at_us}us"
    return {
        "checkstop": {"at": at, "do": "fault.checkstop", "adapter": a},
        "clear": {"at": at, "do": "fault.clear", "adapter": a},
        "off": {"at": at, "do": "se.configure_off", "adapters": [a]},
        "on": {"at": at, "do": "se.configure_on", "adapters": [a]},
        "sclp_off": {"at": at, "do": "sclp.deconfigure_ap", "adapter": a},
        "sclp_on": {"at": at, "do": "sclp.configure_ap", "adapter": a},
        "stop": {"at": at, "do": "guest.stop", "guest": guest},
        "start": {"at": at, "do": "guest.start", "guest": guest},
        "reset": {"at": at, "do": "guest.reset", "guest": guest},
        "rapq": {"at": at, "do": "guest.instruction", "guest": guest, "op": "RAPQ", "apqn": apqn},
        "zapq": {"at": at, "do": "guest.instruction", "guest": guest, "op": "ZAPQ", "apqn": apqn},
        "nqap": {"at": at, "do": "guest.instruction", "guest": guest, "op": "NQAP", "apqn": apqn},
        "unplug": {"at": at, "do": "sysfs.write", "value": f"{a}\n",
                   "path": f"/sys/devices/vfio_ap/matrix/{U1 if guest == 'gA' else U2}/unassign_adapter"},
        "plug": {"at": at, "do": "sysfs.write", "value": f"{a}\n",
                 "path": f"/sys/devices/vfio_ap/matrix/{U1 if guest == 'gA' else U2}/assign_adapter"},
    }[kind]


KINDS = ("checkstop", "clear", "off", "on", "sclp_off", "sclp_on", "stop", "start", "reset", "rapq",
         "zapq", "nqap", "unplug", "plug")
SCHEDULE = st.lists(
    st.tuples(st.sampled_from(KINDS),
              st.integers(0, 40_000).map(lambda t: T0 * 1000 - 10_000 + t),  # µs, around the load start
              st.sampled_from((1, 2)), st.sampled_from(("gA", "gB")),
              st.sampled_from(("01.0003", "02.0003", "01.0005", "02.0005"))),
    max_size=14)


@settings(max_examples=400 if SOAK else 40, deadline=None, phases=phases())
@given(schedule=SCHEDULE, rate=st.sampled_from((5_000, 40_000, 250_000)), seed=st.integers(0, 3))
def test_any_fault_schedule_keeps_the_books_and_terminates(schedule, rate, seed):
    timeline = [_action(*s) for s in schedule]
    r = run(scenario(timeline, rate=rate, duration="150ms", seed=seed))
    check_run(r)
