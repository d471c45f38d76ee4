"""The JSON report: contract-3 keys, balanced request accounting, and byte-identical
output for identical inputs (contract 4)."""

from __future__ import annotations

import json
import math

import numpy as np

from apsim.report.json_report import FLOAT_DECIMALS, build_report, canonical, dumps_report, write_json
from tests.unit.fake_run import make_run


def test_same_inputs_give_identical_bytes(tmp_path):
    """Two runs with the same data give the same JSON text, and the file holds that text."""
    a = dumps_report(build_report(make_run(seed=11)))
    b = dumps_report(build_report(make_run(seed=11)))
    assert a == b
    p1 = write_json(build_report(make_run(seed=11)), tmp_path / "r1.json")
    p2 = write_json(build_report(make_run(seed=11)), tmp_path / "sub" / "r2.json")
    assert p1.read_bytes() == p2.read_bytes() == a.encode()
    assert a != dumps_report(build_report(make_run(seed=12)))


def test_contract_3_keys():
    """scenario, seed, sim_time_us, requests, per-group latency, timeline, expectations."""
    rep = json.loads(dumps_report(build_report(make_run())))
    for key in ("scenario", "seed", "mode", "sim_time_us", "requests", "guests", "apqns", "adapters",
                "timeline", "expectations", "kernel_log", "expectations_passed"):
        assert key in rep, key
    assert rep["scenario"] == "fake-three-guests" and rep["seed"] == 7 and rep["sim_time_us"] == 50_000.0
    for table in ("guests", "apqns", "adapters"):
        for row in rep[table].values():
            for k in ("throughput_rps", "p50_us", "p90_us", "p99_us", "p999_us", "mean_us", "max_us"):
                assert k in row, (table, k)
    req = rep["requests"]
    assert req["submitted"] == req["completed"] + sum(req["rejected"].values()) + \
        sum(req["dropped"].values()) + req["in_flight"]
    assert req["rejected"] == {"0x01": 2} and req["dropped"] == {"configure_off": 1}


def test_timeline_and_expectations():
    """Every action is in the timeline with its outcome; every checked one is an expectation."""
    rep = json.loads(dumps_report(build_report(make_run(failed=True))))
    assert [e["do"] for e in rep["timeline"]] == ["se.configure_off", "sysfs.write", "guest.instruction"]
    assert rep["timeline"][1]["outcome"] == "EBUSY" and rep["timeline"][0]["at"] == "10ms"
    exps = rep["expectations"]
    assert [(e["at"], e["do"], e["passed"]) for e in exps] == [("30ms", "sysfs.write", True),
                                                              ("32ms", "guest.instruction", False)]
    assert exps[1]["expected"] == {"cc": 3, "rc": 1} and exps[1]["actual"] == {"cc": 0, "rc": 0}
    assert exps[1]["line"] == 22 and exps[1]["at_us"] == 32000.0
    assert rep["expectations_passed"] is False


def test_canonical_rounding_and_non_finite():
    """Floats round to fixed decimals; NaN/inf become null; numpy values become plain JSON."""
    out = canonical({"a": 1 / 3, "b": float("nan"), "c": np.float64(2.5), "d": np.int64(4),
                     "e": (np.bool_(True), -0.0), 5: {"x"}, "f": np.arange(3)})
    assert out == {"a": round(1 / 3, FLOAT_DECIMALS), "b": None, "c": 2.5, "d": 4, "e": [True, 0.0],
                   "5": ["x"], "f": [0, 1, 2]}
    assert type(out["d"]) is int and not math.copysign(1, out["e"][1]) < 0
    text = dumps_report({"z": 1, "a": float("inf")})
    assert text == '{\n  "a": null,\n  "z": 1\n}\n'


def test_report_has_no_wall_clock_or_paths():
    """Nothing machine- or time-dependent leaks into the report."""
    text = dumps_report(build_report(make_run()))
    assert "/tmp" not in text and "wall" not in text
