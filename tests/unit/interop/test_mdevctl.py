"""mdevctl definition files and --dumpjson output: reading, writing, and refusing bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apsim.errors import ScenarioError
from apsim.interop.mdevctl import read_dumpjson, read_mdevctl, render_definition, render_dumpjson
from apsim.linux.apcheck import device_from_attrs

GOLDEN = Path(__file__).parent / "golden" / "mdevctl"
DEF_FILE = GOLDEN / "etc/mdevctl.d/matrix/0e3b5c4e-0d8d-4a3b-9a52-0d6a1f6b1c11"


def test_definition_keeps_attrs_in_file_order_with_decimal_and_hex_values():
    ((d, src),) = read_mdevctl(GOLDEN / "etc/mdevctl.d")
    assert src == str(DEF_FILE)
    assert d.uuid == "0e3b5c4e-0d8d-4a3b-9a52-0d6a1f6b1c11"
    assert d.start == "auto" and d.autostart
    assert d.attrs == (("assign_adapter", "0x03"), ("assign_adapter", "12"),
                       ("assign_domain", "0x2b"), ("assign_control_domain", "0x2b"))
    dev = device_from_attrs(d.attrs)
    assert (sorted(dev.adapters), sorted(dev.domains), sorted(dev.controls)) == ([3, 12], [43], [43])


def test_matrix_folder_reads_like_the_mdevctl_d_folder():
    assert read_mdevctl(GOLDEN / "etc/mdevctl.d/matrix") == read_mdevctl(GOLDEN / "etc/mdevctl.d")


def test_rendered_definition_is_byte_identical_to_mdevctls_pretty_json():
    ((d, _),) = read_mdevctl(GOLDEN / "etc/mdevctl.d")
    assert render_definition(d) == DEF_FILE.read_text()


def test_dumpjson_reads_only_the_matrix_parent_and_keeps_interleaved_attrs():
    defs = read_dumpjson(GOLDEN / "list-defined.json")
    assert [d.uuid for d in defs] == ["783e6dbb-ea0e-411f-94e2-717eaad438bf",
                                      "62177883-f1bb-47f0-914d-32a22e3a8804"]
    assert [k for k, _ in defs[0].attrs] == ["assign_adapter", "assign_adapter", "assign_domain",
                                             "assign_control_domain", "assign_domain",
                                             "assign_control_domain"]
    assert defs[0].start == "manual" and defs[1].attrs == ()


def test_dumpjson_round_trip_keeps_the_matrix_devices():
    defs = read_dumpjson(GOLDEN / "list-defined.json")
    data = json.loads(render_dumpjson(defs))
    golden = json.loads((GOLDEN / "list-defined.json").read_text())
    want = golden[0]["matrix"]
    want[1]["62177883-f1bb-47f0-914d-32a22e3a8804"]["attrs"] = []  # mdevctl prints [] or omits the key
    assert data == [{"matrix": want}]


@pytest.mark.parametrize("body, where, rule", [
    ('{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": 5}]}',
     "$.attrs[0].assign_adapter", "attribute values are JSON strings"),
    ('{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "5,6"}]}',
     "$.attrs[0].assign_adapter", "EINVAL"),
    ('{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adaptr": "5"}]}',
     "$.attrs[0]", "'assign_adaptr' is not a vfio_ap mdev attribute"),
    ('{"mdev_type": "vfio_ap-passthrough", "start": "boot"}', "$.start", "start must be"),
    ('{"mdev_type": "vfio_ap-passthrough"}', "$", "start is missing"),
    ('{"mdev_type": "i915-GVTg_V5_4", "start": "auto"}', "$.mdev_type", "vfio_ap-passthrough"),
    ('{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"a": "1", "b": "2"}]}',
     "$.attrs[0]", "exactly one attribute"),
])
def test_bad_definition_names_the_file_the_json_path_and_the_rule(tmp_path, body, where, rule):
    f = tmp_path / "62177883-f1bb-47f0-914d-32a22e3a8804"
    f.write_text(body)
    with pytest.raises(ScenarioError) as ei:
        read_mdevctl(tmp_path)
    msg = str(ei.value)
    assert msg.startswith(f"{f}: {where}: ") and rule in msg


def test_malformed_json_names_the_line(tmp_path):
    f = tmp_path / "list.json"
    f.write_text('[\n  {\n    "matrix": [\n      {,}\n')
    with pytest.raises(ScenarioError) as ei:
        read_mdevctl(f)
    assert ei.value.file == str(f) and ei.value.line == 4 and "malformed JSON" in str(ei.value)


def test_files_not_named_by_a_uuid_are_skipped_as_mdevctl_skips_them(tmp_path):
    (tmp_path / "README").write_text("not a definition")
    assert read_mdevctl(tmp_path) == []
