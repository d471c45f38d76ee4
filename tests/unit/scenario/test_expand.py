"""Counted guest entries (``count`` + index templates) and inline mdevs: what they expand
to, and errors that name the entry's line, key and index."""

from __future__ import annotations

import json

import pytest

from apsim.errors import ScenarioError
from apsim.scenario import parse_scenario, schema_json

HEAD = """\
apiVersion: apsim/v1
name: t
duration: 10ms
machine:
  model: z16
  adapters:
    - {id: 1, type: CEX8C}
    - {id: 2, type: CEX8C}
lpar: {adapters: [1, 2], usage_domains: [0, 1, 2, 3, 4, 5]}
host: {apmask: "-1,-2"}
"""

COUNTED = HEAD + """\
guests:
  - count: 4
    name: g{i:02d}
    mdev:
      uuid: "c0000000-0000-4000-8000-{i:012x}"
      assign_adapter: ["{i % 2 + 1}"]
      assign_domain: ["{i}"]
    workload: {kind: open, rate: 100, mix: {rsa2048: 1.0}}
"""


def err(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(text, file="s.yaml")
    return ei.value


def test_count_declares_that_many_guests_with_their_own_mdev():
    sc = parse_scenario(COUNTED)
    assert [g.name for g in sc.guests] == ["g00", "g01", "g02", "g03"]
    assert [m.uuid for m in sc.mdevs] == [f"c0000000-0000-4000-8000-{i:012x}" for i in range(4)]
    assert [g.mdev for g in sc.guests] == [m.uuid for m in sc.mdevs]
    assert [m.assign_domain for m in sc.mdevs] == [[0], [1], [2], [3]]
    assert [m.assign_adapter for m in sc.mdevs] == [[1], [2], [1], [2]]  # adapter i mod 2 + 1


def test_counted_entry_equals_the_guests_written_out():
    written = HEAD + "mdevs:\n" + "".join(
        f"  - {{uuid: c0000000-0000-4000-8000-{i:012x}, assign_adapter: [{i % 2 + 1}], assign_domain: [{i}]}}\n"
        for i in range(4)) + "guests:\n" + "".join(
        f"  - name: g{i:02d}\n    mdev: c0000000-0000-4000-8000-{i:012x}\n"
        f"    workload: {{kind: open, rate: 100, mix: {{rsa2048: 1.0}}}}\n" for i in range(4))
    assert parse_scenario(COUNTED).model_dump() == parse_scenario(written).model_dump()


def test_count_zero_declares_no_guest_and_count_uses_the_count_name():
    sc = parse_scenario(COUNTED.replace("count: 4", "count: 0"))
    assert sc.guests == [] and sc.mdevs == []
    sc = parse_scenario(COUNTED.replace("name: g{i:02d}", "name: g{count - i}"))
    assert [g.name for g in sc.guests] == ["g4", "g3", "g2", "g1"]


def test_inline_mdevs_follow_the_listed_ones_at_their_level():
    text = COUNTED.replace("guests:\n", "mdevs:\n  - {uuid: c0000000-0000-4000-8000-0000000000ff}\nguests:\n", 1)
    sc = parse_scenario(text)
    assert [m.uuid[-2:] for m in sc.mdevs] == ["ff", "00", "01", "02", "03"]


def test_nested_counted_entries_use_their_own_index_names():
    text = HEAD + """\
guests:
  - count: 2
    name: h{i}
    host: {apmask: "-1"}
    mdev: {uuid: "c0000000-0000-4000-8000-{i:012x}", assign_adapter: [1], assign_domain: ["{i}"]}
    guests:
      - count: 2
        index: j
        name: h{i}n{j}
"""
    sc = parse_scenario(text)
    names = [r.spec.name for r in sc.walk_guests()]
    assert names == ["h0", "h0n0", "h0n1", "h1", "h1n0", "h1n1"]


def test_error_in_a_counted_guest_names_the_entry_line_key_and_index():
    e = err(COUNTED.replace('["{i}"]', '["{i * 100}"]'))
    assert (e.file, e.line, e.key) == ("s.yaml", 17, "guests[0].mdev.assign_domain[0] (i=3)")
    assert "id 300 (0x12c) is out of range" in e.rule


def test_cross_reference_error_in_a_counted_guest_is_located_too():
    e = err(COUNTED.replace("name: g{i:02d}", "name: g{i // 2}"))
    assert (e.line, e.key) == (13, "guests[0].name (i=1)") and "used twice" in e.rule


@pytest.mark.parametrize("old,new,key,rule", [
    ("count: 4", "count: -1", "guests[0].count", "out of range 0..4096"),
    ("count: 4", "count: many", "guests[0].count", "whole number"),
    ("name: g{i:02d}", "name: g{k}", "guests[0].name (i=0)", "unknown name 'k'"),
    ("name: g{i:02d}", "name: g{i ** 2}", "guests[0].name (i=0)", "only whole numbers"),
    ("name: g{i:02d}", "name: g{i:q}", "guests[0].name (i=0)", "bad format spec"),
    ("name: g{i:02d}", "name: g{i % 0}", "guests[0].name (i=0)", "division by zero"),
    ("name: g{i:02d}", "name: g{i", "guests[0].name (i=0)", "bad template"),
])
def test_bad_counted_entries_are_refused_with_their_location(old, new, key, rule):
    e = err(COUNTED.replace(old, new))
    assert e.key == key and rule in e.rule and e.line is not None


def test_index_without_count_is_refused():
    e = err(COUNTED.replace("count: 4", "index: j"))
    assert e.key == "guests[0].index" and "add count" in e.rule


def test_schema_describes_count_index_inline_mdev_and_templates():
    schema = json.loads(schema_json())
    guest = schema["$defs"]["GuestSpec"]["properties"]
    assert guest["count"]["type"] == "integer" and "index" in guest
    assert {"$ref": "#/$defs/MdevSpec"} in guest["mdev"]["anyOf"]
    domain_item = schema["$defs"]["MdevSpec"]["properties"]["assign_domain"]["items"]
    assert any("{" in alt.get("pattern", "") for alt in domain_item["anyOf"])
