"""The `apsim` command line: commands, options passed to the engine, output files and
exit status (0 ok, 1 failed expectation, 2 invalid input). The simulation engine is
replaced by a fake so these tests only exercise the command line."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import apsim.scenario
from apsim import __version__
from apsim.cli import main
from apsim.units import MS
from tests.unit.fake_run import make_run
from tests.unit.scenario_samples import THREE_GUESTS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scenario_file(tmp_path):
    p = tmp_path / "three.yaml"
    p.write_text(THREE_GUESTS)
    return p


@pytest.fixture
def engine(monkeypatch):
    """A fake apsim.scenario.run recording its calls."""
    calls: dict = {"failed": False}
    mod = types.ModuleType("apsim.scenario.run")

    def run_scenario(scenario, *, seed, until_ns, mode, progress):
        calls["run"] = dict(scenario=scenario, seed=seed, until_ns=until_ns, mode=mode, progress=progress)
        progress.update(1, 2)
        return make_run(seed=seed, failed=calls["failed"])

    def lszcrypt_at(scenario, at_ns, guest, verbose, view=None, device=None):
        calls["lszcrypt"] = (scenario.name, at_ns, guest, verbose)
        return "CARD.DOM TYPE  MODE        STATUS     REQUESTS\n06       CEX5A Accelerator online 0"

    mod.run_scenario = run_scenario
    mod.lszcrypt_at = lszcrypt_at
    monkeypatch.setitem(sys.modules, "apsim.scenario.run", mod)
    monkeypatch.setattr(apsim.scenario, "run", mod, raising=False)
    return calls


def test_help_and_version(capsys):
    """--help lists the commands and exit codes; --version prints the version."""
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for word in ("run", "validate", "schema", "lszcrypt", "demo", "exit status"):
        assert word in out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"apsim {__version__}"
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    for opt in ("--json", "--csv", "--plots", "--trace", "--seed", "--until", "--mode", "--quiet"):
        assert opt in out


def test_no_command_is_a_usage_error(capsys):
    """`apsim` alone: usage on stderr, exit 2."""
    assert main([]) == 2
    assert "a command is required" in capsys.readouterr().err


def test_validate_ok(scenario_file, capsys):
    """validate prints a one-line summary and exits 0."""
    assert main(["validate", str(scenario_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{scenario_file}: ok: scenario 'three-guests', 2 adapters, 3 mdevs, 3 guests")
    assert "6 timeline actions, duration 100ms" in out


def test_run_passes_options_to_the_engine(scenario_file, engine, capsys):
    """--seed/--until/--mode reach run_scenario; defaults come from the scenario."""
    assert main(["run", str(scenario_file)]) == 0
    call = engine["run"]
    assert call["seed"] == 1 and call["until_ns"] is None and call["mode"] == "full"
    assert call["scenario"].name == "three-guests" and not call["progress"].enabled
    out = capsys.readouterr().out
    assert "Guests" in out and "expectations: 2 passed, 0 failed" in out
    assert main(["run", str(scenario_file), "--seed", "0x10", "--until", "20ms", "--mode", "bulk", "-q"]) == 0
    call = engine["run"]
    assert (call["seed"], call["until_ns"], call["mode"]) == (16, 20 * MS, "bulk")
    assert capsys.readouterr().out == ""


def test_run_writes_every_output(scenario_file, engine, tmp_path, capsys):
    """--json, --csv, --plots and --trace all write their files."""
    rc = main(["run", str(scenario_file), "--json", str(tmp_path / "r.json"), "--csv", str(tmp_path / "csv"),
               "--plots", str(tmp_path / "png"), "--trace", str(tmp_path / "t.json")])
    assert rc == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["scenario"] == "fake-three-guests" and rep["expectations_passed"] is True
    assert (tmp_path / "csv" / "guests.csv").is_file()
    assert (tmp_path / "png" / "latency_cdf.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "t.json").read_text())["traceEvents"]
    assert "wrote" in capsys.readouterr().err


def test_run_json_is_deterministic(scenario_file, engine, tmp_path):
    """Two runs with the same seed give byte-identical JSON files."""
    for name in ("a.json", "b.json"):
        assert main(["run", str(scenario_file), "-q", "--json", str(tmp_path / name)]) == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_json_to_stdout(scenario_file, engine, capsys):
    """--json - prints the JSON report instead of the tables."""
    assert main(["run", str(scenario_file), "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == 1


def test_failed_expectation_exits_1(scenario_file, engine, capsys):
    """A failed expectation: exit 1; highlighted in the report, and on stderr when quiet."""
    engine["failed"] = True
    assert main(["run", str(scenario_file)]) == 1
    assert "Failed expectations" in capsys.readouterr().out
    assert main(["run", str(scenario_file), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "expectation failed (line 22, at 32ms, guest.instruction)" in err


def test_lszcrypt(scenario_file, engine, capsys):
    """lszcrypt --at TIME [--guest NAME] [-V] calls lszcrypt_at and prints its text."""
    assert main(["lszcrypt", str(scenario_file), "--at", "15ms", "--guest", "guest3", "-V"]) == 0
    assert engine["lszcrypt"] == ("three-guests", 15 * MS, "guest3", True)
    assert capsys.readouterr().out.endswith("online 0\n")
    assert main(["lszcrypt", str(scenario_file), "--at", "15ms"]) == 0
    assert engine["lszcrypt"][2] is None and engine["lszcrypt"][3] is False


def test_lszcrypt_bad_guest_or_time(scenario_file, engine, capsys):
    """An unknown guest or a time after the run is invalid input."""
    assert main(["lszcrypt", str(scenario_file), "--at", "15ms", "--guest", "nobody"]) == 2
    assert "no guest named 'nobody'" in capsys.readouterr().err
    assert main(["lszcrypt", str(scenario_file), "--at", "1s"]) == 2
    assert "after the end of the run" in capsys.readouterr().err
    assert main(["lszcrypt", str(scenario_file)]) == 2
    assert "--at" in capsys.readouterr().err


def test_demo_runs_the_shipped_scenario(engine, monkeypatch, tmp_path, capsys):
    """demo runs scenarios/three-guests.yaml and prints the report."""
    p = tmp_path / "three-guests.yaml"
    p.write_text(THREE_GUESTS)
    monkeypatch.setattr("apsim.cli.demo_path", lambda: p)
    assert main(["demo"]) == 0
    assert engine["run"]["scenario"].name == "three-guests"
    assert "Guests" in capsys.readouterr().out
    monkeypatch.setattr("apsim.cli.demo_path", lambda: tmp_path / "missing.yaml")
    assert main(["demo"]) == 2
    assert "demo scenario is missing" in capsys.readouterr().err


def test_demo_path_points_into_the_source_tree():
    """The demo scenario is looked up in <repo>/scenarios/."""
    from apsim.cli import demo_path

    assert demo_path() == ROOT / "scenarios" / "three-guests.yaml"


def test_output_folder_that_cannot_be_created(scenario_file, engine, tmp_path, capsys):
    """An OSError while writing outputs is invalid input (exit 2), not a traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["run", str(scenario_file), "-q", "--csv", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("apsim: error: ") and "Traceback" not in err


def test_python_dash_m_apsim():
    """`python -m apsim --help` works (the __main__ module)."""
    out = subprocess.run([sys.executable, "-m", "apsim", "--help"], capture_output=True, text=True, cwd=ROOT,
                         check=False)
    assert out.returncode == 0 and "validate" in out.stdout


def test_missing_engine_is_a_clear_error(scenario_file, monkeypatch, capsys):
    """Without the simulation engine, run says so in one line (exit 2)."""
    monkeypatch.delattr(apsim.scenario, "run", raising=False)
    monkeypatch.setitem(sys.modules, "apsim.scenario.run", None)
    assert main(["run", str(scenario_file)]) == 2
    assert "simulation engine (apsim.scenario.run) is not installed" in capsys.readouterr().err
