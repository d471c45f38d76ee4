"""``apsim sysfs import``: a sysfs tree back into a scenario; export → import → export is stable."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from apsim.cli import main
from apsim.mount.export import export_tree
from apsim.mount.importer import import_sysfs
from apsim.mount.live import sysfs_at
from apsim.scenario.loader import load_scenario
from tests.unit.mount.support import SCENARIOS, UUID_A, UUID_B, small_scenario, snapshot
from tests.unit.scenario_samples import SERIALS


def _round_trip(scenario: Path, tmp: Path) -> tuple[dict, dict]:
    _, fs = sysfs_at(load_scenario(scenario), 0)
    export_tree(fs, tmp / "a")
    assert main(["sysfs", "import", str(tmp / "a"), "-o", str(tmp / "imported.yaml")]) == 0
    _, fs2 = sysfs_at(load_scenario(tmp / "imported.yaml"), 0)
    export_tree(fs2, tmp / "b")
    return snapshot(tmp / "a", ignore_in_use=True), snapshot(tmp / "b", ignore_in_use=True)


def test_import_reads_back_what_the_scenario_determines(tmp_path: Path):
    _, fs = sysfs_at(load_scenario(small_scenario(tmp_path)), 0)
    export_tree(fs, tmp_path / "sys")
    data = import_sysfs(tmp_path / "sys")
    assert data["machine"]["apxa"] is False
    assert (data["machine"]["max_adapter_id"], data["machine"]["max_domain_id"]) == (63, 15)  # no APXA: the architecture caps adapter ids at 63
    assert data["machine"]["adapters"] == [
        {"id": 5, "type": "CEX7", "mode": "cca", "queue_depth": 4, "ml": 6},
        {"id": 6, "type": "CEX7", "mode": "accelerator"},
        {"id": 7, "type": "CEX8", "mode": "ep11"}]
    assert data["lpar"] == {"adapters": [5, 6], "standby": [7], "usage_domains": [4, 5],
                            "control_domains": [3, 4, 5]}
    assert data["host"]["config_time"] == "45s"
    assert data["host"]["apmask"].startswith("0xf9ff")
    assert data["mdevs"] == [
        {"uuid": UUID_A, "assign_adapter": [5], "assign_domain": [4], "assign_control_domain": [3]},
        {"uuid": UUID_B, "assign_adapter": [6], "assign_domain": [4], "assign_control_domain": []}]


def test_export_import_export_gives_the_same_tree(tmp_path: Path):
    a, b = _round_trip(small_scenario(tmp_path), tmp_path)
    assert a == b


@pytest.mark.parametrize("name", ["three-guests.yaml", "nested.yaml", "securing-apqns.yaml", "hotplug.yaml"])
def test_shipped_scenarios_survive_the_round_trip(name: str, tmp_path: Path):
    a, b = _round_trip(SCENARIOS / name, tmp_path)
    assert a == b


def test_a_tarball_of_the_real_layout_imports_like_the_directory(tmp_path: Path):
    _, fs = sysfs_at(load_scenario(small_scenario(tmp_path)), 0)
    export_tree(fs, tmp_path / "sys")
    # tar pads sysfs files to their reported 4096 bytes with NULs; the importer strips them.
    (tmp_path / "sys/bus/ap/aqmask").chmod(0o644)
    text = (tmp_path / "sys/bus/ap/aqmask").read_text()
    (tmp_path / "sys/bus/ap/aqmask").write_bytes(text.encode() + b"\0" * (4096 - len(text)))
    tgz = tmp_path / "host.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for part in ("sys/bus/ap", "sys/devices/ap", "sys/devices/vfio_ap"):
            tar.add(tmp_path / part, arcname=part)
    assert import_sysfs(tgz) == {**import_sysfs(tmp_path / "sys"), "name": "host"}


def test_import_of_something_that_is_not_a_sysfs_tree_is_a_clear_error(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]):
    (tmp_path / "junk.tgz").write_text("not a tarball")
    assert main(["sysfs", "import", str(tmp_path / "junk.tgz"), "-o", str(tmp_path / "o.yaml")]) == 2
    assert "not a directory or a readable tarball" in capsys.readouterr().err
    assert main(["sysfs", "import", str(tmp_path), "-o", str(tmp_path / "o.yaml")]) == 2
    assert "no bus/ap or devices/ap" in capsys.readouterr().err


def test_an_older_kernel_without_ap_config_is_read_from_matrix_and_control_domains(tmp_path: Path):
    _, fs = sysfs_at(load_scenario(small_scenario(tmp_path)), 0)
    export_tree(fs, tmp_path / "sys")
    with_ap_config = import_sysfs(tmp_path / "sys")["mdevs"]
    for uuid in (UUID_A, UUID_B):
        (tmp_path / f"sys/devices/vfio_ap/matrix/{uuid}/ap_config").unlink()
    assert import_sysfs(tmp_path / "sys")["mdevs"] == with_ap_config


def test_import_takes_back_the_serial_numbers_the_cards_report(tmp_path: Path):
    (tmp_path / "s.yaml").write_text(SERIALS)
    _, fs = sysfs_at(load_scenario(tmp_path / "s.yaml"), 50_000_000)  # the queues are up: the query reaches the cards
    export_tree(fs, tmp_path / "sys")
    adapters = import_sysfs(tmp_path / "sys")["machine"]["adapters"]
    # card 8 reports an empty line; card 9 too, as its only queue is vfio_ap's on the host
    assert [a.get("serialnr") for a in adapters] == ["93AABEHR", "93AACFHS", None, None, None]


def test_a_serial_number_not_in_the_firmwares_format_is_a_clear_import_error(tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture[str]):
    (tmp_path / "s.yaml").write_text(SERIALS)
    _, fs = sysfs_at(load_scenario(tmp_path / "s.yaml"), 50_000_000)
    export_tree(fs, tmp_path / "sys")
    (tmp_path / "sys" / "devices" / "ap" / "card05" / "serialnr").write_text("93AABEHRX\n")
    assert main(["sysfs", "import", str(tmp_path / "sys"), "-o", str(tmp_path / "o.yaml")]) == 2
    err = capsys.readouterr().err
    assert "card05/serialnr: serialnr '93AABEHRX': a CCA card reports 8 characters" in err
