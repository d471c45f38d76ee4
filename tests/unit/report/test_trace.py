"""The trace loads in Perfetto without overlapping slices: on every track, slices either
nest or do not overlap, and every async request slice is a matched begin/end pair."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from apsim.cli import main

ROOT = Path(__file__).resolve().parents[3]


def check_nesting(events: list[dict]) -> int:
    """Assert the nesting rule on every (pid, tid) track of complete events and on every async
    id; returns the number of request slices."""
    tracks: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    for e in events:
        if e["ph"] == "X":
            tracks[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"]))
    for key, spans in tracks.items():
        spans.sort(key=lambda s: (s[0], -s[1]))
        stack: list[float] = []
        for start, end in spans:
            while stack and stack[-1] <= start:
                stack.pop()
            assert not stack or end <= stack[-1], f"track {key}: slice {start}..{end} overlaps without nesting"
            stack.append(end)
    begins = defaultdict(list)
    ends = defaultdict(list)
    for e in events:
        if e["ph"] in ("b", "e"):
            (begins if e["ph"] == "b" else ends)[(e["pid"], e["cat"], e["id"])].append(e)
    assert begins.keys() == ends.keys()
    for key in begins:
        assert len(begins[key]) == 1 and len(ends[key]) == 1, f"async id {key} is used twice"
        assert ends[key][0]["ts"] >= begins[key][0]["ts"]
    return len(begins)


def test_no_two_slices_on_one_track_overlap_without_nesting(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    assert main(["run", str(ROOT / "scenarios" / "three-guests.yaml"), "-q", "--trace", str(out)]) == 0
    events = json.loads(out.read_text())["traceEvents"]
    n = check_nesting(events)
    assert n > 100  # the run's requests are all there, as async slices


def test_the_nesting_check_catches_overlapping_complete_events() -> None:
    bad = [{"ph": "X", "pid": 1, "tid": 4, "ts": 0, "dur": 10}, {"ph": "X", "pid": 1, "tid": 4, "ts": 5, "dur": 10}]
    try:
        check_nesting(bad)
    except AssertionError as e:
        assert "overlaps without nesting" in str(e)
    else:
        raise AssertionError("overlap not detected")
