"""Scenario keys mdevctl: and chzdev:, mdevctl.start/stop, and the export round trip."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from apsim.cli import main
from apsim.errors import ScenarioError
from apsim.scenario import load_scenario
from apsim.scenario.build import build
from apsim.scenario.run import run_scenario

GOLDEN = Path(__file__).parents[1] / "interop" / "golden"
U1 = "62177883-f1bb-47f0-914d-32a22e3a8804"
U2 = "783e6dbb-ea0e-411f-94e2-717eaad438bf"
MATRIX = "/sys/devices/vfio_ap/matrix"

BASE = """\
name: imports
duration: 200ms
machine:
  max_domain_id: 255
  adapters:
    - {id: 5, type: CEX7, mode: cca}
    - {id: 6, type: CEX7, mode: cca}
lpar: {adapters: [5, 6], usage_domains: [4, 0x47, 0xab]}
"""


def definition(folder: Path, uuid: str, start: str, attrs: str) -> None:
    (folder / "etc/mdevctl.d/matrix").mkdir(parents=True, exist_ok=True)
    (folder / f"etc/mdevctl.d/matrix/{uuid}").write_text(
        f'{{"mdev_type": "vfio_ap-passthrough", "start": "{start}", "attrs": [{attrs}]}}')


def scenario(tmp_path: Path, extra: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(BASE + extra)
    return p


@pytest.fixture
def two_defs(tmp_path):
    definition(tmp_path, U1, "auto", '{"assign_adapter": "0x05"}, {"assign_domain": "4"}, '
                                     '{"assign_domain": "0xab"}')
    definition(tmp_path, U2, "manual", '{"assign_adapter": "6"}, {"assign_domain": "0x47"}')
    return tmp_path


def test_autostart_mdev_is_created_at_boot_and_manual_one_only_by_mdevctl_start(two_defs):
    p = scenario(two_defs, 'host: {apmask: "-5,-6"}\nmdevctl: etc/mdevctl.d\n'
                           f"timeline:\n  - {{at: 2ms, do: mdevctl.start, uuid: {U2}}}\n")
    sc = load_scenario(p)
    assert [(m.uuid, m.start) for m in sc.mdevs] == [(U1, "auto"), (U2, "manual")]
    sim = build(sc)
    assert sim.host.read(f"{MATRIX}/{U1}/matrix") == "05.0004\n05.00ab\n"
    assert not sim.host.sysfs.exists(f"{MATRIX}/{U2}")
    res = run_scenario(sc)
    starts = [e for e in res.timeline.entries if e.do == "mdevctl.start"]
    assert [(e.args["uuid"], e.passed) for e in starts] == [(U1, True), (U2, True)]
    assert res.sim.host.read(f"{MATRIX}/{U2}/matrix") == "06.0047\n"


def test_mdevctl_stop_removes_the_mdev(two_defs):
    p = scenario(two_defs, 'host: {apmask: "-5,-6"}\nmdevctl: etc/mdevctl.d\n'
                           f"timeline:\n  - {{at: 2ms, do: mdevctl.stop, uuid: {U1}}}\n"
                           f"  - {{at: 3ms, do: mdevctl.stop, uuid: {U1}, expect: refused}}\n")
    res = run_scenario(load_scenario(p))
    assert res.expectations_passed
    assert not res.sim.host.sysfs.exists(f"{MATRIX}/{U1}")


def test_start_inside_the_active_host_masks_is_refused_with_ap_checks_reason(tmp_path):
    # No apmask write: the host keeps every adapter, so ap-check refuses each APQN. (An
    # autostart definition would be refused already at import: no rules file means
    # ap-check vets it against the active masks.)
    definition(tmp_path, U2, "manual", '{"assign_adapter": "6"}, {"assign_domain": "0x47"}')
    p = scenario(tmp_path, f"mdevctl: etc/mdevctl.d\ntimeline:\n"
                           f"  - {{at: 2ms, do: mdevctl.start, uuid: {U2}, expect: refused}}\n")
    res = run_scenario(load_scenario(p))
    (start,) = [e for e in res.timeline.entries if e.do == "mdevctl.start"]
    assert start.passed is True and start.detail == ("AQPN 6.71 is not allowed for vfio_ap-passthrough "
                                                     "use by the active ap bus mask settings")
    assert not res.sim.host.sysfs.exists(f"{MATRIX}/{U2}")


def test_conflicting_autostart_definitions_are_refused_at_import_naming_the_file(tmp_path):
    definition(tmp_path, U1, "auto", '{"assign_adapter": "5"}, {"assign_domain": "4"}')
    definition(tmp_path, U2, "auto", '{"assign_adapter": "0x5"}, {"assign_domain": "0x04"}')
    p = scenario(tmp_path, 'host: {apmask: "-5,-6"}\nmdevctl: etc/mdevctl.d\n')
    with pytest.raises(ScenarioError) as ei:
        load_scenario(p)
    assert str(ei.value) == (f"{tmp_path / 'etc/mdevctl.d/matrix' / U1}: ap-check refuses the autostart "
                             f"definition {U1}: APQN 5.4 is defined for autostart by {U2}")


def test_autostart_definition_inside_chzdevs_persistent_masks_is_refused(tmp_path, capsys):
    definition(tmp_path, U1, "auto", '{"assign_adapter": "5"}, {"assign_domain": "4"}')
    rules = tmp_path / "41-ap.rules"
    rules.write_text('ATTR{../../bus/ap/apmask}="0xff"\n')
    p = scenario(tmp_path, "chzdev: 41-ap.rules\nmdevctl: etc/mdevctl.d\n")
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert "AQPN 5.4 is not defined for vfio_ap-passthrough use by the persistent ap bus mask" in err


def test_chzdev_masks_are_applied_at_boot(tmp_path):
    shutil.copy(GOLDEN / "chzdev/41-ap.rules", tmp_path / "41-ap.rules")
    sim = build(load_scenario(scenario(tmp_path, "chzdev: 41-ap.rules\n")))
    assert sim.host.read("/sys/bus/ap/apmask").startswith("0xf9ff")


def test_chzdev_and_host_apmask_together_are_refused_at_the_host_key_line(tmp_path):
    shutil.copy(GOLDEN / "chzdev/41-ap.rules", tmp_path / "41-ap.rules")
    p = scenario(tmp_path, 'host:\n  apmask: "-5"\nchzdev: 41-ap.rules\n')
    with pytest.raises(ScenarioError) as ei:
        load_scenario(p)
    assert ei.value.line == 10 and ei.value.key == "host.apmask"


def test_missing_import_path_is_an_error_at_its_key(tmp_path):
    with pytest.raises(ScenarioError) as ei:
        load_scenario(scenario(tmp_path, "mdevctl: nowhere\n"))
    assert ei.value.line == 9 and "no such file or folder" in str(ei.value)


def test_mdevctl_start_of_an_undefined_uuid_is_refused_at_load(tmp_path):
    p = scenario(tmp_path, f"timeline:\n  - {{at: 1ms, do: mdevctl.start, uuid: {U1}}}\n")
    with pytest.raises(ScenarioError) as ei:
        load_scenario(p)
    assert ei.value.key == "timeline[0].uuid" and "no mdevctl definition" in str(ei.value)


def _host_config(sc) -> dict[str, str]:
    sim = build(sc)
    out = {k: sim.host.read(f"/sys/bus/ap/{k}") for k in ("apmask", "aqmask")}
    for m in sc.mdevs:
        for attr in ("matrix", "control_domains"):
            path = f"{MATRIX}/{m.uuid}/{attr}"
            out[path] = sim.host.read(path) if sim.host.sysfs.exists(path) else "<not started>"
    return out


def test_round_trip_through_mdevctl_and_chzdev_gives_the_same_host_configuration(tmp_path):
    src = scenario(tmp_path, 'host: {apmask: "-5,-6", aqmask: "-0x47"}\nmdevs:\n'
                             f"  - {{uuid: {U1}, assign_adapter: [5, 6], assign_domain: [4, 0xab], "
                             f"assign_control_domain: [0xab]}}\n"
                             f"  - {{uuid: {U2}, start: manual, assign_adapter: [5], assign_domain: [0x47]}}\n")
    out = tmp_path / "out"
    assert main(["export", "mdevctl", str(src), str(out)]) == 0
    assert main(["export", "chzdev", str(src), str(out)]) == 0
    back = tmp_path / "back.yaml"
    back.write_text(BASE + "chzdev: out/etc/udev/rules.d/41-ap.rules\nmdevctl: out/etc/mdevctl.d\n")
    again = tmp_path / "again.yaml"
    again.write_text(BASE + "chzdev: out/etc/udev/rules.d/41-ap.rules\nmdevctl: out/mdevctl-list-defined.json\n")
    want = _host_config(load_scenario(src))
    assert want[f"{MATRIX}/{U1}/matrix"] == "05.0004\n05.00ab\n06.0004\n06.00ab\n"
    assert _host_config(load_scenario(back)) == want
    assert _host_config(load_scenario(again)) == want


def test_round_trip_through_libvirt_xml_gives_the_same_host_and_guests(tmp_path):
    src = scenario(tmp_path, 'host: {apmask: "-5,-6"}\nmdevs:\n'
                             f"  - {{uuid: {U1}, assign_adapter: [5, 6], assign_domain: [4, 0xab]}}\n"
                             f"  - {{uuid: {U2}, assign_adapter: [5], assign_domain: [0x47], "
                             f"assign_control_domain: [0x47]}}\n"
                             f"guests:\n  - {{name: g1, mdev: {U1}, cpu: {{apqi: false}}}}\n"
                             f"  - {{name: g2, mdev: {U2}, vcpus: 4}}\n")
    out = tmp_path / "out"
    for fmt in ("libvirt", "chzdev"):
        assert main(["export", fmt, str(src), str(out)]) == 0
    back = tmp_path / "back.yaml"
    back.write_text(BASE + "chzdev: out/etc/udev/rules.d/41-ap.rules\n"
                           "libvirt:\n  nodedevs: [out/nodedev]\n"
                           "  domains: [out/domain/g1.xml, out/domain/g2.xml]\n")
    a, b = load_scenario(src), load_scenario(back)
    assert _host_config(b) == _host_config(a)
    assert [(g.name, g.mdev, g.cpu, g.vcpus) for g in b.guests] == \
           [(g.name, g.mdev, g.cpu, g.vcpus) for g in a.guests]


def test_libvirt_ap_card_outside_the_lpar_is_refused_naming_the_xml_line(tmp_path):
    shutil.copytree(GOLDEN / "libvirt/nodedev", tmp_path / "nd")
    p = scenario(tmp_path, "libvirt: {nodedevs: [nd]}\n")
    with pytest.raises(ScenarioError) as ei:
        load_scenario(p)
    assert str(ei.value) == (f"{tmp_path / 'nd/ap_card07.xml'}:5: ap_card 0x07: the host LPAR has no "
                             f"adapter 7 (lpar.adapters/standby: [5, 6])")


def test_domain_mdev_conflicting_with_the_scenarios_guest_is_refused(tmp_path):
    p = scenario(tmp_path, f"mdevs:\n  - {{uuid: {U1}}}\nguests:\n  - {{name: guest1, mdev: {U1}}}\n"
                           f"libvirt: {{domains: [{GOLDEN / 'libvirt/domain/guest1.xml'}]}}\n")
    with pytest.raises(ScenarioError) as ei:
        load_scenario(p)
    assert f"guest guest1 has mdev {U1} in the scenario but {U2} in its domain" in str(ei.value)


def test_the_scenarios_own_autostart_mdevs_get_ap_checks_define_rules_at_their_line(tmp_path):
    p = scenario(tmp_path, 'host: {apmask: "-5,-6"}\nmdevs:\n'
                           f"  - {{uuid: {U1}, start: auto, assign_adapter: [5], assign_domain: [4]}}\n"
                           f"  - {{uuid: {U2}, start: auto, attrs: [{{assign_adapter: '0x5'}}, "
                           f"{{assign_domain: '4'}}]}}\n")
    with pytest.raises(ScenarioError) as ei:
        load_scenario(p)
    assert (ei.value.line, ei.value.key) == (11, "mdevs[0]")
    assert ei.value.rule.endswith(f"APQN 5.4 is defined for autostart by {U2}")
