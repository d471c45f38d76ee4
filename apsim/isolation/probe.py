"""The exhaustive isolation check: every guest × every APQN × every AP instruction.

At each checkpoint (after the setup, and just after each distinct time of a
timeline action) the scenario is built afresh and run to that time: the probes
change queue state (NQAP enqueues, RAPQ/ZAPQ reset), so each checkpoint gets an
untouched system, and runs are deterministic, so it is the system ``apsim run``
has at that instant. Then every running guest (nested ones included) issues each
instruction of :data:`OPS` to each APQN of the machine. An instruction *reached*
an APQN when the physical queue's ``touched`` counter moved or the answer was
anything but RC 0x01 / a program exception (for the always-intercepted AQIC only
the counter counts: see :func:`reached`).

What a guest may reach is computed from the Linux below it, with the kernel's
rule: the mdev's assignment ∩ that Linux's AP configuration (QCI) ∩ the queues
bound to vfio_ap; a nested guest also only within what its guest-1 may reach.
A reach outside that set is a violation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apsim.errors import ApsimError, ProgramException
from apsim.masks import apqn_table
from apsim.units import format_duration

__all__ = ["OPS", "Checkpoint", "Finding", "IsolationResult", "check_isolation", "candidate_apqns",
           "allowed_table", "issue_instruction", "parents_of", "reached"]

OPS = ("TAPQ", "TAPQ_T", "AQIC_ON", "AQIC_OFF", "NQAP", "DQAP", "RAPQ", "ZAPQ")
_PSMID_TAG = 0x150 << 52  # probe PSMIDs never collide with a workload's


@dataclass
class Finding:
    """One instruction that reached an APQN outside the guest's allowed set."""

    at_ns: int
    guest: str
    op: str
    apqn: int
    outcome: str


@dataclass
class Checkpoint:
    """The reach matrix at one instant."""

    at_ns: int
    label: str
    apqns: list[int]
    guests: list[str]
    reached: np.ndarray  # bool[guest, apqn]
    allowed: np.ndarray  # bool[guest, apqn]
    findings: list[Finding] = field(default_factory=list)


@dataclass
class IsolationResult:
    """Every checkpoint of a scenario; ``ok`` when no instruction reached outside."""

    scenario: Any
    checkpoints: list[Checkpoint]
    instructions: int

    @property
    def findings(self) -> list[Finding]:
        """All violations, in checkpoint order."""
        return [f for c in self.checkpoints for f in c.findings]

    @property
    def ok(self) -> bool:
        """Whether no guest reached an APQN it may not."""
        return not self.findings


def candidate_apqns(sc: Any) -> list[int]:
    """The machine's APQNs: installed adapters × every domain any LPAR or mdev names."""
    doms: set[int] = set(sc.lpar.usage_domains) | set(sc.lpar.control_domains or [])
    for o in sc.other_lpars:
        doms |= set(o.usage_domains) | set(o.control_domains or [])
    mdevs = list(sc.mdevs) + [m for r in sc.walk_guests() for m in r.spec.mdevs]
    for md in mdevs:
        doms |= set(md.assign_domain) | set(md.assign_control_domain)
    return sorted((a.id << 8) | d for a in sc.machine.adapters for d in doms if d <= sc.machine.nd)


def checkpoint_times(sc: Any) -> list[tuple[int, str]]:
    """After the setup, then just after each distinct timeline time (within the run)."""
    out = [(1, "after setup")]
    for t in sorted({a.at for a in sc.timeline}):
        at = min(t + 1, sc.duration)
        if at > out[-1][0]:
            out.append((at, f"after the actions at {format_duration(t) if t else 0}"))
    return out


def check_isolation(sc: Any, *, seed: int | None = None) -> IsolationResult:
    """Run the exhaustive check on scenario *sc* (see the module docstring)."""
    from apsim.scenario.build import build
    from apsim.scenario.run import schedule_timeline

    apqns = candidate_apqns(sc)
    checkpoints = []
    count = 0
    for at, label in checkpoint_times(sc):
        sim = build(sc, seed=sc.seed if seed is None else seed)
        schedule_timeline(sim)
        sim.env.run(until=at)
        cp, n = _probe(sim, at, label, apqns)
        checkpoints.append(cp)
        count += n
    return IsolationResult(sc, checkpoints, count)


def parents_of(sc: Any) -> dict[str, str | None]:
    """Each guest's name → the guest it runs in (None for a guest of the LPAR's host)."""
    return {r.spec.name: (r.parent.name if r.parent is not None else None) for r in sc.walk_guests()}


def allowed_table(sim: Any, name: str, parent: str | None, memo: dict[str, np.ndarray]) -> np.ndarray:
    """The 65,536-entry table of APQNs guest *name* may reach now: its mdev's assignment ∩
    the Linux below's QCI ∩ queues bound to vfio_ap (∩ the parent's table when nested)."""
    if name in memo:
        return memo[name]
    g = sim.guests[name]
    out = np.zeros(65536, dtype=bool)
    lx = sim.host if parent is None else sim.hosts.get(parent)
    if g.running and g.kvm is not None and g.kvm.mdev is not None and lx is not None and lx.vfio is not None:
        try:
            m = lx.vfio.mdev(g.kvm.mdev)
        except ApsimError:
            m = None
        if m is not None and lx.bus is not None:
            info = lx.vfio.info
            vf = np.zeros(65536, dtype=bool)
            for k, q in lx.bus.queues.items():
                if q.driver is lx.vfio.driver:
                    vf[k] = True
            out = apqn_table(m.matrix.apm & info.apm, m.matrix.aqm & info.aqm) & vf
    if parent is not None:
        out = out & allowed_table(sim, parent, parents_of(sim.scenario).get(parent), memo)
    memo[name] = out
    return out


def _probe(sim: Any, at: int, label: str, apqns: list[int]) -> tuple[Checkpoint, int]:
    parents = parents_of(sim.scenario)
    names = [n for n in parents if sim.guests[n].running and sim.guests[n].cpu is not None]
    memo: dict[str, np.ndarray] = {}
    idx = np.array(apqns, dtype=np.int64)
    allowed = np.zeros((len(names), len(apqns)), dtype=bool)
    reach = np.zeros_like(allowed)
    findings: list[Finding] = []
    psmid = 0
    count = 0
    for gi, name in enumerate(names):
        ok = allowed_table(sim, name, parents[name], memo)
        allowed[gi] = ok[idx] if len(apqns) else allowed[gi]
        cpu = sim.guests[name].cpu
        owner = sim.recorder.owner_index(name)
        for ai, apqn in enumerate(apqns):
            ad = sim.machine.adapters.get(apqn >> 8)
            phys = ad.queues.get(apqn & 0xFF) if ad is not None else None
            for op in OPS:
                before = phys.touched if phys is not None else 0
                psmid += 1
                outcome = issue_instruction(cpu, op, apqn, _PSMID_TAG | psmid, owner)
                count += 1
                after = phys.touched if phys is not None else 0
                hit = reached(op, outcome, before, after)
                if hit:
                    reach[gi, ai] = True
                    if not ok[apqn]:
                        findings.append(Finding(at, name, op, apqn, outcome))
    return Checkpoint(at, label, apqns, names, reach, allowed, findings), count


def issue_instruction(cpu: Any, op: str, apqn: int, psmid: int, owner: int) -> str:
    """Issue one of :data:`OPS` from *cpu*; the outcome as ``rcNN`` or the exception's name."""
    try:
        if op == "TAPQ":
            r = cpu.tapq(apqn)
        elif op == "TAPQ_T":
            r = cpu.tapq(apqn, t=True)
        elif op == "AQIC_ON":
            r = cpu.aqic(apqn, enable=True, isc=3, nib=0x10000 + apqn)
        elif op == "AQIC_OFF":
            r = cpu.aqic(apqn, enable=False)
        elif op == "NQAP":
            r = cpu.enqueue(apqn, psmid, "rsa2048_crt", owner=owner)
        elif op == "DQAP":
            r = cpu.dequeue(apqn)
        elif op == "RAPQ":
            r = cpu.rapq(apqn)
        else:
            r = cpu.zapq(apqn)
    except ProgramException as e:
        return type(e).__name__
    except ApsimError as e:
        return type(e).__name__
    return f"rc{r.rc:02x}"


def reached(op: str, outcome: str, touched_before: int, touched_after: int) -> bool:
    """Whether an instruction reached its queue: the physical queue counted it, or (for an
    interpreted instruction) the firmware answered anything but RC 0x01 / an exception.

    PQAP(AQIC) is always intercepted: KVM and the vfio_ap of each level answer it, and
    mainline KVM without a PQAP hook stores its RC 0x01 in GR1 bits 0-31, leaving the
    guest's own GR1 as the status word (``sie.handle_pqap``), which a guest-1's vfio_ap
    may then read as 0x00 for its nested guest. Only the physical queue tells.
    """
    if touched_after != touched_before:
        return True
    if op in ("AQIC_ON", "AQIC_OFF"):
        return False
    return outcome not in ("rc01", "ProgramException", "ValidityIntercept")
