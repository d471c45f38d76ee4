"""The default warm-up leaves out each guest's own boot, whenever it starts; the report
says what it left out; ``warmup: 0`` keeps everything and an explicit ``warmup:`` is
the only warm-up."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from apsim.cli import main
from apsim.scenario.loader import parse_scenario
from apsim.scenario.run import run_scenario
from apsim.scenario.warmup import boot_windows
from apsim.units import MS, parse_duration

ROOT = Path(__file__).resolve().parents[3]
TWO = (ROOT / "scenarios" / "two-guests.yaml").read_text()
# Both guests are ready at 90 ms (apsim/guest/boot.py: VFIO_DEVICE_RESET 40 ms, boot 10 ms,
# the first queue settled 40 ms later); guest2 is restarted after that, at 120 ms.
RESTART = TWO.replace("duration: 200ms", "duration: 210ms") + (
    "  - {at: 110ms, do: guest.stop, guest: guest2}\n"
    "  - {at: 120ms, do: guest.start, guest: guest2}\n")
LATE = TWO.split("timeline:")[0].replace("    workload: {kind: closed, concurrency: 2, mix: {rsa1024: 1.0}}\n",
                   "    start: 30ms\n    workload: {kind: closed, concurrency: 2, mix: {rsa1024: 1.0}}\n")


def ready_times(result, name: str) -> list[int]:  # noqa: ANN001
    return [e.at_ns for e in result.timeline.entries if e.do == "guest.ready" and e.args["guest"] == name]


def rows_of(cols: dict, owner: int, lo: int, hi: int) -> int:
    t = cols["t_submit"]
    return int(np.count_nonzero((cols["owner"] == owner) & (t >= lo) & (t < hi)))


def test_a_restarted_guest_loses_its_second_boot_until_its_new_ready_event():
    r = run_scenario(parse_scenario(RESTART))
    rec = r.recorder
    g2 = rec.owners.index("guest2")
    ready = ready_times(r, "guest2")
    assert len(ready) == 2 and ready[0] < 110 * MS and ready[1] > 120 * MS  # one guest.ready per boot
    assert [(o, lo, hi) for o, lo, hi in rec.excluded] == [(g2, 120 * MS, ready[1])]
    # Requests created while the restarted guest booted exist, and only the statistics drop them.
    assert rows_of(rec.arrays(include_warmup=True), g2, 120 * MS, ready[1]) > 0
    assert rows_of(rec.arrays(), g2, 120 * MS, ready[1]) == 0
    # guest1 kept running: its rows in that window stay.
    g1 = rec.owners.index("guest1")
    assert rows_of(rec.arrays(), g1, 120 * MS, ready[1]) == rows_of(rec.arrays(include_warmup=True), g1,
                                                                   120 * MS, ready[1]) > 0
    assert "guest2 120ms to" in r.warmup_excluded and "started at setup" in r.warmup_excluded


def test_a_guest_with_a_later_start_loses_its_own_boot_and_the_report_says_so(tmp_path: Path):
    p = tmp_path / "late.yaml"
    p.write_text(LATE)
    out = tmp_path / "r.json"
    assert main(["run", str(p), "-q", "--json", str(out)]) == 0
    rep = json.loads(out.read_text())
    ready = [parse_duration(e["at"]) for e in rep["timeline"]
             if e["do"] == "guest.ready" and e["args"]["guest"] == "guest2"]
    assert len(ready) == 1 and ready[0] > 30 * MS
    # guest1 alone booted at setup: the global warm-up ends at its ready time.
    g1_ready = [parse_duration(e["at"]) for e in rep["timeline"]
                if e["do"] == "guest.ready" and e["args"]["guest"] == "guest1"]
    assert rep["warmup_us"] * 1000 == g1_ready[0]
    assert rep["health"]["guest2"]["warmup_excluded"] == [
        {"from_us": 30_000.0, "until_us": ready[0] / 1000, "until": "ready"}]
    assert "warmup_excluded" not in rep["health"]["guest1"]
    assert rep["warmup_excluded"].startswith("the boot of the 1 guest started at setup")
    assert "guest2 30ms to" in rep["warmup_excluded"]


def test_warmup_0_keeps_every_boot():
    r = run_scenario(parse_scenario(RESTART.replace("duration: 210ms", "duration: 210ms\nwarmup: 0ms")))
    assert r.warmup_excluded is None and r.recorder.excluded == [] and not r.recorder.warmup_ns
    assert len(r.recorder.arrays()["owner"]) == len(r.recorder.arrays(include_warmup=True)["owner"])
    assert boot_windows(r.sim, "guest2") == []


def test_an_explicit_warmup_is_the_only_warmup():
    r = run_scenario(parse_scenario(RESTART.replace("duration: 210ms", "duration: 210ms\nwarmup: 20ms")))
    assert r.warmup_excluded == "the scenario's warmup (20ms)"
    assert r.recorder.warmup_ns == 20 * MS and r.recorder.excluded == []


def test_guests_started_at_setup_keep_the_one_global_warmup():
    r = run_scenario(parse_scenario(TWO))
    assert r.recorder.excluded == []
    assert r.warmup_excluded.startswith("the boot of the 2 guests started at setup, until the last one's AP bus "
                                        "was ready (")
    assert r.warmup_excluded.endswith("; set warmup: 0 to keep it)")


def test_a_guest_stopped_before_its_setup_boot_was_ready_does_not_stretch_the_global_warmup():
    """guest2 is stopped at 60 ms, before its setup boot was ready (90 ms), and started again
    at 70 ms: the global warm-up ends at guest1's ready time, and guest2's second boot is
    left out for guest2 only, until its own guest.ready."""
    text = TWO.replace("duration: 200ms", "duration: 210ms") + (
        "  - {at: 60ms, do: guest.stop, guest: guest2}\n"
        "  - {at: 70ms, do: guest.start, guest: guest2}\n")
    r = run_scenario(parse_scenario(text))
    g1_ready = ready_times(r, "guest1")
    g2_ready = ready_times(r, "guest2")
    assert len(g1_ready) == 1 and len(g2_ready) == 1 and g2_ready[0] > g1_ready[0] > 60 * MS
    assert r.recorder.warmup_ns == g1_ready[0]
    g2 = r.recorder.owners.index("guest2")
    assert r.recorder.excluded == [(g2, 70 * MS, g2_ready[0])]
    assert "guest2 70ms to" in r.warmup_excluded
