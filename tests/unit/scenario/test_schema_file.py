"""The committed JSON Schema (scenarios/schema/apsim.schema.json) is generated from the
models and must be kept up to date: regenerate it with
`apsim schema > scenarios/schema/apsim.schema.json`."""

from __future__ import annotations

import json
from pathlib import Path

from apsim.cli import main
from apsim.scenario import ACTION_NAMES
from apsim.scenario.schema import schema_json

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "scenarios" / "schema" / "apsim.schema.json"


def test_committed_schema_is_up_to_date():
    """The file equals what the models generate today."""
    assert SCHEMA_FILE.is_file(), f"missing {SCHEMA_FILE}"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_json(), \
        "scenarios/schema/apsim.schema.json is stale: run `apsim schema > scenarios/schema/apsim.schema.json`"


def test_apsim_schema_prints_the_schema(capsys):
    """`apsim schema` prints exactly the committed file."""
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == schema_json()


def test_schema_describes_every_action_and_editor_friendly_types():
    """Every `do:` value is in the discriminator; durations and ids accept what authors write."""
    schema = json.loads(schema_json())
    defs = schema["$defs"]
    timeline = schema["properties"]["timeline"]["items"]
    assert set(timeline["discriminator"]["mapping"]) == set(ACTION_NAMES)
    assert schema["properties"]["duration"]["anyOf"][0]["type"] == "string"
    assert {"integer", "string"} == {b["type"] for b in defs["MdevSpec"]["properties"]["assign_adapter"]["items"]["anyOf"]}
    assert all(d.get("additionalProperties") is False for name, d in defs.items() if d.get("type") == "object")
    assert "mode" not in defs["AdapterSpec"]["required"]
