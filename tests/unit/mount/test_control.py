"""The .apsim/ control files, without FUSE: time, advance, action, last_error, dmesg, uevents, report."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from apsim.mount.control import ControlError, Controls
from apsim.mount.live import LiveSim
from apsim.scenario.loader import load_scenario
from tests.unit.mount.support import UUID_B, small_scenario


@pytest.fixture
def ctl(tmp_path: Path) -> Controls:
    return Controls(LiveSim(load_scenario(small_scenario(tmp_path)), clock="manual"))


def _read(ctl: Controls, name: str) -> str:
    reader = ctl.files[name].read
    assert reader is not None
    return reader()


def test_advance_takes_a_duration_and_time_shows_nanoseconds(ctl: Controls):
    ctl.write("advance", "1.5ms\n")
    assert _read(ctl, "time") == "1500000\n"
    with pytest.raises(ControlError) as e:
        ctl.write("advance", "soon")
    assert e.value.errno == errno.EINVAL and "advance" in _read(ctl, "last_error")


def test_an_action_runs_now_and_its_outcome_is_in_the_report(ctl: Controls):
    ctl.write("advance", "1ms")
    ctl.write("action", "{do: se.configure_off, adapters: [6]}")
    assert _read(ctl, "last_error") == ""
    timeline = json.loads(_read(ctl, "report.json"))["timeline"]
    assert [e for e in timeline if e["do"] == "se.configure_off"][0]["at_us"] == 1000.0


def test_a_refused_action_is_einval_and_last_error_says_why(ctl: Controls):
    with pytest.raises(ControlError) as e:
        ctl.write("action", f"{{do: sysfs.write, path: /sys/devices/vfio_ap/matrix/{UUID_B}/assign_adapter, "
                            "value: '5'}")
    assert e.value.errno == errno.EINVAL
    assert "EADDRINUSE" in _read(ctl, "last_error")
    with pytest.raises(ControlError):
        ctl.write("action", "[not, a, mapping]")
    assert "write one mapping" in _read(ctl, "last_error")


def test_dmesg_and_uevents_show_the_served_linux(ctl: Controls):
    ctl.live.call(lambda sim: sim.host.write("/sys/devices/ap/card06/online", "0"))
    assert "/sys/devices/ap/card06 ONLINE=0" in _read(ctl, "uevents")
    with pytest.raises(ControlError):
        ctl.write("action", f"{{do: sysfs.write, path: /sys/devices/vfio_ap/matrix/{UUID_B}/assign_adapter, "
                            "value: '5'}")
    assert "Userspace may not assign queue 05.0004" in _read(ctl, "dmesg")
