"""libvirt node-device and domain XML: layouts, reading, errors, schema validation."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from apsim.cli import main
from apsim.errors import ScenarioError
from apsim.interop.libvirt import (read_domain, read_nodedevs, render_ap_card, render_ap_matrix,
                                   render_ap_queue, render_domain, render_mdev)

GOLDEN = Path(__file__).parent / "golden" / "libvirt"
NODEDEV = GOLDEN / "nodedev"
ROOT = Path(__file__).resolve().parents[3]


def test_ap_card_queue_and_matrix_have_libvirts_layout():
    assert render_ap_card(7) == (NODEDEV / "ap_card07.xml").read_text()
    assert render_ap_queue(7, 0x38) == (NODEDEV / "ap_07_0038.xml").read_text()
    assert render_ap_matrix(65536) == (NODEDEV / "ap_matrix_mdev_types.xml").read_text()


def test_inactive_mdev_has_no_path_and_keeps_its_attrs():
    text = render_mdev("62177883-f1bb-47f0-914d-32a22e3a8804",
                       [("assign_adapter", "0x5"), ("assign_domain", "0x4")], active=False)
    assert text == (NODEDEV / "mdev_inactive.xml").read_text()


def test_domain_has_the_vfio_ap_hostdev_and_the_cpu_features():
    text = render_domain("guest1", vcpus=2, mdev="783e6dbb-ea0e-411f-94e2-717eaad438bf",
                         cpu={"ap": True, "apqci": True, "apft": True, "apqi": False, "msax3": True})
    assert text == (GOLDEN / "domain/guest1.xml").read_text()


def test_node_devices_are_read_with_attrs_in_document_order():
    devs = read_nodedevs([NODEDEV])
    assert list(devs.cards) == [7] and list(devs.queues) == [(7, 0x38)] and devs.matrix
    by_uuid = {m.uuid: m for m in devs.mdevs}
    m = by_uuid["783e6dbb-ea0e-411f-94e2-717eaad438bf"]
    assert m.start == "auto"
    assert m.attrs == (("assign_adapter", "5"), ("assign_adapter", "6"), ("assign_domain", "0xab"),
                       ("assign_control_domain", "0xab"), ("assign_domain", "4"),
                       ("assign_control_domain", "4"))


def test_newer_libvirts_start_element_gives_the_start_mode(tmp_path):
    f = tmp_path / "m.xml"
    f.write_text((NODEDEV / "mdev_inactive.xml").read_text().replace(
        "  </capability>", "    <start type='manual'/>\n  </capability>"))
    (m,) = read_nodedevs([f]).mdevs
    assert m.start == "manual"


def test_domain_gives_name_mdev_and_features():
    d = read_domain(GOLDEN / "domain/guest1.xml")
    assert (d.name, d.mdev, d.vcpus) == ("guest1", "783e6dbb-ea0e-411f-94e2-717eaad438bf", 2)
    assert d.cpu == {"ap": True, "apqci": True, "apft": True, "apqi": False}


@pytest.mark.parametrize("name, text, line, rule", [
    ("malformed", "<device>\n  <name>x</name>\n  <capability type='ap_card'>\n</device>\n", 4,
     "malformed XML"),
    ("bad attr", (NODEDEV / "mdev_inactive.xml").read_text().replace("assign_domain", "assign_dom"), 8,
     "<attr name='assign_dom'> is not a vfio_ap mdev attribute"),
    ("bad adapter", (NODEDEV / "ap_card07.xml").read_text().replace("0x07</ap", "0x107</ap"), 6,
     "<ap-adapter> 0x107 is outside 0..0xff"),
    ("two hostdevs", (GOLDEN / "domain/guest1.xml").read_text().replace(
        "  </devices>", "    <hostdev mode='subsystem' type='mdev' model='vfio-ap'>\n      <source>"
                        "<address uuid='62177883-f1bb-47f0-914d-32a22e3a8804'/></source>\n"
                        "    </hostdev>\n  </devices>"), 21, "one vfio-ap device per guest"),
])
def test_bad_xml_names_the_file_line_and_rule(tmp_path, name, text, line, rule):
    f = tmp_path / "x.xml"
    f.write_text(text)
    with pytest.raises(ScenarioError) as ei:
        read_domain(f) if "domain" in text[:10] else read_nodedevs([f])
    assert (ei.value.file, ei.value.line) == (str(f), line) and rule in str(ei.value)


def _validator() -> str | None:
    have = shutil.which("virt-xml-validate") and shutil.which("xmllint")
    if not have and os.environ.get("CI") != "true":
        pytest.skip("virt-xml-validate (Debian libvirt-clients, with xmllint) is not installed")
    return shutil.which("virt-xml-validate")


def test_exported_xml_validates_against_libvirts_own_schemas(tmp_path):
    tool = _validator()
    assert main(["export", "libvirt", str(ROOT / "scenarios/three-guests.yaml"), str(tmp_path)]) == 0
    files = sorted((tmp_path / "nodedev").glob("*.xml")) + sorted((tmp_path / "domain").glob("*.xml"))
    assert len(files) == 17
    for f in files:
        kind = "domain" if f.parent.name == "domain" else "nodedev"
        r = subprocess.run([tool, str(f), kind], capture_output=True, text=True)
        assert r.returncode == 0, (f, r.stdout, r.stderr)
