"""The engine's workload does what the reference says: random workloads and operation sequences
(time, start/stop, SE configure off/on, checkstop/recover, RAPQ/ZAPQ, AQIC off/on, busy windows,
the issuer's own NQAP/DQAP, target refreshes) applied to two identical machines, one driven by
the engine's :class:`~apsim.engine.workload.Workload` and one by the reference
:class:`~apsim.engine.reference.zcrypt.RefWorkload`, give the same replies, status words,
ledger, queue counters, driver state and recorder rows (every column, so every time).

This test guards the workload's inlined hot path (arrival, dispatch, NQAP and DQAP through
queue links, the pickup loop, the round-robin prefetch); it runs in whichever form this
process imports. Both workloads' interruption handlers are deferrable, so a planned adapter
folds interruption and pickup for both alike (the fold is the firmware's, tested there).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apsim.engine.core import VcpuGate, new_env
from apsim.engine.instructions import Executor
from apsim.engine.port import LparPort
from apsim.engine.recorder import COLUMNS, RequestRecorder
from apsim.engine.reference.zcrypt import RefWorkload
from apsim.engine.workload import Workload
from apsim.engine.workload_spec import WorkloadSpec
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.machine import Machine
from apsim.hw.timing import get_profile
from tests.engine import driver
from tests.engine.driver import APIDS, APQNS, RTYPES, machine_op

OPS = ("time", "time", "time", "workload_on", "workload_off", "refresh", "restart", "rescan_off",
       "rescan_on", "long_busy", "vcpu_block", "own_nqap", "rapq_all", "rapq_all") + tuple(
    o for o in driver.OPS if o not in ("time", "workload_on", "workload_off"))


class GatedPort(LparPort):
    """An LPAR port whose vCPUs can be blocked for a while, as KVM blocks a guest's for a mask
    update: NQAPs and pickups wait for the release (``ready_at``, the engine's ``vcpu_gate``)."""

    always_ready = False

    def __init__(self, machine: Machine, config: Any, poll: str) -> None:
        super().__init__(machine, config, poll=poll)
        self.vcpu_gate = VcpuGate()

    def ready_at(self, now: int) -> int:
        return max(now, self.vcpu_gate.until)


def _weight_by_adapter(apqn: int, rt: int) -> int:
    """Two weight classes: the CCA card weighs the second type more."""
    return 1 + (apqn >> 8 == 2) * (1 + rt % 3)


@st.composite
def specs(draw: Any) -> tuple[WorkloadSpec, bool]:
    """A workload spec (small depths come from the machine) and whether requests have weights."""
    kind = draw(st.sampled_from(("open", "open", "closed")))
    names = draw(st.lists(st.sampled_from(RTYPES), min_size=1, max_size=3, unique=True))
    mix = {n: float(draw(st.integers(1, 5))) for n in names}
    trace = None
    if kind == "open" and draw(st.booleans()) and draw(st.booleans()):
        # On a 100 µs grid: arrivals at one instant, and (deterministic profile) at a pickup's.
        trace = sorted(draw(st.lists(st.integers(0, 300).map(lambda x: x * 100_000), max_size=60)))
    targets: Any = "all"
    if draw(st.booleans()):
        targets = draw(st.lists(st.sampled_from(APQNS), min_size=1, max_size=4, unique=True))
    spec = WorkloadSpec(
        kind=kind, rate=float(draw(st.integers(500, 30_000))), trace=trace,
        concurrency=draw(st.integers(1, 6)), per=draw(st.sampled_from(("guest", "apqn"))),
        think_ns=draw(st.sampled_from((0, 0, 20_000, 300_000))), mix=mix, targets=targets,
        select=draw(st.sampled_from(("round_robin", "least_loaded", "random"))),
        reply=draw(st.sampled_from(("interrupt", "interrupt", "poll"))),
        length=draw(st.sampled_from((None, None, None, None, 13_000))))  # 13 000: too big (0x15)
    return spec, draw(st.booleans())


def _machine(seed: int, depth: int, profile: str):  # noqa: ANN202
    env = new_env()
    m = Machine(env, model="z15", seed=seed, max_domain_id=15, profile=get_profile(profile))
    m.install_adapter(1, CardSpec(CardType.CEX7, Mode.ACCELERATOR, engines=2, queue_depth=depth))
    # The second adapter is engine by engine: both adapter forms meet the workload.
    m.arbitration = "round_robin"
    m.install_adapter(2, CardSpec(CardType.CEX7, Mode.CCA, engines=1, queue_depth=depth))
    lp = m.add_lpar("l", adapters=APIDS, usage_domains=driver.APQIS, control_domains=driver.APQIS)
    return env, m, lp


def run(cls: type, spec: WorkloadSpec, weighted: bool, ops: list, seed: int, depth: int,
        profile: str = "default", port: str = "lpar") -> dict:
    """Build the machine, run *cls* (engine or reference workload) through *ops*, observe all."""
    env, m, lp = _machine(seed, depth, profile)
    trace: list[Any] = []
    cpu = Executor(m, lp.config, irq_target=lambda q: trace.append(["irq", env.now, q.apqn]))
    rec = RequestRecorder()
    # "lpar", "zvm" (the poll interval under z/VM), "gated" (vCPUs that can be blocked).
    p = GatedPort(m, lp.config, "lpar") if port == "gated" else LparPort(m, lp.config, poll=port)
    wl = cls(p, spec, rec, rec.owner_index("zcrypt"), m.streams.get("workload.zcrypt"),
             weight_of=_weight_by_adapter if weighted else None)
    if isinstance(wl, Workload) and seed % 2:
        wl.prefetch_min = 3  # the compiled round robin's prefetch (from 256 targets) with our four
    for n, (name, i, arg) in enumerate(ops):
        q = APQNS[i % len(APQNS)]
        out: Any = None
        if name == "time":
            env.run(until=env.now + 1 + arg * arg * 100_000)
        elif name == "workload_on":
            wl.start()
            out = list(wl.targets)
        elif name == "workload_off":
            wl.stop()
        elif name == "refresh":
            wl.refresh_targets()
            out = list(wl.targets)
        elif name == "vcpu_block":
            if isinstance(p, GatedPort):
                p.vcpu_gate.until = max(p.vcpu_gate.until, env.now + 1 + arg * 20_000)
        elif name == "restart":  # stopped for a while: a trace's arrivals meanwhile are in the past
            wl.stop()
            env.run(until=env.now + 1 + arg * 1_000_000)
            wl.start()
        elif name in ("rescan_off", "rescan_on"):  # SE configure off/on of both adapters, then the AP bus's rescan
            out = machine_op(m, lp, cpu, "configure_" + name[7:], i, arg, 0)
            out = [out, machine_op(m, lp, cpu, "configure_" + name[7:], i + 2, arg, 0)]
            wl.refresh_targets()
        elif name == "rapq_all":  # every queue reset, then time within the reset (NQAPs meet 0x02)
            out = [machine_op(m, lp, cpu, "rapq", j, arg, 0) for j in range(len(APQNS))]
            env.run(until=env.now + 1 + arg * 1_000)
        elif name == "own_nqap":  # the issuer's own NQAP outside the workload: its reply is skipped
            r = cpu.enqueue(q, (1 << 40) + n, RTYPES[arg % len(RTYPES)], owner=wl.owner)
            out = [r.cc, r.rc]
        elif name == "long_busy":  # up to 60 ms: beyond a reset wait's low-rate poll
            m.set_busy(q >> 8, 1 + arg * arg * 150_000)
        else:
            out = machine_op(m, lp, cpu, name, i, arg, (1 << 40) + n)
        trace.append([name, env.now, q, out, wl.state(), wl.in_software_queues(), m.ledger.summary(),
                      len(rec)])
    env.run(until=env.now + 100_000_000)
    # irq_count first: it must not lag behind a planned queue's lazily posted replies.
    queues = {f"{a}.{d}": [qq.irq_count, qq.status(), [r.psmid for r in qq.replies], qq.count, qq.touched,
                           qq.nqap_count, qq.dqap_count, qq.occ_area]
              for a, ad in sorted(m.adapters.items()) for d, qq in sorted(ad.queues.items())}
    cols = rec.arrays(include_warmup=True)
    tgts = {q: [t.outstanding, t.load, t.total, t.depth, len(t.held), t.idx]
            for q in APQNS if (t := wl.target(q)) is not None}
    resend = wl.backlog if isinstance(wl, RefWorkload) else wl.reset_wait
    return {"trace": trace, "ledger": m.ledger.summary(), "queues": queues, "state": wl.state(),
            "targets": [list(wl.targets), tgts], "einval": wl.einval, "rejections": wl.last_rejections,
            "foreign": [r.psmid for r in wl.foreign_replies], "resend": [resend.resent, resend.waits],
            "rows": {k: cols[k].tolist() for k in COLUMNS}, "now": env.now}


op = st.tuples(st.sampled_from(OPS), st.integers(0, 3), st.integers(0, 20)).map(list)


@settings(max_examples=600, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(specs(), st.lists(op, min_size=5, max_size=30), st.integers(0, 2**16), st.integers(1, 4),
       st.sampled_from(("default", "deterministic")), st.sampled_from(("lpar", "zvm", "gated")))
def test_engine_workload_and_reference_give_the_same_observables(spec_w, ops, seed, depth, profile, port):
    spec, weighted = spec_w
    ops = [["workload_on", 0, 0]] + ops
    ref = run(RefWorkload, spec, weighted, ops, seed, depth, profile, port)
    eng = run(Workload, spec, weighted, ops, seed, depth, profile, port)
    for key in ref:
        if key == "trace":
            for a, b in zip(ref[key], eng[key], strict=True):
                assert a == b, f"first difference after an operation: reference {a} engine {b}"
        assert ref[key] == eng[key], f"{key} differs"


def test_the_comparison_sees_completions_holds_rejections_and_drops():
    """Not vacuous: a plain sequence completes requests, fills software queues, rejects and drops."""
    spec = WorkloadSpec(kind="open", rate=40_000.0, select="least_loaded",
                        mix={"rsa2048": 1.0, "cca_low": 1.0})
    ops = [["workload_on", 0, 0], ["time", 0, 3], ["configure_off", 0, 0], ["time", 0, 3]]
    got = run(RefWorkload, spec, False, ops, 7, 1)
    assert got["state"]["completed"] > 20 and got["ledger"]["dropped"]
    assert got["state"]["rejected"] > 0 and any(t[5] > 0 for t in got["trace"] if t[0] != "irq")
    assert len(got["rows"]["t_deq"]) == got["state"]["completed"]
    assert got == run(Workload, spec, False, ops, 7, 1)


def test_a_pickup_and_an_arrival_at_the_same_nanosecond_are_ordered_as_the_engine_orders_them():
    """The same-instant rule of PickupHandler: with deterministic service times, trace arrivals fall
    on the very nanosecond of a folded pickup (t_done + irq_latency) and their order decides which
    queue gets a request first (the rows' order at one t_deq). A handler that scheduled its pickup
    when the interruption arrived would put the arrivals first."""
    svc = 630_664  # rsa2048 on the CEX7 accelerator, deterministic profile
    lat = get_profile("deterministic").irq_latency_ns
    trace = [0, 1, 2, svc + lat + 1000, 2 * (svc + lat), 2 * (svc + lat), 2 * (svc + lat) + 3000]
    spec = WorkloadSpec(kind="open", trace=trace, select="random", targets=[APQNS[0], APQNS[1]])
    ops = [["workload_on", 0, 0], ["time", 0, 3]]
    ref = run(RefWorkload, spec, False, ops, 0, 1, "deterministic")
    assert ref["state"]["completed"] == 7 and len(set(ref["rows"]["t_deq"])) < 7  # replies at one instant
    assert ref == run(Workload, spec, False, ops, 0, 1, "deterministic")
