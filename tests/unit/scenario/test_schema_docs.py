"""Every complete scenario shown in docs/scenarios.md is valid, and the page documents
every action and every top-level key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from apsim.scenario import ACTION_NAMES, Scenario, parse_scenario

DOC = Path(__file__).resolve().parents[3] / "docs" / "scenarios.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_doc_has_a_complete_example():
    assert any(b.lstrip().startswith(("apiVersion:", "name:")) for b in BLOCKS)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lstrip().startswith(("apiVersion:", "name:"))])
def test_complete_examples_validate(block):
    """A full scenario in the docs loads without errors."""
    sc = parse_scenario(block, file="docs/scenarios.md")
    assert sc.timeline and sc.guests


def test_every_action_and_key_is_documented():
    text = DOC.read_text(encoding="utf-8")
    for name in ACTION_NAMES:
        assert f"`{name}`" in text, name
    for field in Scenario.model_fields.values():
        key = field.alias or next(k for k, v in Scenario.model_fields.items() if v is field)
        assert f"`{key}`" in text, key
