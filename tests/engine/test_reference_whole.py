"""The whole request path against the whole specification: the engine's workload on the
engine's firmware (apsim.hw Machine, LparPort, planned FIFO and round-robin adapters) and the
reference workload on the reference firmware (RefMachine, RefPort, engine by engine, no
folding, no settling, no queue links) give the same recorder rows, driver state, ledger and
queue counters for random workloads and operation sequences: time, workload start/stop,
target refreshes, SE configure off/on with the bus's rescan, checkstops, RAPQ of every
queue, AQIC off, busy windows.

tests/engine/test_reference_firmware.py and test_reference_zcrypt.py each hold one half
fixed to the engine; this test holds neither, so it also checks that the halves meet at the
``Port`` as the specification says. Its workloads have Poisson arrivals and random service
times: same-nanosecond ties between a folded pickup and another event, where the two forms
order events differently on purpose (apsim/engine/reference/zcrypt.py ``PickupHandler``,
apsim/engine/reference/adapter.py), are covered by those two tests' own examples.
"""

from __future__ import annotations

from typing import Any

import simpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apsim.engine.core import Streams, new_env
from apsim.engine.instructions import Executor
from apsim.engine.port import LparPort
from apsim.engine.recorder import COLUMNS, RequestRecorder
from apsim.engine.reference.firmware import RefCpu, RefMachine
from apsim.engine.reference.port import RefPort
from apsim.engine.reference.zcrypt import RefWorkload
from apsim.engine.workload import Workload
from apsim.engine.workload_spec import WorkloadSpec
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.machine import Machine
from apsim.hw.sampler import ServiceSampler
from apsim.hw.timing import get_profile
from apsim.ids import apqn as make_apqn
from apsim.ids import format_card

APIDS = (1, 2)
APQIS = (3, 4)
APQNS = tuple(make_apqn(a, d) for a in APIDS for d in APQIS)
RTYPES = ("rsa2048", "rsa4096_crt", "cca_low")  # cca_low on the accelerator: 0x16 (EINVAL)
ARBITRATION = {1: "fifo", 2: "round_robin"}
OPS = ("time",) * 8 + ("workload_on", "workload_off", "refresh", "rescan_off", "rescan_on",
                       "checkstop", "recover", "rapq_all", "aqic_off", "busy")


def _cards(depth: int) -> dict[int, CardSpec]:
    return {1: CardSpec(CardType.CEX7, Mode.ACCELERATOR, engines=2, queue_depth=depth),
            2: CardSpec(CardType.CEX7, Mode.CCA, engines=1, queue_depth=depth)}


def _weight(apqn: int, rt: int) -> int:
    """Two weight classes: the CCA card weighs the later types more."""
    return 1 + (apqn >> 8 == 2) * (1 + rt % 3)


class Stack:
    """One build of the machine with its LPAR's zcrypt; subclasses build it their way."""

    env: Any
    m: Any
    lpar: Any
    cpu: Any
    wl: Any
    rec: RequestRecorder

    def apply(self, name: str, i: int, arg: int) -> Any:
        """One operation; what the issuer observes of it."""
        apqn = APQNS[i % len(APQNS)]
        apid = apqn >> 8
        if name == "time":
            self.env.run(until=self.env.now + 1 + arg * arg * 100_000)
            return self.env.now
        if name == "workload_on":
            self.wl.start()
            return list(self.wl.targets)
        if name == "workload_off":
            self.wl.stop()
            return None
        if name == "refresh":
            self.wl.refresh_targets()
            return list(self.wl.targets)
        if name in ("rescan_off", "rescan_on"):  # SE configure of one adapter, then the bus's rescan
            out = self.m.se_configure(self.lpar, [apid], name == "rescan_on")
            self.wl.refresh_targets()
            return [list(out), list(self.wl.targets)]
        if name in ("checkstop", "recover"):
            return self.m.checkstop(apid, name == "checkstop")
        if name == "rapq_all":  # every queue reset at once; NQAPs then meet 0x02 and are resent
            return [self.cpu.rapq(q).rc for q in APQNS]
        if name == "aqic_off":
            return self.cpu.aqic(apqn, enable=False).rc
        self.m.set_busy(apid, 1 + arg * 40_000)
        return None

    def observe(self) -> dict:
        """Rows, driver state, ledger and every queue's counters (irq_count before anything
        else looks at a queue: it must not lag behind a planned queue's lazily posted replies)."""
        now = self.env.now
        # (The reference's replies are its jobs, each holding its request.)
        queues = {f"{a}.{d}": [q.irq_count, q.status(), q.count, q.touched, q.nqap_count, q.dqap_count,
                               [getattr(r, "req", r).psmid for r in q.replies], q.mean_occupancy(now)]
                  for a, ad in sorted(self.m.adapters.items()) for d, q in sorted(ad.queues.items())}
        cols = self.rec.arrays(include_warmup=True)
        return {"now": now, "state": self.wl.state(), "held": self.wl.in_software_queues(),
                "targets": list(self.wl.targets), "einval": self.wl.einval,
                "ledger": self.m.ledger.summary(), "queues": queues,
                "rows": {k: cols[k].tolist() for k in COLUMNS}}


class EngineStack(Stack):
    """The engine: apsim.hw's Machine, the LPAR's LparPort, the compiled (or pure) Workload."""

    def __init__(self, seed: int, depth: int, spec: WorkloadSpec, weighted: bool) -> None:
        self.env = new_env()
        m = self.m = Machine(self.env, model="z15", seed=seed, max_domain_id=15,
                             profile=get_profile("default"))
        for apid, card in _cards(depth).items():
            m.arbitration = ARBITRATION[apid]
            m.install_adapter(apid, card)
        self.lpar = m.add_lpar("l", adapters=APIDS, usage_domains=APQIS, control_domains=APQIS)
        self.cpu = Executor(m, self.lpar.config)
        self.rec = RequestRecorder()
        self.wl = Workload(LparPort(m, self.lpar.config), spec, self.rec, self.rec.owner_index("zcrypt"),
                           m.streams.get("workload.zcrypt"), weight_of=_weight if weighted else None)


class ReferenceStack(Stack):
    """The specification: RefMachine, RefPort, RefWorkload, on a plain SimPy environment."""

    def __init__(self, seed: int, depth: int, spec: WorkloadSpec, weighted: bool) -> None:
        self.env = simpy.Environment()
        prof = get_profile("default")
        streams = Streams(seed)  # the machine's own stream names, so the same numbers
        m = self.m = RefMachine(self.env, reset_ns=prof.reset_ns, profile=prof)
        for apid, card in _cards(depth).items():
            sampler = ServiceSampler(card, prof, streams.get(f"service.{format_card(apid)}"))
            m.install_adapter(apid, card, sampler, arbitration=ARBITRATION[apid])
        self.lpar = m.add_lpar("l", adapters=APIDS, usage_domains=APQIS, control_domains=APQIS)
        self.cpu = RefCpu(m, self.lpar)
        self.rec = RequestRecorder()
        self.wl = RefWorkload(RefPort(m, self.lpar), spec, self.rec, self.rec.owner_index("zcrypt"),
                              streams.get("workload.zcrypt"), weight_of=_weight if weighted else None)


@st.composite
def workloads(draw: Any) -> tuple[WorkloadSpec, bool]:
    """A Poisson or closed-loop workload over some or all APQNs, and whether requests weigh."""
    names = draw(st.lists(st.sampled_from(RTYPES), min_size=1, max_size=3, unique=True))
    targets: Any = "all"
    if draw(st.booleans()):
        targets = draw(st.lists(st.sampled_from(APQNS), min_size=1, max_size=4, unique=True))
    spec = WorkloadSpec(
        kind=draw(st.sampled_from(("open", "open", "closed"))), rate=float(draw(st.integers(2_000, 30_000))),
        concurrency=draw(st.integers(1, 6)), per=draw(st.sampled_from(("guest", "apqn"))),
        think_ns=draw(st.sampled_from((0, 0, 20_000))),
        mix={n: float(draw(st.integers(1, 5))) for n in names}, targets=targets,
        select=draw(st.sampled_from(("round_robin", "least_loaded", "random"))),
        reply=draw(st.sampled_from(("interrupt", "interrupt", "poll"))),
        length=draw(st.sampled_from((None, None, None, 13_000))))  # 13 000: too big (0x15)
    return spec, draw(st.booleans())


def run(stack: Stack, ops: list) -> list:
    """Apply *ops* to *stack*; what each returned and every observable after it, then at the end."""
    trace = [[name, i, arg, stack.apply(name, i, arg), stack.observe()] for name, i, arg in ops]
    stack.env.run(until=stack.env.now + 50_000_000)
    return trace + [stack.observe()]


op = st.tuples(st.sampled_from(OPS), st.integers(0, 3), st.integers(0, 12)).map(list)


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(workloads(), st.lists(op, min_size=6, max_size=30), st.integers(0, 2**16), st.integers(1, 4))
def test_the_engine_and_the_reference_give_the_same_observables_end_to_end(spec_w, ops, seed, depth):
    spec, weighted = spec_w
    ops = [["workload_on", 0, 0]] + ops
    ref = run(ReferenceStack(seed, depth, spec, weighted), ops)
    eng = run(EngineStack(seed, depth, spec, weighted), ops)
    for k, (a, b) in enumerate(zip(ref, eng, strict=True)):
        assert a == b, f"first difference at step {k} of {ops}"


def test_the_comparison_sees_completions_einval_holds_resends_and_drops():
    """Not vacuous: one plain sequence completes requests, ends some with EINVAL (cca_low on the
    accelerator), fills software queues, meets resets and drops requests."""
    spec = WorkloadSpec(kind="open", rate=40_000.0, select="round_robin", mix={"rsa2048": 3.0, "cca_low": 1.0})
    ops = [["workload_on", 0, 0], ["time", 0, 6], ["rapq_all", 0, 0], ["time", 0, 6],
           ["rescan_off", 2, 0], ["time", 0, 6], ["rescan_on", 2, 0], ["time", 0, 6]]
    ref = run(ReferenceStack(5, 1, spec, False), ops)
    end = ref[-1]
    assert end["state"]["completed"] > 50 and end["einval"] > 0 and end["ledger"]["dropped"]
    assert any(step[4]["held"] > 0 for step in ref[:-1])
    assert len(end["rows"]["t_deq"]) == end["state"]["completed"]
    assert ref == run(EngineStack(5, 1, spec, False), ops)
