"""One machine built twice — from the engine and from its pure reference — and one
operation applied to both, returning what each side observed.

The machine: one LPAR with three CEX7 adapters of two engines each — 01 an
accelerator with FIFO arbitration (planned), 02 a CCA coprocessor with round-robin
arbitration, 03 a CCA coprocessor with FIFO simulated engine by engine
(``Adapter.use_engine_events``) — and usage/control domains 3 and 4; APQN 01.0005 is
outside its configuration. A second LPAR "m" has domain 6 on adapter 01 (online) and
02 (standby), so two LPARs share the engines. The same seed gives both sides the same service-time
streams (``ServiceSampler`` on ``Streams(seed)``, the machine's own naming).
"""

from __future__ import annotations

from typing import Any

import simpy

from apsim.engine import codes
from apsim.engine.core import Streams, new_env
from apsim.engine.instructions import Executor
from apsim.engine.reference.firmware import RefCpu, RefMachine, RefRequest
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.machine import Machine
from apsim.hw.sampler import ServiceSampler
from apsim.hw.timing import get_profile
from apsim.ids import apqn as make_apqn
from apsim.ids import format_card

CARDS = {1: (CardSpec(CardType.CEX7, Mode.ACCELERATOR, engines=2, queue_depth=3), "fifo"),
         2: (CardSpec(CardType.CEX7, Mode.CCA, engines=2, queue_depth=3), "round_robin"),
         3: (CardSpec(CardType.CEX7, Mode.CCA, engines=2, queue_depth=3), "engine_events")}
APQIS = (3, 4)
OTHER_APQI = 6
"""The usage domain of a second LPAR, "m": adapter 01 online and 02 in standby, control
domain 6 only; it shares the adapters' engines with LPAR "l"."""
APQNS = (tuple(make_apqn(a, d) for a in CARDS for d in APQIS) + (make_apqn(1, 5),)
         + (make_apqn(1, OTHER_APQI), make_apqn(2, OTHER_APQI)))
RTYPES = ("rsa2048_crt", "rsa4096_crt", "cca_low", "cca_high")
CTRL_DOMAINS = (-1, -1, -1, 3, 9)  # mostly none; in the ADM; outside it (0x42)
# Each operation as often as it appears: mostly traffic and time, now and then a disruption.
OPS = (("nqap",) * 8 + ("dqap",) * 5 + ("time",) * 3 + ("to_reply",) * 3 + ("to_edge",) * 2
       + ("aqic_plain", "aqic_pickup") * 2
       + ("configure_on", "recover") * 2
       + ("tapq", "rapq", "zapq", "aqic_off", "configure_off", "checkstop", "busy"))
PICKUP_NS = 7_000


class PickupTarget:
    """A deferrable interruption target (``pickup_ns``, ``pickup(queue)``): an interruption
    schedules one pickup ``pickup_ns`` later unless one is pending; the pickup dequeues
    every reply (until DQAP answers non-zero) and records each DQAP."""

    def __init__(self, env: simpy.Environment, apqn: int, dequeue: Any, log: list) -> None:
        self.env = env
        self.apqn = apqn
        self.pickup_ns = PICKUP_NS
        self.dequeue = dequeue
        self.log = log
        self.pending = False

    def __call__(self, queue: object) -> None:
        if self.pending:
            return
        self.pending = True
        self.env.timeout(self.pickup_ns).callbacks.append(lambda _ev: self.pickup(queue))

    def pickup(self, queue: object) -> None:
        self.pending = False
        while True:
            rc, rep = self.dequeue()
            self.log.append([self.env.now, self.apqn, rc] + _rep(rep))
            if rc:
                return


def _rep(req: Any) -> list:
    return [] if req is None else [req.psmid, req.t_start, req.t_done]


class Side:
    """One build of the machine; subclasses issue the instructions their way."""

    env: simpy.Environment
    m: Any
    lpars: dict[str, Any]
    profile: Any

    def __init__(self) -> None:
        self.irqs: list = []
        self.pickups: list = []

    def plain(self, q: Any) -> None:
        """A plain interruption target: records (time, APQN)."""
        self.irqs.append([self.env.now, q.apqn])

    def op(self, name: str, apqn: int, arg: int, psmid: int) -> Any:
        """Apply one operation; what the issuer observes."""
        m, apid = self.m, apqn >> 8
        if name == "nqap":
            rt = self.profile.request_type(RTYPES[arg % len(RTYPES)])
            length = CARDS[1][0].max_msg_size + 1 if arg == 20 else rt.msg_len
            return self.nqap(apqn, psmid, length, rt.index, CTRL_DOMAINS[arg % 5])
        if name == "dqap":
            cc, rc, sw, rep = self.dqap(apqn)
            return [cc, rc, sw] + _rep(rep)
        if name in ("tapq", "rapq", "zapq", "aqic_off"):
            return self.pqap(name, apqn)
        if name == "aqic_plain":
            return self.aqic_on(apqn, self.plain, 0x1000 + arg)
        if name == "aqic_pickup":
            tg = PickupTarget(self.env, apqn, lambda: self.dqap(apqn)[1::2], self.pickups)
            return self.aqic_on(apqn, tg, 0x2000 + arg)
        if apid not in CARDS:
            return None
        if name in ("configure_off", "configure_on"):
            return m.se_configure(self.lpar_of(apqn), [apid], name == "configure_on")
        if name in ("checkstop", "recover"):
            return m.checkstop(apid, name == "checkstop")
        if name == "busy":
            m.set_busy(apid, 1 + arg * 30_000)
            return None
        if name == "time":
            arg = 1 + arg * 150_000
        self.env.run(until=self.env.now + arg)  # "to_reply", "to_edge": run_both passes the step
        return self.env.now

    def lpar_of(self, apqn: int) -> Any:
        """The LPAR whose configuration the instruction on *apqn* is issued in."""
        return self.lpars["m" if apqn & 0xFF == OTHER_APQI else "l"]

    def add_lpars(self, m: Any) -> None:
        """LPAR "l" (all adapters online, domains 3 and 4) and LPAR "m" (see OTHER_APQI)."""
        self.lpars = {"l": m.add_lpar("l", adapters=CARDS, usage_domains=APQIS, control_domains=APQIS),
                      "m": m.add_lpar("m", adapters=[1], standby=[2], usage_domains=[OTHER_APQI],
                                      control_domains=[OTHER_APQI])}

    def observe(self) -> dict:
        """Every observable: ledger, per-queue counters, status and replies, logs, utilization."""
        now = self.env.now
        # irq_count before anything else looks at the queue: it must not lag behind a
        # planned adapter's lazily posted replies.
        queues = {f"{a}.{d}": [q.irq_count, q.status(), q.count, q.touched, q.nqap_count, q.dqap_count,
                               [_rep(self.request(r)) for r in q.replies], q.mean_occupancy(now)]
                  for a, ad in sorted(self.m.adapters.items()) for d, q in sorted(ad.queues.items())}
        return {"now": now, "ledger": self.m.ledger.summary(), "queues": queues, "irqs": list(self.irqs),
                "pickups": list(self.pickups),
                "utilization": [ad.utilization(now) for _, ad in sorted(self.m.adapters.items())]}


class EngineSide(Side):
    """The machine on the engine (apsim.hw.Machine, register-level Executor)."""

    def __init__(self, seed: int, profile: str = "default") -> None:
        super().__init__()
        self.env = env = new_env()
        self.profile = get_profile(profile)
        m = self.m = Machine(env, model="z15", seed=seed, max_domain_id=15, profile=self.profile)
        for apid, (card, arb) in CARDS.items():
            m.arbitration = "round_robin" if arb == "round_robin" else "fifo"
            ad = m.install_adapter(apid, card)
            if arb == "engine_events":
                ad.use_engine_events()
        self.add_lpars(m)

    def cpu(self, apqn: int, target: Any = None) -> Executor:
        return Executor(self.m, self.lpar_of(apqn).config, irq_target=target or self.plain)

    def nqap(self, apqn: int, psmid: int, length: int, rt: int, cd: int) -> list:
        r = self.cpu(apqn).nqap(codes.GR0_NQAP_LAST_PART | apqn, psmid, length, rt, ctrl_domain=cd,
                          t_submit=self.env.now)
        return [r.cc, r.rc, r.status]

    def dqap(self, apqn: int) -> tuple:
        r = self.cpu(apqn).dequeue(apqn)
        return r.cc, r.rc, r.status, r.reply

    def pqap(self, name: str, apqn: int) -> list:
        cpu = self.cpu(apqn)
        r = cpu.aqic(apqn, enable=False) if name == "aqic_off" else getattr(cpu, name)(apqn)
        return [r.cc, r.rc, r.status]

    def aqic_on(self, apqn: int, target: Any, nib: int) -> list:
        r = self.cpu(apqn, target).aqic(apqn, enable=True, isc=3, nib=nib)
        return [r.cc, r.rc, r.status]

    def request(self, reply: Any) -> Any:
        return reply


class ReferenceSide(Side):
    """The same machine on the pure reference (apsim.engine.reference)."""

    def __init__(self, seed: int, profile: str = "default") -> None:
        super().__init__()
        self.env = env = simpy.Environment(initial_time=0)
        self.profile = get_profile(profile)
        streams = Streams(seed)
        m = self.m = RefMachine(env, reset_ns=self.profile.reset_ns, profile=self.profile)
        for apid, (card, arb) in CARDS.items():
            sampler = ServiceSampler(card, self.profile, streams.get(f"service.{format_card(apid)}"))
            m.install_adapter(apid, card, sampler, arbitration="round_robin" if arb == "round_robin" else "fifo")
        self.add_lpars(m)

    def cpu(self, apqn: int) -> RefCpu:
        return RefCpu(self.m, self.lpar_of(apqn))

    def nqap(self, apqn: int, psmid: int, length: int, rt: int, cd: int) -> list:
        r = self.cpu(apqn).nqap(apqn, RefRequest(psmid, rt, length, t_submit=self.env.now, ctrl_domain=cd))
        return [r.cc, r.rc, r.status]

    def dqap(self, apqn: int) -> tuple:
        r = self.cpu(apqn).dqap(apqn)
        return r.cc, r.rc, r.status, r.req

    def pqap(self, name: str, apqn: int) -> list:
        cpu = self.cpu(apqn)
        r = cpu.aqic(apqn, enable=False) if name == "aqic_off" else getattr(cpu, name)(apqn)
        return [r.cc, r.rc, r.status]

    def aqic_on(self, apqn: int, target: Any, nib: int) -> list:
        r = self.cpu(apqn).aqic(apqn, enable=True, target=target, isc=3, nib=nib)
        return [r.cc, r.rc, r.status]

    def request(self, reply: Any) -> Any:
        return reply.req

    def to_reply(self, arg: int) -> int:
        """A time step near the next engine completion: with an even *arg* exactly to the
        next one of an engine-by-engine adapter (02, 03), with an odd one 1 ns after
        (arg % 4 == 1) or 1 µs before (arg % 4 == 3) the next one of any adapter; a plain
        time step if none is busy. (Never exactly to a planned FIFO adapter's, nor 1 ns
        before it, which a "time" step would turn into a tie: at that instant the engine
        shows the reply to an instruction issued at t_done, the specification does not;
        see apsim/engine/reference/adapter.py.)"""
        now = self.env.now
        ends = [j.t_start + j.service_ns for apid, ad in self.m.adapters.items() for j in ad.engines
                if j is not None and (arg % 2 or CARDS[apid][1] != "fifo")]
        if not ends:
            return 1 + arg * 150_000
        t = min(ends) + (0 if arg % 2 == 0 else 1 if arg % 4 == 1 else -1_000)
        return max(t - now, 1)

    def to_edge(self, arg: int) -> int:
        """A time step to 1 ns before, exactly to, or 1 ns after (*arg* % 3) the earliest end
        of a reset period or busy window still ahead; a plain time step if none is."""
        now = self.env.now
        ends = [t for ad in self.m.adapters.values()
                for t in [ad.busy_until] + [q.reset_until for q in ad.queues.values()] if t > now]
        if not ends:
            return 1 + arg * 150_000
        return max(min(ends) + arg % 3 - 1 - now, 1)


def run_both(ops: list, seed: int = 7, profile: str = "default") -> tuple[list, list]:
    """Apply *ops* (``(name, apqn index, argument)`` each) to both builds of the machine with
    the timing *profile* ("deterministic": every service time is its mean, so engines
    finish at the same instant); each side's trace: what every operation returned and
    every observable after it, then after a final 5 ms."""
    sides = (EngineSide(seed, profile), ReferenceSide(seed, profile))
    traces: tuple[list, list] = ([], [])
    for k, (name, i, arg) in enumerate(ops):
        apqn = APQNS[i % len(APQNS)]
        if name in ("to_reply", "to_edge"):
            arg = getattr(sides[1], name)(arg)
        for side, trace in zip(sides, traces):
            trace.append([name, apqn, side.op(name, apqn, arg, (1 << 40) + k), side.observe()])
    for side, trace in zip(sides, traces):
        side.env.run(until=side.env.now + 5_000_000)
        trace.append(side.observe())
    return traces
