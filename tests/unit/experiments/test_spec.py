"""Sweep files: located errors (file:line: key: rule), invalid points found before any
run, and the committed JSON Schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from apsim.cli import main
from apsim.errors import ScenarioError
from apsim.experiments.spec import load_sweep, sweep_schema_json
from apsim.experiments.sweep import resolve_points
from tests.unit.experiments.conftest import TINY, write

SWEEP = """\
base: tiny.yaml
parameters:
  guests[0].count: [1, 2]
  machine.adapters[0].engines: {from: 1, to: 3}
replications: 2
seed: 4
metrics: [latency.p99_us]
"""

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "scenarios" / "schema" / "apsim-sweep.schema.json"


def err(tmp_path: Path, text: str) -> ScenarioError:
    write(tmp_path, "tiny.yaml", TINY)
    path = write(tmp_path, "s.yaml", text)
    with pytest.raises(ScenarioError) as ei:
        spec, root = load_sweep(path)
        resolve_points(spec, root, str(path))
    return ei.value


def test_a_valid_sweep_resolves_every_point_to_a_scenario(tmp_path):
    write(tmp_path, "tiny.yaml", TINY)
    path = write(tmp_path, "s.yaml", SWEEP)
    spec, root = load_sweep(path)
    base, pts, scenarios = resolve_points(spec, root, str(path))
    assert len(pts) == 6 and base == (tmp_path / "tiny.yaml").resolve()
    assert [len(s.guests) for s in scenarios] == [1, 1, 1, 2, 2, 2]
    assert [s.machine.adapters[0].engines for s in scenarios] == [1, 2, 3, 1, 2, 3]


@pytest.mark.parametrize("old,new,line,key,rule", [
    ("seed: 4", "seed: 4\nsamples: 3", 1, None, "samples applies to design random or lhs"),
    ("replications: 2", "replications: 0", 5, "replications", "greater than or equal to 1"),
    ("{from: 1, to: 3}", "{from: 3, to: 1}", 4, "parameters.machine.adapters[0].engines", "to (1) is below from (3)"),
    ("{from: 1, to: 3}", "{from: 1, too: 3}", 4, "parameters.machine.adapters[0].engines.to", "required key 'to' is missing"),
    ("metrics: [latency.p99_us]", "metrics: []", 7, "metrics", "at least 1 item"),
    ("guests[0].count:", "guests[0]count:", 2, "parameters", "is not a key with optional"),
    ("seed: 4", "seed: 4\nfoo: 1", 7, "foo", "unknown key 'foo'"),
])
def test_bad_sweep_files_are_refused_with_their_line(tmp_path, old, new, line, key, rule):
    e = err(tmp_path, SWEEP.replace(old, new))
    assert rule in e.rule and e.file.endswith("s.yaml")
    assert e.line == line or (line == 1 and e.line in (1, None))
    assert e.key == key or key is None


def test_an_invalid_point_names_the_sweep_line_and_the_scenarios_message(tmp_path):
    e = err(tmp_path, SWEEP.replace("{from: 1, to: 3}", "[2, 9]"))
    assert (e.line, e.key) == (4, "parameters.machine.adapters[0].engines")
    assert "point 1 (guests[0].count=1, machine.adapters[0].engines=9) is not a valid scenario" in e.rule
    assert "tiny.yaml:8: machine.adapters[0].engines: input should be less than or equal to 5" in e.rule


def test_a_path_missing_from_the_base_scenario_is_refused_before_running(tmp_path):
    e = err(tmp_path, SWEEP.replace("guests[0].count", "guests[3].count"))
    assert (e.line, e.key) == (3, "parameters.guests[3].count")
    assert "guests has no item [3] (1 item)" in e.rule


def test_a_missing_base_file_is_reported_at_the_base_line(tmp_path):
    e = err(tmp_path, SWEEP.replace("base: tiny.yaml", "base: nope.yaml"))
    assert (e.line, e.key) == (1, "base") and "nope.yaml: no such file" in e.rule


def test_search_needs_an_integer_range_and_single_values_elsewhere(tmp_path):
    search = "search: {parameter: 'guests[0].count', metric: latency.p99_us, max: 5}\n"
    e = err(tmp_path, SWEEP + search)
    assert "search.parameter 'guests[0].count' must be a parameter with an integer range" in e.rule
    e = err(tmp_path, SWEEP.replace("[1, 2]", "{from: 1, to: 4}") + search)
    assert "give 'machine.adapters[0].engines' a single value" in e.rule


def test_committed_sweep_schema_is_up_to_date(capsys):
    assert SCHEMA_FILE.read_text(encoding="utf-8") == sweep_schema_json(), \
        "stale: run `apsim schema --sweep > scenarios/schema/apsim-sweep.schema.json`"
    assert main(["schema", "--sweep"]) == 0
    assert capsys.readouterr().out == sweep_schema_json()


def test_absurd_sweep_sizes_are_refused_before_anything_is_built(tmp_path):
    e = err(tmp_path, SWEEP.replace("[1, 2]", "{from: 1, to: 5000}"))
    assert "the grid has 15000 points; at most 10000 per sweep" in e.rule and e.line == 1
    e = err(tmp_path, SWEEP.replace("replications: 2", "replications: 10000").replace("[1, 2]", "{from: 1, to: 200}"))
    assert "600 points x 10000 replications is more than 1000000 runs" in e.rule
