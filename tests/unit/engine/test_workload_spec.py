"""A workload's spec (apsim.engine.workload_spec.WorkloadSpec): its defaults and the
combinations it refuses."""

from __future__ import annotations

import pytest

from apsim.engine.workload_spec import WorkloadSpec


def test_the_default_is_one_closed_loop_rsa2048_request_least_loaded_with_interrupts():
    s = WorkloadSpec()
    assert (s.kind, s.concurrency, s.per, s.select, s.reply, s.targets) == (
        "closed", 1, "guest", "least_loaded", "interrupt", "all")
    assert s.mix == {"rsa2048": 1.0}


def test_each_spec_gets_its_own_mix():
    a, b = WorkloadSpec(), WorkloadSpec()
    a.mix["cca_low"] = 1.0
    assert b.mix == {"rsa2048": 1.0}


@pytest.mark.parametrize("kw, words", [
    ({"kind": "burst"}, "open, closed or none"),
    ({"select": "fastest"}, "unknown target selection"),
    ({"reply": "signal"}, "interrupt or poll"),
    ({"per": "lpar"}, "per guest or per apqn"),
    ({"kind": "open"}, "rate > 0 or a trace"),
    ({"kind": "open", "rate": -1.0}, "rate > 0 or a trace"),
    ({"mix": {}}, "positive weights"),
    ({"mix": {"rsa2048": 1.0, "cca_low": -0.5}}, "positive weights"),
    ({"mix": {"rsa2048": 0.0}}, "positive weights"),
])
def test_a_spec_that_cannot_run_is_refused_with_the_rule(kw, words):
    with pytest.raises(ValueError, match=words):
        WorkloadSpec(**kw)


def test_an_open_loop_runs_from_a_rate_or_from_a_trace():
    assert WorkloadSpec(kind="open", rate=10.0).rate == 10.0
    assert WorkloadSpec(kind="open", trace=[0, 5, 9]).trace == [0, 5, 9]


def test_a_closed_or_idle_workload_needs_no_rate():
    assert WorkloadSpec(kind="closed").rate == 0.0
    assert WorkloadSpec(kind="none").kind == "none"
