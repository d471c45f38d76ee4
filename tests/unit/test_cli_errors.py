"""Invalid input through the command line: one clear message with file and line on stderr,
exit status 2, never a traceback."""

from __future__ import annotations

import pytest

from apsim.cli import main
from tests.unit.scenario_samples import LINES, THREE_GUESTS, UUID1

BAD = {
    "malformed YAML": ("  adapters: [5, 6]\n", "  adapters: [5, 6\n", 12, "malformed YAML"),
    "unknown key": ("  model: z15\n", "  model: z15\n  modle: z16\n", 6, "machine.modle: unknown key 'modle'"),
    "wrong type": ("seed: 1", "seed: [1]", 2, "seed: input should be a valid integer"),
    "unknown action": ("do: se.configure_off", "do: se.configure_of", LINES["timeline[0]"],
                       "timeline[0].do: unknown action 'se.configure_of'"),
    "id out of range": ("assign_adapter: [6]", "assign_adapter: [256]", 23,
                        "mdevs[2].assign_adapter[0]: id 256 (0x100) is out of range 0..255"),
    "bad UUID": ("  - uuid: " + UUID1, "  - uuid: not-a-uuid", LINES["mdev0.uuid"], "mdevs[0].uuid: 'not-a-uuid' is not a UUID"),
    "unknown guest": ("guest: guest3, expect", "guest: guest4, expect", LINES["timeline[5]"],
                      "timeline[5].guest: no guest named 'guest4'"),
    "unknown mdev": ("    mdev: " + UUID1, "    mdev: 00000000-0000-0000-0000-000000000000", LINES["guest0.mdev"],
                     "guests[0].mdev: no mdev 00000000-0000-0000-0000-000000000000"),
    "negative time": ("at: 20ms", "at: -1ms", LINES["timeline[0]"] + 1, "timeline[1].at: negative duration"),
}


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("name", list(BAD))
def test_bad_scenario_exits_2_with_located_message(name, command, tmp_path, capsys):
    """`apsim validate|run FILE` on a bad file: `apsim: error: FILE:LINE: key: rule`, exit 2."""
    old, new, line, rule = BAD[name]
    assert old in THREE_GUESTS
    p = tmp_path / "bad.yaml"
    p.write_text(THREE_GUESTS.replace(old, new, 1))
    assert main([command, str(p)]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    err = cap.err
    assert err.startswith(f"apsim: error: {p}:{line}: "), err
    assert rule in err, err
    assert err.count("\n") == 1, "one line"
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["validate", "run", "lszcrypt"])
def test_missing_file_exits_2(command, tmp_path, capsys):
    """A missing scenario file: its name and 'no such file', exit 2."""
    args = [command, str(tmp_path / "nope.yaml")] + (["--at", "1ms"] if command == "lszcrypt" else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == f"apsim: error: {tmp_path / 'nope.yaml'}: no such file\n"


@pytest.mark.parametrize("args, text", [
    (["run", "x.yaml", "--until", "5"], "is not a duration"),
    (["run", "x.yaml", "--seed", "abc"], "is not an integer"),
    (["run", "x.yaml", "--mode", "fast"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_options_exit_2(args, text, capsys):
    """Bad options are usage errors (exit 2) with argparse's message."""
    assert main(args) == 2
    assert text in capsys.readouterr().err
