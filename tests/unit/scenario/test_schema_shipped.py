"""Every scenario shipped in scenarios/ validates (as `apsim validate` would)."""

from __future__ import annotations

from pathlib import Path

import pytest

from apsim.cli import main
from apsim.scenario import load_scenario

SHIPPED = sorted((Path(__file__).resolve().parents[3] / "scenarios").glob("*.yaml"))


@pytest.mark.skipif(not SHIPPED, reason="no scenarios shipped yet")
@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_scenario_validates(path, capsys):
    sc = load_scenario(path)
    assert sc.name
    assert main(["validate", str(path)]) == 0
    assert ": ok: " in capsys.readouterr().out
