"""Bounded input: each absurd scenario file is refused with one located ScenarioError,
before anything grows with it (docs/robustness.md, "Limits")."""

from __future__ import annotations

from pathlib import Path

import pytest

from apsim.cli import main
from apsim.errors import ScenarioError
from apsim.scenario import load_scenario, parse_scenario
from apsim.scenario.limits import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, check_yaml_events
from tests.unit.scenario_samples import THREE_GUESTS

BOMB = "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9 if p else ['lol'] * 9)}]\n"
               for p, c in zip(["", *"abcdefgh"], "abcdefghi"))


def refused(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(text, file="s.yaml")
    return ei.value


def test_a_yaml_alias_bomb_is_refused_at_the_alias_that_overflows_the_node_limit() -> None:
    e = refused(BOMB)
    assert e.line is not None and 2 <= e.line <= 9
    assert f"more than {MAX_NODES:,} nodes" in e.rule


def test_aliases_that_stay_small_are_still_accepted_as_data() -> None:
    check_yaml_events("a: &x [1, 2]\nb: *x\nc: *x\n", "s.yaml")  # raises nothing


@pytest.mark.parametrize("text", ["x: " + "[" * 1000 + "]" * 1000 + "\n",
                                  "x: " + "{a: " * 300 + "1" + "}" * 300 + "\n",
                                  "x: " + "[" * 200_000 + "\n"])
def test_deep_flow_nesting_is_refused_with_its_line_not_a_recursion_error(text: str) -> None:
    e = refused("seed: 1\n" + text)
    assert e.line == 2 and f"nesting deeper than {MAX_DEPTH} levels" in e.rule


def test_deep_block_nesting_is_refused_too() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5)) + "  " * (MAX_DEPTH + 5) + "v\n"
    assert "nesting deeper" in refused(text).rule


def test_brackets_inside_quoted_strings_and_comments_do_not_count_as_nesting() -> None:
    deep = "[" * (MAX_DEPTH + 1)
    check_yaml_events(f"a: '{deep}'\nb: \"{deep}\"\n# {deep}\n", "s.yaml")


def test_a_scenario_file_over_the_size_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    p = tmp_path / "big.yaml"
    p.write_text("name: big\n" + "#" * MAX_FILE_BYTES + "\n")
    with pytest.raises(ScenarioError, match="larger than 1 MiB"):
        load_scenario(p)


def test_an_endless_device_as_scenario_file_stops_at_the_size_limit() -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero on this platform")
    with pytest.raises(ScenarioError, match="larger than"):
        load_scenario("/dev/zero")


def test_a_duration_beyond_the_64_bit_nanosecond_clock_is_refused() -> None:
    e = refused(THREE_GUESTS.replace("duration: 100ms", "duration: 10000000000s"))
    assert e.key == "duration" and "2**63-1 ns" in e.rule


def test_an_open_loop_rate_above_one_arrival_per_nanosecond_is_refused() -> None:
    text = THREE_GUESTS.replace("rate: 20000", "rate: 1e308")
    assert text != THREE_GUESTS
    e = refused(text)
    assert e.key is not None and e.key.endswith("workload.rate") and "1000000000" in e.rule


def test_a_trace_file_that_never_ends_is_refused_at_its_size_limit() -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero on this platform")
    e = refused(THREE_GUESTS.replace("rate: 20000", "trace: /dev/zero"))
    assert e.key is not None and e.key.endswith("workload.trace") and "larger than 64 MiB" in e.rule


@pytest.mark.parametrize("argv, message", [
    (["--until", "0ns"], "longer than 0ns"),
    (["--until", "10000000000s"], "2**63-1 ns"),
    (["--json", "/proc/version"], "--json /proc/version"),
    (["--csv", "/etc/hostname"], "--csv /etc/hostname: not a directory"),
])
def test_bad_run_options_exit_2_before_the_run_starts(argv: list[str], message: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    if "/proc/version" in argv and not Path("/proc/version").exists():
        pytest.skip("no /proc on this platform")
    if "/etc/hostname" in argv and not Path("/etc/hostname").is_file():
        pytest.skip("no /etc/hostname on this platform")
    p = tmp_path / "s.yaml"
    p.write_text(THREE_GUESTS)
    assert main(["run", str(p), "-q", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_bomb_given_to_validate_exits_2_with_one_located_line(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "bomb.yaml"
    p.write_text(BOMB)
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"apsim: error: {p}:")
