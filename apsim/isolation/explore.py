"""The exploring isolation check: random admin actions from the user's scenario (Hypothesis).

Hypothesis's stateful testing starts each example from the scenario's setup (built
afresh, the user's own timeline scheduled as in ``apsim run``, run on until the guests
started at setup have booted) and applies random
admin actions, each a real scenario timeline action run by
:func:`apsim.scenario.run.run_action`: sysfs writes to the host (assignments valid
and junk, apmask/aqmask edits, mdev create/remove), SE configure on/off, SCLP
configure/deconfigure, guest start/stop/reset, checkstop/clear, injected faults
(``fault.inject`` of every kind on the scenario's APQNs), and time passing;
junk sysfs writes (garbage values to real attributes, writes to paths that do not
exist); queues unbound from and bound to vfio_ap and the default driver (and
``driver_override`` where the kernel has it, ≥ 6.19); and, where the scenario has
nested guests, the same writes inside each guest's own Linux (``guest:``).
After every step two invariants are checked: no APQN is in the APCBs of two
running guests (a nested guest shares only with the guests above it), and every
running guest issues AP instructions to every APQN of the machine outside its
allowed set (assigned ∩ configured ∩ bound to vfio_ap): one that reaches the queue
is a violation. TAPQ goes to every such APQN after every step; the other
instructions of the exhaustive part (:data:`~apsim.isolation.probe.OPS`) go to
them whenever the guest's APCB or allowed set changed since its last full probe
(and at the first step), which keeps a step's cost near one TAPQ per APQN.
Hypothesis then shrinks the action list, and the shrunk list is returned as
scenario actions, so the counterexample replays with ``apsim run``.

The budget is the number of examples (each up to :data:`STEPS` actions). Examples
are derandomized, so the same scenario and budget explore the same sequences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apsim.hw.faults import INSTRUCTIONS
from apsim.ids import format_apqn
from apsim.isolation.probe import OPS, allowed_table, candidate_apqns, issue_instruction, parents_of, reached
from apsim.scenario.actions import ACTION_MODELS
from apsim.units import US

__all__ = ["STEPS", "Violation", "explore"]

STEPS = 20
"""Admin actions per example at most."""
_PSMID_TAG = 0x151 << 52  # the explorer's probe PSMIDs never collide with a workload's

_MODELS = {m.model_fields["do"].annotation.__args__[0]: m for m in ACTION_MODELS}  # type: ignore[union-attr]
_MATRIX = "/sys/devices/vfio_ap/matrix"
_CREATE = f"{_MATRIX}/mdev_supported_types/vfio_ap-passthrough/create"
_DRIVERS = "/sys/bus/ap/drivers"
_JUNK_VALUES = ("", "\n", "x", "0x", "-1", "+", "1,2", "0xZZ", "18446744073709551616", "+5-3",
                "garbage\n", "0x" + "f" * 70, "1 2", "00000000-0000-0000-0000-00000000000g")
"""Values no attribute accepts as meant (each refused with its errno, or an empty write)."""
_MDEV_ATTRS = ("assign_adapter", "unassign_adapter", "assign_domain", "unassign_domain",
               "assign_control_domain", "unassign_control_domain", "ap_config", "remove")


def junk_paths(uuids: list[str]) -> list[str]:
    """Real writable attributes (for junk values) and paths that do not exist."""
    real = [f"{_MATRIX}/{u}/{a}" for u in uuids[:2] for a in _MDEV_ATTRS]
    real += ["/sys/bus/ap/apmask", "/sys/bus/ap/aqmask", _CREATE, f"{_DRIVERS}/vfio_ap/bind",
             f"{_DRIVERS}/vfio_ap/unbind", f"{_DRIVERS}/cex4queue/bind", f"{_DRIVERS}/cex4queue/unbind"]
    wrong = [f"{_MATRIX}/{uuids[0]}/assign_adapters", f"{_MATRIX}/{uuids[0]}/matrix/assign_adapter",
             f"{_MATRIX}/ffffffff-ffff-4fff-bfff-ffffffffffff/assign_adapter", f"{_MATRIX}/assign_domain",
             "/sys/bus/ap/apmask_", "/sys/bus/ap/drivers/vfio_ap/remove", "/sys/devices/vfio_ap/create"]
    return real + wrong


@dataclass
class Violation:
    """A guest reached an APQN outside its allowed set after the *actions*."""

    at_ns: int
    guest: str
    apqn: int
    rule: str
    """What broke: ``reached … outside its allowed set`` or ``also in …'s APCB``."""
    actions: list[dict[str, Any]] = field(default_factory=list)
    op: str = "TAPQ"
    """The instruction that reached (one of :data:`~apsim.isolation.probe.OPS`)."""


@dataclass
class ExploreResult:
    """What the exploring part did: examples and steps run, the (shrunk) violation if any."""

    examples: int = 0
    steps: int = 0
    guest_writes: int = 0
    """Sysfs writes that went to a guest's own Linux (scenarios with nested guests)."""
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
    # The Linuxes an admin writes to: the host's (None) and each guest's that runs vfio_ap.
    levels: dict[str | None, list[str]] = {None: uuids}
    for r in sc.walk_guests():
        if r.spec.host is not None or r.spec.mdevs or r.spec.guests:
            levels[r.spec.name] = [m.uuid for m in r.spec.mdevs] or uuids
    level_names = sorted(levels, key=lambda n: (n is not None, n or ""))
    queue_names = [f"{q >> 8:02x}.{q & 0xFF:04x}" for q in apqns] or ["00.0000"]
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
            self.probed: dict[str, Any] = {}  # guest -> what its last full probe saw (see module doc)
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

        @rule(kind=st.sampled_from(["response", "busy", "sclp", "nib_pin", "gisc", "chsc_delay"]),
              apqn=st.sampled_from(apqns or [-1]), op=st.sampled_from(INSTRUCTIONS),
              rc=st.sampled_from([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x10, 0x99]),
              us=st.sampled_from([100, 1_000, 20_000]))
        def fault(self, kind: str, apqn: int, op: str, rc: int, us: int) -> None:
            # Faults change what an allowed queue answers, never which queues a guest reaches.
            d: dict[str, Any] = {"do": "fault.inject", "kind": kind, "duration": f"{us}us"}
            if kind in ("response", "busy", "sclp") and apqn < 0:
                return
            if kind == "response":
                d.update(apqns=[format_apqn(apqn)], instructions=[op], rc=rc)
            elif kind == "busy":
                d.update(apqns=[format_apqn(apqn)])
            elif kind == "sclp":
                d.update(adapters=[apqn >> 8], response=0x05F0)
            elif kind == "chsc_delay":
                d.update(delay=f"{us}us")
            self._act(**d)

        def _write(self, level: str | None, path: str, value: str) -> None:
            d: dict[str, Any] = {"do": "sysfs.write", "path": path, "value": value}
            if level is not None:
                d["guest"] = level
                out.guest_writes += 1
            self._act(**d)

        @rule(level=st.sampled_from(level_names), data=st.data(), value=st.sampled_from(_JUNK_VALUES))
        def junk_write(self, level: str | None, data: Any, value: str) -> None:
            path = data.draw(st.sampled_from(junk_paths(levels[level])), label="path")
            self._write(level, path, value)

        @rule(level=st.sampled_from(level_names), queue=st.sampled_from(queue_names),
              how=st.sampled_from(["vfio_ap/unbind", "vfio_ap/bind", "cex4queue/unbind", "cex4queue/bind",
                                   "override:vfio_ap", "override:cex4queue", "override:"]))
        def queue_binding(self, level: str | None, queue: str, how: str) -> None:
            # Queues of assigned APQNs leave and join vfio_ap. driver_override exists from 6.19
            # only: on an older kernel the rule does nothing (junk_write covers missing paths).
            if how.startswith("override:"):
                lx = self.sim.host if level is None else self.sim.hosts.get(level)
                if lx is None or not lx.kernel.driver_override:
                    return
                self._write(level, f"/sys/bus/ap/devices/{queue}/driver_override", how[9:] + "\n")
            else:
                self._write(level, f"{_DRIVERS}/{how}", f"{queue}\n")

        @rule(level=st.sampled_from(level_names), attr=st.sampled_from(["assign_adapter", "unassign_adapter",
                                                                       "assign_domain", "unassign_domain"]),
              i=st.integers(0, 255), value=ids)
        def level_assignment(self, level: str | None, attr: str, i: int, value: Any) -> None:
            # Assignments at every Linux that runs vfio_ap (the host's rule above covers the host's).
            if level is not None:
                own = levels[level]
                self._write(level, f"{_MATRIX}/{own[i % len(own)]}/{attr}", f"{value}\n")

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
                outside = [q for q in apqns if not ok[q]]
                seen = (id(g.kvm), g.kvm.config.generation if g.kvm is not None else -1, g.kvm and g.kvm.mdev,
                        ok[outside].tobytes() if outside else b"", tuple(outside))
                ops = ("TAPQ",) if self.probed.get(name) == seen else OPS
                self.probed[name] = seen
                for apqn in outside:
                    ad = sim.machine.adapters.get(apqn >> 8)
                    phys = ad.queues.get(apqn & 0xFF) if ad is not None else None
                    for op in ops:
                        before = phys.touched if phys is not None else 0
                        outcome = issue_instruction(g.cpu, op, apqn, _PSMID_TAG | out.steps, owner)
                        after = phys.touched if phys is not None else 0
                        if reached(op, outcome, before, after):
                            out.violation = Violation(sim.env.now, name, apqn,
                                                      f"reached the queue with {op} ({outcome}) outside its "
                                                      f"allowed set", list(self.actions), op)
                            raise AssertionError(f"{name} {op} reached {apqn:04x} outside its allowed set")

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
