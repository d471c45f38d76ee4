"""Contract 4 (same scenario file and seed → byte-identical JSON) on a real run, and
replications through the command line."""

from __future__ import annotations

import json
from pathlib import Path

from apsim.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_same_file_and_seed_give_byte_identical_json(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for out in (a, b):
        assert main(["run", str(ROOT / "scenarios" / "hotplug.yaml"), "--json", str(out), "--quiet"]) == 0
    assert a.read_bytes() == b.read_bytes()
    rep = json.loads(a.read_text())
    req = rep["requests"]
    assert req["submitted"] == (req["completed"] + sum(req["rejected"].values())
                                + sum(req["dropped"].values()) + req["in_flight"])


def test_a_different_seed_gives_a_different_sample_path(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    sc = str(ROOT / "scenarios" / "capacity-1-guests.yaml")
    assert main(["run", sc, "--json", str(a), "--quiet", "--until", "150ms"]) == 0
    assert main(["run", sc, "--json", str(b), "--quiet", "--until", "150ms", "--seed", "2"]) == 0
    assert json.loads(a.read_text())["latency"] != json.loads(b.read_text())["latency"]


def test_replications_run_with_consecutive_seeds_and_report_a_confidence_interval(tmp_path):
    text = (ROOT / "scenarios" / "capacity-1-guests.yaml").read_text()
    text = text.replace("seed: 1\n", "seed: 5\nreplications: 3\n").replace("duration: 500ms", "duration: 150ms")
    f = tmp_path / "rep.yaml"
    f.write_text(text)
    out = tmp_path / "rep.json"
    assert main(["run", str(f), "--json", str(out), "--quiet"]) == 0
    rep = json.loads(out.read_text())["replications"]
    assert [r["seed"] for r in rep["runs"]] == [5, 6, 7]
    agg = rep["aggregate"]["mean_us"]
    assert agg["ci95_half_width"] is not None and agg["ci95_half_width"] > 0
