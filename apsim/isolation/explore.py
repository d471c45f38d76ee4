"""The exploring isolation check: random admin actions from the user's scenario (Hypothesis).

Hypothesis's stateful testing starts each example from the scenario's setup (built
afresh, the user's own timeline scheduled as in ``apsim run``, run on until the guests
started at setup have booted) and applies random
admin actions, each a real scenario timeline action run by
:func:`apsim.scenario.run.run_action`: sysfs writes to the host (assignments valid
and junk, apmask/aqmask edits, mdev create/remove), SE configure on/off, SCLP
configure/deconfigure, guest start/stop/reset, checkstop/clear, and time passing.
After every step two invariants are checked: no APQN is in the APCBs of two
running guests (a nested guest shares only with the guests above it), and every
running guest issues TAPQ to every APQN of the machine outside its allowed set
(assigned ∩ configured ∩ bound to vfio_ap): one that reaches the queue is a
violation. Hypothesis then shrinks the action list, and the
shrunk list is returned as scenario actions, so the counterexample replays with
``apsim run``.

The budget is the number of examples (each up to :data:`STEPS` actions). Examples
are derandomized, so the same scenario and budget explore the same sequences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apsim.isolation.probe import allowed_table, candidate_apqns, issue_instruction, parents_of
from apsim.scenario.actions import ACTION_MODELS
from apsim.units import US

__all__ = ["STEPS", "Violation", "explore"]

STEPS = 20
"""Admin actions per example at most."""

_MODELS = {m.model_fields["do"].annotation.__args__[0]: m for m in ACTION_MODELS}  # type: ignore[union-attr]
_MATRIX = "/sys/devices/vfio_ap/matrix"
_CREATE = f"{_MATRIX}/mdev_supported_types/vfio_ap-passthrough/create"


@dataclass
class Violation:
    """A guest reached an APQN outside its allowed set after the *actions*."""

    at_ns: int
    guest: str
    apqn: int
    rule: str
    """What broke: ``reached … outside its allowed set`` or ``also in …'s APCB``."""
    actions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ExploreResult:
    """What the exploring part did: examples and steps run, the (shrunk) violation if any."""

    examples: int = 0
    steps: int = 0
    violation: Violation | None = None


def _until_booted(sim: Any, end: int) -> None:
    """Run on until the guests running after the setup have their Linux up (apsim.guest.boot:
    QEMU's queue reset and the boot time), so each example starts from running guests."""
    env = sim.env
    while any(g.running and g.linux is None for g in sim.guests.values()) and env.peek() < end:
        env.step()


def explore(sc: Any, *, budget: int) -> ExploreResult:
    """Explore *budget* random admin sequences from *sc*; see the module docstring."""
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

    from apsim.scenario.build import build
    from apsim.scenario.run import run_action, schedule_timeline

    apqns = candidate_apqns(sc)
    adapters = sorted({q >> 8 for q in apqns}) or [0]
    domains = sorted({q & 0xFF for q in apqns}) or [0]
    uuids = [m.uuid for m in sc.mdevs] or ["00000000-0000-4000-8000-000000000000"]
    guests = [r.spec.name for r in sc.walk_guests()] or [None]
    user_times = {a.at for a in sc.timeline}
    out = ExploreResult()
    # Mostly the scenario's own ids (they make the conflicts), sometimes any id or junk.
    own = st.sampled_from(adapters + domains)
    ids = st.one_of(own, own, own, st.integers(0, 300),
                    st.sampled_from(["x", "", "0x", "-1", "18446744073709551616"]))

    class Explorer(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.sim = build(sc, seed=sc.seed)
            schedule_timeline(self.sim)
            self.sim.env.run(until=1)
            _until_booted(self.sim, sc.duration)
            self.actions: list[dict[str, Any]] = []
            out.examples += 1

        def _act(self, **d: Any) -> None:
            now = self.sim.env.now
            if now in user_times:  # keep the replay's order: after the user's actions at that time
                self.sim.env.run(until=now + 1)
                now += 1
            d["at"] = f"{now}ns"
            a = _MODELS[d["do"]].model_validate(d)
            run_action(self.sim, a)
            entry = self.sim.timeline.entries[-1]
            if d["do"] == "sysfs.write" and entry.outcome != "ok":
                d["expect_errno"] = entry.outcome  # the replay expects the same refusal
            self.actions.append(d)
            out.steps += 1

        @rule(attr=st.sampled_from(["assign_adapter", "unassign_adapter", "assign_domain",
                                    "unassign_domain", "assign_control_domain"]),
              uuid=st.sampled_from(uuids), value=ids)
        def assignment(self, attr: str, uuid: str, value: Any) -> None:
            self._act(do="sysfs.write", path=f"{_MATRIX}/{uuid}/{attr}", value=f"{value}\n")

        @rule(i=st.integers(0, len(uuids) - 1), j=st.integers(0, len(uuids) - 1),
              kind=st.sampled_from(["adapter", "domain"]), k=st.integers(0, 255))
        def take_from_other(self, i: int, j: int, kind: str, k: int) -> None:
            # The writes most likely to break isolation: an id another mdev holds.
            ids_j = getattr(sc.mdevs[j], f"assign_{kind}") if sc.mdevs else []
            if i != j and ids_j:
                self._act(do="sysfs.write", path=f"{_MATRIX}/{uuids[i]}/assign_{kind}",
                          value=f"{ids_j[k % len(ids_j)]}\n")

        @rule(mask=st.sampled_from(["apmask", "aqmask"]), sign=st.sampled_from("+-"), value=ids)
        def mask(self, mask: str, sign: str, value: Any) -> None:
            self._act(do="sysfs.write", path=f"/sys/bus/ap/{mask}", value=f"{sign}{value}\n")

        @rule(uuid=st.sampled_from(uuids), create=st.booleans())
        def mdev(self, uuid: str, create: bool) -> None:
            if create:
                self._act(do="sysfs.write", path=_CREATE, value=f"{uuid}\n")
            else:
                self._act(do="sysfs.write", path=f"{_MATRIX}/{uuid}/remove", value="1\n")

        @rule(adapter=st.sampled_from(adapters),
              op=st.sampled_from(["se.configure_on", "se.configure_off", "sclp.configure_ap",
                                  "sclp.deconfigure_ap", "fault.checkstop", "fault.clear"]))
        def hardware(self, adapter: int, op: str) -> None:
            if op.startswith("se."):
                self._act(do=op, adapters=[adapter])
            else:
                self._act(do=op, adapter=adapter)

        @rule(what=st.sampled_from(["adapters", "usage_domains", "control_domains"]), add=st.booleans(),
              adapter=st.sampled_from(adapters), domain=st.sampled_from(domains))
        def lpar_change(self, what: str, add: bool, adapter: int, domain: int) -> None:
            # The SE refuses while adapters are online: a refusal is an outcome, as in a run.
            self._act(do="se.change_lpar_crypto",
                      **{f"{'add' if add else 'remove'}_{what}": [adapter if what == "adapters" else domain]})

        @rule(guest=st.sampled_from(guests), op=st.sampled_from(["guest.start", "guest.stop", "guest.reset"]))
        def lifecycle(self, guest: str | None, op: str) -> None:
            if guest is not None:
                self._act(do=op, guest=guest)

        @rule(us=st.sampled_from([10, 100, 1_000, 20_000, 60_000]))
        def wait(self, us: int) -> None:
            until = min(self.sim.env.now + us * US, sc.duration - 1)
            if until > self.sim.env.now:
                self.sim.env.run(until=until)

        @invariant()
        def no_apqn_in_two_guests(self) -> None:
            # A nested guest shares its APQNs with the guests above it only.
            sim = self.sim
            parents = parents_of(sc)
            run = {n: sim.guests[n] for n in parents if sim.guests[n].running and sim.guests[n].kvm is not None}
            names = sorted(run)
            for i, a in enumerate(names):
                for b in names[i + 1:]:
                    if _related(a, b, parents):
                        continue
                    both = np.flatnonzero(run[a].kvm.config.table & run[b].kvm.config.table)
                    if both.size:
                        apqn = int(both[0])
                        out.violation = Violation(sim.env.now, b, apqn, f"is also in {a}'s APCB",
                                                  list(self.actions))
                        raise AssertionError(f"{a} and {b} both have {apqn:04x}")

        @invariant()
        def nothing_reaches_outside(self) -> None:
            sim = self.sim
            parents = parents_of(sc)
            memo: dict[str, np.ndarray] = {}
            for name, parent in parents.items():
                g = sim.guests[name]
                if not g.running or g.cpu is None:
                    continue
                ok = allowed_table(sim, name, parent, memo)
                owner = sim.recorder.owner_index(name)
                for apqn in apqns:
                    if ok[apqn]:
                        continue
                    ad = sim.machine.adapters.get(apqn >> 8)
                    phys = ad.queues.get(apqn & 0xFF) if ad is not None else None
                    before = phys.touched if phys is not None else 0
                    outcome = issue_instruction(g.cpu, "TAPQ", apqn, 0, owner)
                    after = phys.touched if phys is not None else 0
                    if after != before or outcome not in ("rc01", "ProgramException", "ValidityIntercept"):
                        out.violation = Violation(sim.env.now, name, apqn,
                                                  f"reached the queue ({outcome}) outside its allowed set",
                                                  list(self.actions))
                        raise AssertionError(f"{name} reached {apqn:04x} outside its allowed set")

    def _related(a: str, b: str, parents: dict[str, str | None]) -> bool:
        def up(n: str) -> set[str]:
            seen = set()
            while (n := parents.get(n)) is not None:  # type: ignore[assignment]
                seen.add(n)
            return seen
        return a in up(b) or b in up(a)

    Explorer.TestCase.settings = settings(
        max_examples=budget, stateful_step_count=STEPS, deadline=None, database=None,
        derandomize=True, print_blob=False, phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck))
    test = Explorer.TestCase("runTest")
    try:
        test.runTest()
    except AssertionError:
        pass  # out.violation holds the last (shrunk) failing sequence
    return out
