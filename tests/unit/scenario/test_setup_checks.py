"""Setup conflicts vfio_ap would refuse are scenario errors with the line and the rule
(exit 2), not a failed expectation at 0 ns."""

from __future__ import annotations

from pathlib import Path

import pytest

from apsim.cli import main
from apsim.errors import ScenarioError
from apsim.scenario import parse_scenario
from tests.unit.scenario_samples import THREE_GUESTS, UUID1, UUID2, UUID3


def refused(text: str) -> ScenarioError:
    assert text != THREE_GUESTS
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(text, file="s.yaml")
    return ei.value


def test_an_apqn_in_two_mdevs_is_eaddrinuse_at_the_second_mdevs_domain() -> None:
    e = refused(THREE_GUESTS.replace('assign_domain: ["0x47", 0xff]', 'assign_domain: ["0x47", 0xab]'))
    assert e.key == "mdevs[1].assign_domain[1]" and e.line == 21
    assert f"APQN 05.00ab is already assigned to mdev {UUID1}" in e.rule and "EADDRINUSE" in e.rule


def test_an_assignment_the_hosts_apmask_keeps_is_eaddrnotavail() -> None:
    e = refused(THREE_GUESTS.replace('apmask: "-5,-6"', 'apmask: "-5"'))
    assert e.key == "mdevs[0].assign_domain[0]"
    assert "APQN 06.0004 belongs to the host's zcrypt drivers" in e.rule and "EADDRNOTAVAIL" in e.rule


def test_aqmask_alone_can_release_the_apqns() -> None:
    parse_scenario(THREE_GUESTS.replace('apmask: "-5,-6"', 'aqmask: "-4,-0x47,-0xab,-0xff"'), file="s.yaml")


def test_two_guests_running_at_once_on_one_mdev_are_refused() -> None:
    e = refused(THREE_GUESTS.replace(f"    mdev: {UUID3}\n", f"    mdev: {UUID2}\n"))
    assert e.key == "guests[2].mdev" and f"mdev {UUID2} is already used by guest guest2" in e.rule
    assert "EBUSY" in e.rule


def test_two_guests_may_use_one_mdev_one_after_the_other() -> None:
    text = THREE_GUESTS.replace(f"    mdev: {UUID2}\n", f"    mdev: {UUID2}\n    stop: 4ms\n")
    text = text.replace(f"    mdev: {UUID3}\n", f"    mdev: {UUID2}\n")
    parse_scenario(text, file="s.yaml")


def test_validate_exits_2_naming_the_line_of_the_conflict(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(THREE_GUESTS.replace('assign_domain: ["0x47", 0xff]', 'assign_domain: ["0x47", 0xab]'))
    assert main(["validate", str(p)]) == 2
    assert f"{p}:21: mdevs[1].assign_domain[1]: APQN 05.00ab" in capsys.readouterr().err
