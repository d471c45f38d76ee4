"""``apsim sysfs export``: real files with sysfs modes and the kernel's relative links."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from apsim.cli import main
from apsim.mount.export import export_tree
from apsim.mount.live import sysfs_at
from apsim.scenario.loader import load_scenario
from tests.unit.mount.support import SCENARIOS, UUID_A, small_scenario


def test_export_writes_texts_modes_and_relative_links(tmp_path: Path):
    _, fs = sysfs_at(load_scenario(small_scenario(tmp_path)), 0)
    out = tmp_path / "sys"
    export_tree(fs, out)
    assert (out / "bus/ap/apmask").read_text().startswith("0xf9ff")
    assert os.readlink(out / "bus/ap/devices/card05") == "../../../devices/ap/card05"
    assert os.readlink(out / "class/mdev_bus/matrix") == "../../devices/vfio_ap/matrix"
    assert os.readlink(out / f"bus/mdev/devices/{UUID_A}") == f"../../../devices/vfio_ap/matrix/{UUID_A}"
    assert os.readlink(out / f"devices/vfio_ap/matrix/{UUID_A}/mdev_type") == \
        "../mdev_supported_types/vfio_ap-passthrough"
    assert (out / f"bus/mdev/devices/{UUID_A}/matrix").read_text() == "05.0004\n"
    assert os.stat(out / "bus/ap/apmask").st_mode & 0o777 == 0o644
    assert os.stat(out / "bus/ap/ap_max_domain_id").st_mode & 0o777 == 0o444
    create = out / "devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create"
    assert os.stat(create).st_mode & 0o777 == 0o200 and create.read_text() == ""


def test_export_refuses_a_directory_with_entries(tmp_path: Path):
    (tmp_path / "x").write_text("")
    assert main(["sysfs", "export", str(SCENARIOS / "three-guests.yaml"), str(tmp_path)]) == 2


def test_export_of_a_nested_guest_is_its_own_sysfs(tmp_path: Path):
    out = tmp_path / "g1"
    assert main(["sysfs", "export", str(SCENARIOS / "nested.yaml"), str(out), "--guest", "guest1",
                 "--at", "55ms"]) == 0  # guest1's Linux is up at 50 ms
    names = sorted(os.listdir(out / "devices/vfio_ap/matrix"))
    assert "9f4c1e2a-7b3d-4c5e-8f60-1a2b3c4d5e6f" in names
    assert (out / "devices/vfio_ap/matrix/9f4c1e2a-7b3d-4c5e-8f60-1a2b3c4d5e6f/guest_matrix").read_text() \
        == "05.0004\n"


def test_export_names_an_unknown_guest(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["sysfs", "export", str(SCENARIOS / "nested.yaml"), str(tmp_path / "o"), "--guest", "nobody"]) == 2
    assert "no guest named 'nobody'" in capsys.readouterr().err


def test_sysfs_without_an_action_is_a_usage_error(capsys: pytest.CaptureFixture[str]):
    assert main(["sysfs"]) == 2
    assert "export or import" in capsys.readouterr().err
