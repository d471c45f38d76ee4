"""apsim check-isolation: the exhaustive reach check finds a guest reaching outside its
allowed set, and its counterexample fails `apsim run` on the faulty build only."""

from __future__ import annotations

from pathlib import Path

import pytest

import apsim.kvm.sie as sie
from apsim.cli import main
from apsim.isolation import OPS, check_isolation
from apsim.isolation.probe import candidate_apqns, checkpoint_times
from apsim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[3]
TWO = ROOT / "scenarios" / "two-guests.yaml"


@pytest.fixture
def sie_against_the_lpar(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fault: SIE interprets guest AP instructions against the LPAR, not the guest's APCB."""
    init = sie.SieExecutor.__init__

    def faulty(self, kvm, *a, **k) -> None:  # noqa: ANN001
        init(self, kvm, *a, **k)
        self.config = kvm.lpar.config

    monkeypatch.setattr(sie.SieExecutor, "__init__", faulty)


def test_every_guest_reaches_exactly_its_allowed_apqns_on_the_shipped_two_guest_scenario() -> None:
    sc = load_scenario(TWO)
    res = check_isolation(sc)
    assert res.ok
    assert [c.at_ns for c in res.checkpoints] == [t for t, _ in checkpoint_times(sc)]
    cp = res.checkpoints[0]
    assert cp.guests == ["guest1", "guest2"]
    assert (cp.reached == cp.allowed).all() and cp.allowed.sum() == 6
    assert res.instructions == len(res.checkpoints) * 2 * len(candidate_apqns(sc)) * len(OPS)


def test_an_sie_that_ignores_the_apcb_is_a_violation_with_a_failing_counterexample(
        sie_against_the_lpar: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-isolation", str(TWO), "--out", str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert "VIOLATION at 1ns: guest1" in out.out
    ce = tmp_path / "counterexample.yaml"
    assert (tmp_path / "reach.csv").is_file() and (tmp_path / "reach.png").is_file() and ce.is_file()
    assert ",1,0,1\n" in (tmp_path / "reach.csv").read_text()  # reached, not allowed: a violation
    assert main(["run", str(ce), "-q"]) == 1  # the faulty build fails its expectations


def test_the_counterexample_passes_on_a_correct_build(sie_against_the_lpar: None, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    main(["check-isolation", str(TWO), "--out", str(tmp_path)])
    monkeypatch.undo()
    assert main(["run", str(tmp_path / "counterexample.yaml"), "-q"]) == 0


def test_check_isolation_exits_0_and_writes_no_counterexample_when_isolation_holds(tmp_path: Path) -> None:
    assert main(["check-isolation", str(TWO), "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "counterexample.yaml").exists()


@pytest.fixture
def no_eaddrinuse(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fault: vfio_ap lets two mdevs hold the same APQN."""
    import apsim.linux.vfio_ap.ops as ops

    monkeypatch.setattr(ops, "verify_no_sharing", lambda *a, **k: 0)


def test_exploring_finds_a_shared_apqn_and_writes_a_replayable_counterexample(
        no_eaddrinuse: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from apsim.isolation.explore import explore

    sc = load_scenario(TWO)
    assert check_isolation(sc).ok  # the setup alone shows nothing
    res = explore(sc, budget=60)
    v = res.violation
    assert v is not None and v.actions, "the explorer found no sharing"
    assert any(a["do"] == "sysfs.write" and "assign_" in a["path"] for a in v.actions)
    assert main(["check-isolation", str(TWO), "--budget", "60", "--out", str(tmp_path)]) == 1
    assert "VIOLATION" in capsys.readouterr().out
    assert main(["run", str(tmp_path / "counterexample.yaml"), "-q"]) == 1


def test_exploring_a_correct_build_finds_nothing() -> None:
    from apsim.isolation.explore import explore

    res = explore(load_scenario(TWO), budget=15)
    assert res.violation is None and res.examples >= 15 and res.steps > 0
