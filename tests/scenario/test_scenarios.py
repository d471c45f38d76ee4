"""Every scenario shipped in scenarios/ loads, runs, meets its expectations and
accounts for every request (contract 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from apsim.scenario.loader import load_scenario
from apsim.scenario.run import run_scenario

SCENARIOS = sorted(Path(__file__).resolve().parents[2].joinpath("scenarios").glob("*.yaml"))


def test_the_scenario_folder_holds_every_document_example_and_capacity_case():
    names = {p.stem for p in SCENARIOS}
    for required in ("three-guests", "two-guests", "securing-apqns", "hotplug", "overprovisioning",
                     "se-configure", "sclp-configure", "capacity-1-guests", "capacity-4-guests",
                     "capacity-16-guests", "capacity-64-guests", "mixed-requests",
                     "configure-off-under-load", "nested", "cpu-features", "bulk-lpar-capacity",
                     "secure-guest"):
        assert required in names


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_runs_and_its_expectations_pass(path):
    sc = load_scenario(path)
    r = run_scenario(sc)
    failed = [(e.at_ns, e.do, e.args, e.expected, e.actual) for e in r.timeline.entries
              if e.passed is False]
    assert not failed, failed
    led = r.ledger
    assert led.submitted == (led.completed + sum(led.rejected.values()) + sum(led.dropped.values())
                             + led.in_flight)
    assert all(g["foreign_replies"] == 0 for g in r.guests.values())
    # Every scenario with a workload produces completed requests.
    if any(ref.spec.workload is not None and ref.spec.workload.kind != "none"
           for ref in sc.walk_guests()):
        assert led.completed > 0


def test_configure_off_under_load_drops_requests_with_their_cause_and_keeps_serving():
    r = run_scenario(load_scenario(next(p for p in SCENARIOS if p.stem == "configure-off-under-load")))
    assert r.ledger.dropped["configure_off"] > 0
    cols = r.recorder.arrays()
    after = cols["t_deq"] > 110_000_000
    assert after.sum() > 0, "the guests keep being served by the other adapter"


def test_hotplug_drops_the_unplugged_domains_requests_and_serves_the_new_adapter():
    r = run_scenario(load_scenario(next(p for p in SCENARIOS if p.stem == "hotplug")))
    cols = r.recorder.arrays()
    apqns = set(cols["apqn"].tolist())
    assert 0x0A04 in apqns, "adapter 0x0a was plugged and used"
    late = cols["t_submit"] > 130_000_000
    assert 0x0505 not in set(cols["apqn"][late].tolist()), "domain 5 is gone after the unplug"


def test_bulk_mode_reproduces_the_full_modes_sample_path_and_says_what_ran():
    sc = load_scenario(next(p for p in SCENARIOS if p.stem == "bulk-lpar-capacity"))
    bulk = run_scenario(sc, mode="bulk")
    full = run_scenario(sc, mode="full")
    assert bulk.mode == "bulk" and bulk.bulk["bulk_requests"] > 0
    assert full.mode == "full" and full.bulk is None
    a, b = bulk.recorder.arrays(), full.recorder.arrays()
    for col in ("owner", "apqn", "rtype", "t_submit", "t_done", "t_deq"):
        assert (a[col] == b[col]).all(), col
    assert bulk.ledger.summary() == full.ledger.summary()


@pytest.mark.parametrize("until_ms", [1, 2, 5, 20])
def test_bulk_mode_short_horizons_match_full_mode(until_ms):
    """Regression (found by the CLI fuzzer): a bulk chunk whose finished requests all
    came from the carried-over in-flight set crashed; short horizons hit it."""
    sc = load_scenario(next(p for p in SCENARIOS if p.stem == "bulk-lpar-capacity"))
    bulk = run_scenario(sc, mode="bulk", until_ns=until_ms * 1_000_000)
    full = run_scenario(sc, mode="full", until_ns=until_ms * 1_000_000)
    a, b = bulk.recorder.arrays(), full.recorder.arrays()
    assert all((a[c] == b[c]).all() for c in ("apqn", "t_submit", "t_deq"))
    assert bulk.ledger.summary() == full.ledger.summary()


def test_secure_guest_uses_only_its_bound_queue_and_binds_again_after_a_reset():
    """scenarios/secure-guest.yaml: no request before the bind (ap_queue_usable), none
    between the QEMU reset (vfio_ap's ZAPQ unbinds; the DQAP it met puts the queue in
    AP_DEV_STATE_ERROR, ap_sm_read) and the forced bus scan that re-inits the queue
    (ap_scan_domains) after the new association; served again after that scan."""
    r = run_scenario(load_scenario(next(p for p in SCENARIOS if p.stem == "secure-guest")))
    cols = r.recorder.arrays()
    assert set(cols["apqn"].tolist()) == {0x0309}
    assert r.guests["se1"]["ready_ns"] == 90_000_000, "the timeline is timed from guest.ready at 90 ms"
    assert cols["t_submit"].min() >= 135_000_000, "nothing is sent before se_bind at 135 ms"
    assert r.ledger.dropped["guest_reset"] > 0
    unbound = (cols["t_deq"] > 251_000_000) & (cols["t_deq"] < 345_000_000)
    assert unbound.sum() == 0, "no completion while the queue is unbound or in the error state"
    assert (cols["t_deq"] > 345_000_000).sum() > 0, "served again after the scan re-initialized it"
