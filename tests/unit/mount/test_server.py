"""``apsim mount``: bad input exits 2 with one message; the mount ends cleanly and leaves its report."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apsim.cli import main
from apsim.errors import ApsimError
from apsim.mount import server
from tests.unit.mount.support import ROOT, SCENARIOS, in_mount_table, mounted, need_fuse, small_scenario, unmount

THREE = str(SCENARIOS / "three-guests.yaml")


def test_an_unknown_scenario_is_one_message_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["mount", str(tmp_path / "nope.yaml"), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "nope.yaml" in err and "Traceback" not in err


def test_an_unknown_guest_is_one_message_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["mount", THREE, str(tmp_path), "--guest", "nobody"]) == 2
    assert "no guest named 'nobody'" in capsys.readouterr().err


def test_a_mount_point_with_entries_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "file").write_text("")
    assert main(["mount", THREE, str(tmp_path)]) == 2
    assert "must be an empty directory" in capsys.readouterr().err


def test_a_mount_point_that_is_missing_or_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["mount", THREE, str(tmp_path / "missing")]) == 2
    assert "must be an existing empty directory" in capsys.readouterr().err
    (tmp_path / "f").write_text("")
    assert main(["mount", THREE, str(tmp_path / "f")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_a_dead_mount_is_named_with_its_recovery_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def dead(self: Path, *a: object, **k: object) -> os.stat_result:
        raise OSError(errno.ENOTCONN, os.strerror(errno.ENOTCONN), str(self))

    monkeypatch.setattr(Path, "stat", dead)
    with pytest.raises(ApsimError, match=f"dead FUSE mount.*fusermount3 -u {tmp_path}"):
        server.check_mountpoint(tmp_path)


def test_no_fuse_device_is_one_message_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]):
    real_exists = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda p: False if p == "/dev/fuse" else real_exists(p))
    assert main(["mount", THREE, str(tmp_path)]) == 2
    assert "FUSE is not available: /dev/fuse does not exist" in capsys.readouterr().err


def test_bad_clock_speed_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["mount", THREE, str(tmp_path), "--clock", "sundial"]) == 2
    need_fuse()
    assert main(["mount", THREE, str(tmp_path), "--speed", "0"]) == 2
    assert "--speed 0.0" in capsys.readouterr().err


def test_unmounting_ends_the_server_and_writes_the_json_report(tmp_path: Path):
    need_fuse()
    report = tmp_path / "report.json"
    with mounted(small_scenario(tmp_path), tmp_path / "sys", "--clock", "manual", "--json", str(report)) as m:
        (m / ".apsim/advance").write_text("5ms")
    assert json.loads(report.read_text())["sim_time_us"] == 5000.0
    assert not os.path.ismount(tmp_path / "sys")


def _start(tmp_path: Path, *extra: str) -> tuple[Path, subprocess.Popen[bytes]]:
    """A mount server as a child (the caller reaps it with unmount()), once its mount is up."""
    need_fuse()
    mp = tmp_path / "sys"
    mp.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "apsim", "mount", str(small_scenario(tmp_path)), str(mp),
                             "--clock", "manual", *extra], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: os.path.ismount(mp), proc)
    except BaseException:
        unmount(mp, proc)
        raise
    return mp, proc


def test_sigterm_unmounts_cleanly(tmp_path: Path):
    mp, proc = _start(tmp_path, "--json", str(tmp_path / "r.json"))
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not os.path.ismount(mp) and (tmp_path / "r.json").exists()
    finally:
        unmount(mp, proc)


def test_a_killed_server_never_leaves_a_dead_mount_silently(tmp_path: Path):
    """libfuse's auto_unmount watchdog normally removes the mount of a SIGKILLed server;
    until it has (it runs as a separate process, late on a loaded machine), the mount
    point is refused with the command that recovers it, never accepted or hung on."""
    mp, proc = _start(tmp_path)
    try:
        proc.kill()
        proc.wait(timeout=30)
        _wait(lambda: _usable(mp) or "fusermount3 -u" in _refusal(mp), None)
        if in_mount_table(mp):
            assert f"{mp}: a dead FUSE mount" in _refusal(mp)
    finally:
        unmount(mp, proc)


def test_background_returns_once_the_mount_is_ready(tmp_path: Path):
    need_fuse()
    mp = tmp_path / "sys"
    mp.mkdir()
    r = subprocess.run([sys.executable, "-m", "apsim", "mount", str(small_scenario(tmp_path)), str(mp),
                        "--background", "--clock", "manual"], cwd=ROOT, capture_output=True, text=True, timeout=90)
    try:
        assert r.returncode == 0, r.stderr
        assert os.path.ismount(mp) and "unmount with: fusermount3 -u" in r.stdout
        assert (mp / "bus/ap/ap_max_domain_id").read_text() == "15\n"
    finally:
        subprocess.run(["fusermount3", "-u", str(mp)], capture_output=True, timeout=30)
    _wait(lambda: not os.path.ismount(mp), None)


def test_the_realtime_clock_moves_simulated_time(tmp_path: Path):
    need_fuse()
    with mounted(small_scenario(tmp_path), tmp_path / "sys", "--speed", "1000") as m:
        _wait(lambda: int((m / ".apsim/time").read_text().split()[0]) > 0, None)
        assert "lag_ns" in (m / ".apsim/time").read_text()


def _refusal(mp: Path) -> str:
    """Why check_mountpoint refuses *mp* ('' when it accepts it)."""
    try:
        server.check_mountpoint(mp)
    except ApsimError as e:
        return str(e)
    return ""


def _usable(mp: Path) -> bool:
    try:
        server.check_mountpoint(mp)
    except ApsimError:
        return False
    return True


def _wait(cond, proc: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the server exited early with {proc.returncode}")
        if time.monotonic() > deadline:
            pytest.fail("condition not reached")
        time.sleep(0.05)
