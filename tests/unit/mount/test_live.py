"""LiveSim: the scenario built as apsim run builds it, and time moved by hand or by a blocking store."""

from __future__ import annotations

from pathlib import Path

import pytest

from apsim.errors import ApsimError, ScenarioError
from apsim.mount.live import LiveSim, sysfs_at
from apsim.scenario.loader import load_scenario
from tests.unit.mount.support import SCENARIOS, UUID_A, small_scenario


def _live(tmp: Path, **kw: object) -> LiveSim:
    return LiveSim(load_scenario(small_scenario(tmp)), clock="manual", **kw)  # type: ignore[arg-type]


def test_the_setup_at_time_zero_is_done_and_time_stays_at_zero(tmp_path: Path):
    live = _live(tmp_path)
    assert live.now_ns == 0
    assert live.call(lambda sim: sim.host.read(f"/sys/devices/vfio_ap/matrix/{UUID_A}/matrix")) == "05.0004\n"


def test_advance_runs_the_timeline_up_to_that_time(tmp_path: Path):
    live = LiveSim(load_scenario(SCENARIOS / "nested.yaml"), clock="manual")
    live.advance(111_000_000)
    assert live.now_ns == 111_000_000
    entries = live.call(lambda sim: [e.do for e in sim.timeline.entries if e.at_ns == 110_000_000])
    assert entries == ["sysfs.write"]


def test_a_guests_linux_is_served_only_while_it_runs(tmp_path: Path):
    live = LiveSim(load_scenario(SCENARIOS / "nested.yaml"), clock="manual", guest="guest2")
    assert live.call(lambda sim: live.linux()) is None
    live.advance(99_000_000)
    assert live.call(lambda sim: live.linux()) is None  # started at 50 ms, still booting
    live.advance(2_000_000)
    assert live.call(lambda sim: live.linux()) is not None


def test_wait_until_moves_a_manual_clock_only_as_far_as_needed(tmp_path: Path):
    live = LiveSim(load_scenario(SCENARIOS / "nested.yaml"), clock="manual", guest="guest2")
    assert live.wait_until(lambda: live.linux() is not None, limit_ns=150_000_000)
    assert live.now_ns == 100_000_000  # guest2's Linux is up at 100 ms (started at 50 ms, reset, boot)
    assert not live.wait_until(lambda: False, limit_ns=1_000_000)
    assert live.now_ns == 101_000_000


def test_removing_an_mdev_starts_reset_verifications_that_finish(tmp_path: Path):
    live = _live(tmp_path)
    vfio = live.sim.host.vfio
    live.call(lambda sim: sim.host.write(f"/sys/devices/vfio_ap/matrix/{UUID_A}/remove", "1"))
    started = vfio.resets_in_progress()
    assert len(started) == 1  # queue 05.0004
    assert live.wait_until(lambda: not vfio.resets_in_progress())
    assert live.now_ns % 20_000_000 == 0 and live.now_ns > 0


def test_bad_clock_and_speed_are_refused(tmp_path: Path):
    sc = load_scenario(small_scenario(tmp_path))
    with pytest.raises(ApsimError, match="--clock 'sundial'"):
        LiveSim(sc, clock="sundial")
    with pytest.raises(ApsimError, match="--speed"):
        LiveSim(sc, speed=-1)


def test_sysfs_at_names_a_guest_that_is_not_running(tmp_path: Path):
    with pytest.raises(ScenarioError, match="guest 'guest2' is not running"):
        sysfs_at(load_scenario(SCENARIOS / "nested.yaml"), 0, "guest2")
