"""Bad scenario files: each gives one ScenarioError "file:line: key: rule" pointing at the
offending line, never a pydantic or YAML traceback."""

from __future__ import annotations

import re

import pytest

from apsim.errors import ScenarioError
from apsim.scenario import load_scenario, parse_scenario
from tests.unit.scenario_samples import LINES, THREE_GUESTS, UUID1


def err(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(text, file="s.yaml")
    return ei.value


CASES = [
    # name, old, new, line, key, rule
    ("malformed YAML", "  adapters: [5, 6]\n", "  adapters: [5, 6\n", 12, None,
     "malformed YAML: expected ',' or ']', but got ':' (while parsing a flow sequence at line 11)"),
    ("bad indentation", "  apmask: \"-5,-6\"", "   apmask: \"-5,-6\"\n  x: : :", 15, None, "malformed YAML"),
    ("duplicate key", "seed: 1\n", "seed: 1\nseed: 2\n", 3, None, "duplicate key"),
    ("unknown key", "  model: z15\n", "  model: z15\n  modle: z16\n", 6, "machine.modle", "unknown key 'modle'; did you mean 'model'?"),
    ("unknown key in action", "adapters: [6]}", "adapters: [6], adapter: 6}", LINES["timeline[0]"],
     "timeline[0].adapter", "unknown key 'adapter'; did you mean 'adapters'?"),
    ("unknown key in nested model", "cpu: {ap: true,", "cpu: {apx: true,", LINES["guest0.cpu"], "guests[0].cpu.apx",
     "unknown key 'apx'"),
    ("wrong type", "seed: 1", "seed: abc", 2, "seed", "valid integer"),
    ("wrong type bool", "    cpu: {ap: true,", "    cpu: {ap: maybe,", LINES["guest0.cpu"], "guests[0].cpu.ap", "valid boolean"),
    ("wrong container", "  usage_domains: [4, 0x47, 0xab, 0xff]", "  usage_domains: 4", LINES["usage_domains"],
     "lpar.usage_domains", "valid list"),
    ("unknown action", "do: sclp.configure_ap", "do: sclp.configure", 39, "timeline[1].do",
     "unknown action 'sclp.configure'; did you mean sclp.configure_ap?"),
    ("missing action", "{at: 10ms, do: se.configure_off, ", "{at: 10ms, ", LINES["timeline[0]"], "timeline[0]", "needs do:"),
    ("id out of range", "assign_domain: [4, 0xab]", "assign_domain: [4, 0x1ab]", LINES["mdev0.assign_domain"],
     "mdevs[0].assign_domain[1]", "id 427 (0x1ab) is out of range 0..255"),
    ("id above machine max", "  max_domain_id: 255\n", "  max_domain_id: 0xaa\n", LINES["usage_domains"],
     "lpar.usage_domains[2]", "above the machine's max_domain_id 170"),
    ("bad UUID", "  - uuid: " + UUID1, "  - uuid: 62177883-f1bb-47f0-914d", LINES["mdev0.uuid"], "mdevs[0].uuid",
     "is not a UUID"),
    ("unknown guest", "guest: guest1, op", "guest: guest9, op", LINES["timeline[4]"], "timeline[4].guest",
     "no guest named 'guest9'"),
    ("unknown mdev", "    mdev: " + UUID1, "    mdev: " + UUID1[:-1] + "0", LINES["guest0.mdev"], "guests[0].mdev",
     "no mdev"),
    ("negative time", "at: 10ms", "at: -10ms", LINES["timeline[0]"], "timeline[0].at", "negative duration"),
    ("negative start", "    start: 5ms", "    start: -5ms", LINES["guest2.start"], "guests[2].start", "negative"),
    ("time needs unit", "    start: 5ms", "    start: 5", LINES["guest2.start"], "guests[2].start", "needs a unit"),
    ("unquoted APQN", 'apqn: "06.0047"', "apqn: 06.0047", LINES["timeline[4]"], "timeline[4].apqn", "in quotes"),
    ("errno name", "expect_errno: EADDRINUSE", "expect_errno: EADDRINUSED", LINES["timeline[2]"],
     "timeline[2].expect_errno", "unknown errno name 'EADDRINUSED'"),
    ("operand of other op", "op: TAPQ,", "op: TAPQ, isc: 3,", LINES["timeline[4]"], "timeline[4]", "applies only to AQIC"),
    ("enum", "model: z15", "model: z12", 5, "machine.model", "'z13', 'z14'"),
    ("card type", "type: CEX5, mode: cca", "type: CEX9, mode: cca", LINES["adapters[0]"], "machine.adapters[0].type",
     "unknown adapter type 'CEX9'"),
    ("missing key", "duration: 100ms\n", "", 1, "duration", "required key 'duration' is missing"),
]


@pytest.mark.parametrize("name, old, new, line, key, rule", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_located_message(name, old, new, line, key, rule):
    """The message is `file:line: key: rule` with the line of the offending key."""
    assert old in THREE_GUESTS, name
    e = err(THREE_GUESTS.replace(old, new, 1))
    text = str(e)
    assert e.file == "s.yaml" and e.line == line, text
    assert text.startswith(f"s.yaml:{line}: "), text
    if key is not None:
        assert e.key == key, text
        assert text.startswith(f"s.yaml:{line}: {key}: "), text
    assert rule in text, text
    assert "\n" not in text, "one line per error"
    assert "pydantic" not in text and "errors.pydantic.dev" not in text and "Value error," not in text


def test_more_errors_are_counted():
    """Only the first error is shown, with how many more there are."""
    text = THREE_GUESTS.replace("seed: 1", "seed: abc").replace("  model: z15", "  model: z99")
    e = err(text)
    assert e.line == 2 and "(and 1 more error; fix this one first)" in str(e)


def test_missing_file(tmp_path):
    """A missing file is named, without a line."""
    with pytest.raises(ScenarioError) as ei:
        load_scenario(tmp_path / "nope.yaml")
    assert str(ei.value) == f"{tmp_path / 'nope.yaml'}: no such file"


def test_directory_and_binary_files(tmp_path):
    """A directory or a non-UTF-8 file is a clear error."""
    with pytest.raises(ScenarioError, match="is a directory"):
        load_scenario(tmp_path)
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(p)


@pytest.mark.parametrize("text, rule", [("", "the file is empty"), ("# only a comment\n", "the file is empty"),
                                        ("- a\n- b\n", "not a list"), ("just text\n", "not a string")])
def test_top_level_must_be_a_mapping(text, rule):
    """An empty file or a non-mapping document is refused at line 1."""
    e = err(text)
    assert e.line == 1 and rule in str(e)


def test_yaml_1_2_keeps_on_off_as_strings():
    """YAML 1.2: an unquoted `off` stays the string "off" where a string is meant (a sysfs
    value), and means false only where a boolean is expected."""
    text = THREE_GUESTS.replace("cpu: {ap: true,", "cpu: {ap: off,").replace(
        'value: "0x47", expect_errno: EADDRINUSE', "value: off")
    sc = parse_scenario(text)
    assert sc.guests[0].cpu.ap is False
    assert sc.timeline[2].value == "off"


def test_loaded_file_records_source_and_action_lines(tmp_path):
    """load_scenario keeps the file name and each action's line for the report."""
    p = tmp_path / "three.yaml"
    p.write_text(THREE_GUESTS)
    sc = load_scenario(p)
    assert sc.source == str(p)
    assert [a.line for a in sc.timeline] == list(range(LINES["timeline[0]"], LINES["timeline[0]"] + 6))


def test_name_defaults_to_file_stem(tmp_path):
    """Without name:, the scenario is named after its file."""
    p = tmp_path / "my-scenario.yaml"
    p.write_text(THREE_GUESTS.replace("name: three-guests\n", ""))
    assert load_scenario(p).name == "my-scenario"


def test_relative_trace_path_resolves_next_to_the_file(tmp_path):
    """An open-loop trace file is read relative to the scenario file, and a missing one is located."""
    (tmp_path / "arrivals.txt").write_text("0\n10us\n20us\n")
    text = THREE_GUESTS.replace("{kind: open, rate: 20000,", "{kind: open, trace: arrivals.txt,")
    p = tmp_path / "s.yaml"
    p.write_text(text)
    sc = load_scenario(p)
    assert sc.guests[2].workload.trace_ns == [0, 10_000, 20_000]
    p.write_text(text.replace("arrivals.txt", "missing.txt"))
    with pytest.raises(ScenarioError, match=re.escape("s.yaml:36: guests[2].workload.trace: cannot read trace file")):
        load_scenario(p)


def test_error_inside_an_action_points_at_its_own_line():
    """In block style, an operand's error points at the operand's line (the union tag in
    pydantic's location is skipped)."""
    text = THREE_GUESTS + (
        "  - at: 50ms\n"
        "    do: guest.instruction\n"
        "    guest: guest2\n"
        "    op: TAPQ\n"
        "    apqn: \"05.0047\"\n"
        "    expect:\n"
        "      rc: 1\n"
        "      cc: 9\n")
    e = err(text)
    last = len(THREE_GUESTS.splitlines()) + 8
    assert (e.line, e.key) == (last, "timeline[6].expect.cc"), str(e)
    assert "less than or equal to 3 (got 9)" in str(e)


def test_error_in_a_nested_guest():
    """Deeply nested keys are located too."""
    text = THREE_GUESTS.replace(
        "    workload: {kind: closed, concurrency: 4, mix: {rsa2048: 1.0}}\n",
        "    workload: {kind: closed, concurrency: 4, mix: {rsa2048: 1.0}}\n"
        "    guests:\n"
        "      - name: inner\n"
        "        vcpus: 0\n", 1)
    e = err(text)
    assert (e.line, e.key) == (LINES["guest0.workload"] + 3, "guests[0].guests[0].vcpus"), str(e)
