"""A guest whose load stops is flagged (report, console, warning line, --strict); each
guest's books balance with its backlog; its ready time is in the report and timeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apsim.cli import main
from apsim.report.health import stall_threshold
from apsim.units import parse_duration

ROOT = Path(__file__).resolve().parents[3]
TWO = (ROOT / "scenarios" / "two-guests.yaml").read_text()


def stalling(tmp_path: Path) -> Path:
    """guest2 resets its own queues while its load runs (the requests in flight are dropped
    with cause reset) and then switches their interruptions off: zcrypt waits for
    interruptions that never come (its request timeout is not modelled) and the load
    stops. (A reset alone no longer stalls it: the driver resends after 0x02 and switches
    interruptions on again, apsim.engine.resend.)"""
    queues = ("05.0047", "05.00ff")
    text = TWO.replace("duration: 200ms", "duration: 170ms") + "".join(
        f'  - {{at: 100ms, do: guest.instruction, guest: guest2, op: RAPQ, apqn: "{q}"}}\n' for q in queues) + "".join(
        f'  - {{at: 100.01ms, do: guest.instruction, guest: guest2, op: AQIC, enable: false, apqn: "{q}"}}\n'
        for q in queues)
    p = tmp_path / "stall.yaml"
    p.write_text(text)
    return p


def report_of(path: Path, tmp_path: Path, *extra: str) -> tuple[int, dict]:
    out = tmp_path / "r.json"
    code = main(["run", str(path), "-q", "--json", str(out), *extra])
    return code, json.loads(out.read_text())


def test_a_guest_whose_load_stops_is_flagged_with_time_and_last_request_endings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, r = report_of(stalling(tmp_path), tmp_path)
    assert code == 0  # a warning, not a failure, without --strict
    s = r["health"]["guest2"]["stalled"]
    assert 90_000 < s["since_us"] <= 100_000 and s["for_us"] * 1000 > stall_threshold(170_000_000)
    assert s["waiting"] > 0 and s["last_events"] and s["last_events"][-1]["cause"] == "reset"
    assert "stalled" not in r["health"]["guest1"]
    err = capsys.readouterr().err
    assert "apsim: warning: guest guest2's load stopped at" in err and "reset on 05." in err
    # A pickup's DQAP met 05.0047 in its reset (0x02), which ap_sm_read has no case for:
    # that queue went into AP_DEV_STATE_ERROR (its next bus scan is after the run).
    assert s["retired_apqns"] == ["05.0047"] and "stopped using 05.0047" in err


def test_a_stalled_guest_names_the_queues_its_driver_stopped_using_and_the_codes_it_saw(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A checkstopped adapter answers NQAP with 0x04, which zcrypt does not retry: the
    driver stops using guest2's two queues on adapter 5 and its load stops."""
    p = tmp_path / "checkstop.yaml"
    p.write_text(TWO.replace("duration: 200ms", "duration: 170ms")
                 + "  - {at: 100ms, do: fault.checkstop, adapter: 5}\n")
    _, r = report_of(p, tmp_path)
    s = r["health"]["guest2"]["stalled"]
    assert s["retired_apqns"] == ["05.0047", "05.00ff"]
    assert s["last_response_codes"] and {e["rc"] for e in s["last_response_codes"]} == {"0x04 CHECKSTOPPED"}
    err = capsys.readouterr().err
    assert "stopped using 05.0047, 05.00ff" in err and "last NQAP response codes: 0x04 CHECKSTOPPED from 05.00" in err


def test_strict_turns_a_stall_into_exit_1(tmp_path: Path) -> None:
    code, _ = report_of(stalling(tmp_path), tmp_path, "--strict")
    assert code == 1


def test_each_guests_books_balance_with_its_backlog(tmp_path: Path) -> None:
    for path in (stalling(tmp_path), ROOT / "scenarios" / "two-guests.yaml"):
        _, r = report_of(path, tmp_path)
        for h in r["health"].values():
            b = h["books"]
            assert b["created"] == b["completed"] + b["rejected"] + b["dropped"] + b["in_flight"] + b["backlog"]
            assert h["backlog"] == b["backlog"] >= 0


def test_a_healthy_run_has_no_stall_and_strict_exits_0(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, r = report_of(ROOT / "scenarios" / "two-guests.yaml", tmp_path, "--strict")
    assert code == 0 and not any("stalled" in h for h in r["health"].values())
    assert "warning" not in capsys.readouterr().err


def test_each_guests_ready_time_is_in_the_report_and_the_timeline(tmp_path: Path) -> None:
    _, r = report_of(ROOT / "scenarios" / "two-guests.yaml", tmp_path)
    ready = {e["args"]["guest"]: parse_duration(e["at"]) / 1000 for e in r["timeline"]
             if e["do"] == "guest.ready"}
    assert set(ready) == {"guest1", "guest2"}
    for name, h in r["health"].items():
        assert h["ready_us"] == ready[name] > 0


def test_bulk_mode_fallbacks_are_named_on_the_console(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(TWO)  # closed loops: the bulk mode has no open-loop stretch to run
    assert main(["run", str(p), "-q", "--mode", "bulk"]) == 0
    err = capsys.readouterr().err
    assert "apsim: --mode bulk: the whole run fell back to the event engine, because of:" in err
