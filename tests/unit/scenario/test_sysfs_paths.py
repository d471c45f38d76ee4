"""apsim validate names a timeline sysfs path the scenario's tree will not have, with a
did-you-mean; paths that may appear later are not reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from apsim.cli import main
from apsim.linux.sysfs import Sysfs
from apsim.scenario import parse_scenario
from apsim.scenario.sysfs_paths import suggest, unknown_sysfs_paths
from tests.unit.scenario_samples import THREE_GUESTS, UUID1

M = "/sys/devices/vfio_ap/matrix"


def fs() -> Sysfs:
    s = Sysfs()
    s.add("/sys/bus/ap/apmask", read=lambda: "")
    s.add(f"{M}/{UUID1}/assign_adapter", write=lambda v: None)
    s.add("/sys/bus/ap/devices/05.0004/online", read=lambda: "1\n")
    return s


def test_a_misspelled_attribute_is_reported_with_the_closest_name() -> None:
    assert suggest(fs(), "/sys/bus/ap/apmsk") == ("/sys/bus/ap/apmsk: the scenario's sysfs has no 'apmsk' in "
                                                  "/sys/bus/ap; did you mean /sys/bus/ap/apmask?")


def test_an_mdev_created_later_is_checked_through_an_existing_one() -> None:
    later = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
    assert suggest(fs(), f"{M}/{later}/assign_adapter") is None
    assert "did you mean" in suggest(fs(), f"{M}/{later}/asign_adapter")


def test_a_queue_attribute_that_depends_on_the_driver_is_not_reported() -> None:
    assert suggest(fs(), "/sys/bus/ap/devices/05.0004/status") is None
    assert suggest(fs(), "/sys/bus/ap/devices/06.0047/online") is None


def test_shipped_style_scenario_paths_all_exist_at_setup() -> None:
    assert unknown_sysfs_paths(parse_scenario(THREE_GUESTS, file="s.yaml")) == []


def test_validate_exits_2_on_a_typo_in_a_timeline_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = THREE_GUESTS.replace(f"{UUID1}/matrix, expect", f"{UUID1}/matrx, expect")
    assert text != THREE_GUESTS
    p = tmp_path / "s.yaml"
    p.write_text(text)
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert "timeline[3].path" in err and f"did you mean {M}/{UUID1}/matrix?" in err
