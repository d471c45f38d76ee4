"""check-isolation's exploring part: junk writes, queue bind/unbind, writes inside a nested
guest's Linux, and every AP instruction probed after a step (not only TAPQ)."""

from __future__ import annotations

from pathlib import Path

import pytest

import apsim.kvm.sie as sie
import apsim.linux.vfio_ap.ops as ops
from apsim.cli import main
from apsim.engine.codes import FC, GR0_FC_SHIFT
from apsim.engine.instructions import Executor
from apsim.isolation.explore import _JUNK_VALUES, explore, junk_paths
from apsim.isolation.output import write_counterexample
from apsim.isolation.probe import candidate_apqns, check_isolation
from apsim.scenario import load_scenario
from apsim.scenario.actions import ACTION_MODELS
from apsim.scenario.build import build
from apsim.scenario.run import run_action, schedule_timeline

ROOT = Path(__file__).resolve().parents[3]
TWO = ROOT / "scenarios" / "two-guests.yaml"
NESTED = ROOT / "scenarios" / "nested.yaml"
WRITE = next(m for m in ACTION_MODELS if m.model_fields["do"].annotation.__args__[0] == "sysfs.write")


@pytest.fixture
def zapq_ignores_the_apcb(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fault: a guest's ZAPQ is interpreted against the LPAR, so it zeroizes any queue
    the LPAR has (TAPQ and everything else still respect the APCB)."""

    orig = sie.SieExecutor.pqap

    # Every ZAPQ a guest issues (by name or as a raw PQAP) comes through pqap.
    def pqap(self, gr0: int, gr1: int = 0, gr2: int = 0, *, problem_state: bool = False):  # noqa: ANN001, ANN202
        if (gr0 >> GR0_FC_SHIFT) & 0xFF == FC.ZAPQ:
            return Executor(self.kvm.machine, self.kvm.lpar.config).pqap(gr0, gr1, gr2, problem_state=problem_state)
        return orig(self, gr0, gr1, gr2, problem_state=problem_state)

    monkeypatch.setattr(sie.SieExecutor, "pqap", pqap)


@pytest.fixture
def queue_removal_keeps_the_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fault: a queue unbound from vfio_ap is reset but its adapter stays in the guest."""
    orig = ops.remove_queue

    def faulty(vfio, dev) -> None:  # noqa: ANN001
        m = dev.drvdata.mdev
        kept = m.shadow.apm if m is not None else None
        orig(vfio, dev)
        if m is not None and kept != m.shadow.apm:
            m.shadow.apm = kept
            ops.update_guest_apcb(vfio, m)

    monkeypatch.setattr(ops, "remove_queue", faulty)


def test_exploring_probes_every_instruction_and_its_counterexample_replays(
        zapq_ignores_the_apcb: None, tmp_path: Path) -> None:
    sc = load_scenario(TWO)
    res = explore(sc, budget=3)
    v = res.violation
    assert v is not None and v.op == "ZAPQ", "a TAPQ-only probe cannot see this fault"
    ce = write_counterexample(str(TWO), tmp_path, v.at_ns, [(v.guest, v.op, v.apqn)], v.actions)
    assert "op: ZAPQ" in ce.read_text()
    assert main(["run", str(ce), "-q"]) == 1


def test_exploring_unbinds_queues_and_finds_an_adapter_left_plugged(
        queue_removal_keeps_the_adapter: None, tmp_path: Path) -> None:
    sc = load_scenario(TWO)
    assert check_isolation(sc).ok  # nothing unbinds a queue in the scenario itself
    res = explore(sc, budget=40)
    v = res.violation
    assert v is not None, "the explorer never unbound an assigned queue"
    assert any(a["do"] == "sysfs.write" and (a["path"].endswith("vfio_ap/unbind")
                                            or a["path"].endswith("driver_override")) for a in v.actions)
    assert main(["check-isolation", str(TWO), "--budget", "40", "--out", str(tmp_path)]) == 1
    assert main(["run", str(tmp_path / "counterexample.yaml"), "-q"]) == 1


def test_junk_writes_are_refused_with_an_errno_and_change_no_guest() -> None:
    """A write to a path that does not exist is refused; garbage to a real attribute is
    refused too, or (a text that happens to be valid there, such as ``-1`` for apmask)
    leaves every guest's APCB as it was."""
    sc = load_scenario(TWO)
    sim = build(sc, seed=sc.seed)
    schedule_timeline(sim)
    sim.env.run(until=5_000_000)
    before = {n: g.kvm.config.table.copy() for n, g in sim.guests.items()}
    uuids = [m.uuid for m in sc.mdevs]
    paths = junk_paths(uuids)
    real = set(paths[:len(paths) - 7])  # junk_paths lists the 7 wrong paths last
    outcomes: dict[str, set[str]] = {"real": set(), "wrong": set()}
    for path in paths:
        for value in _JUNK_VALUES:
            entry = run_action(sim, WRITE.model_validate(
                {"at": f"{sim.env.now}ns", "do": "sysfs.write", "path": path, "value": value}))
            outcomes["real" if path in real else "wrong"].add(entry.outcome)
            if path not in real:
                assert entry.outcome != "ok", (path, value)
            for n, g in sim.guests.items():
                assert (g.kvm.config.table == before[n]).all(), f"{value!r} > {path} changed {n}'s APCB"
    assert outcomes["wrong"] <= {"ENOENT", "EACCES"} and "EINVAL" in outcomes["real"]


def test_exploring_writes_inside_a_nested_guests_linux_and_a_correct_build_passes() -> None:
    sc = load_scenario(NESTED)
    res = explore(sc, budget=12)
    assert res.violation is None
    assert res.guest_writes > 0, "no sysfs write went to guest1's own Linux"
    assert candidate_apqns(sc)


def test_an_aqic_answered_0x00_without_reaching_the_queue_is_no_reach():
    """After the host removes guest1's mdev, guest1's KVM has no PQAP hook; mainline KVM
    then leaves guest1's own GR1 as the status word, and guest1's vfio_ap reads 0x00 and
    answers its nested guest2 with 0x00. The physical queue was never touched: no reach.
    A TAPQ or NQAP answered 0x00 is a reach."""
    from apsim.isolation.probe import reached

    assert not reached("AQIC_ON", "rc00", 7, 7) and not reached("AQIC_OFF", "rc00", 7, 7)
    assert reached("AQIC_ON", "rc01", 7, 8)
    assert reached("TAPQ", "rc00", 7, 7) and reached("NQAP", "rc02", 7, 7)
    assert not reached("DQAP", "rc01", 7, 7) and not reached("ZAPQ", "ProgramException", 7, 7)
