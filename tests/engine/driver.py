"""Drive the request-path engine with one operation sequence and record every observable.

``python -m tests.engine.driver`` reads a JSON list of sequences on stdin and writes
one JSON trace per sequence on stdout, so a test can run the same sequences in the
other form (APSIM_PURE=1, or the compiled build) in a subprocess and compare.

The system: two adapters (a CEX7 accelerator with two engines, planned FIFO, and a
CEX7 CCA with one engine) and two usage domains, one LPAR, an Executor issuing
instructions directly (interruptions recorded), and the LPAR's own zcrypt running an
open-loop workload with interrupt pickups on every APQN, so the sequences' own
instructions, resets and configuration changes meet requests in flight.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from apsim.engine.core import new_env

from apsim.engine.port import LparPort
from apsim.engine.workload import Workload
from apsim.engine.workload_spec import WorkloadSpec
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.engine.instructions import Executor
from apsim.hw.machine import HardwareOpRefused, Machine
from apsim.ids import apqn as make_apqn
from apsim.engine.recorder import RequestRecorder

APIDS = (1, 2)
APQIS = (3, 4)
APQNS = tuple(make_apqn(a, d) for a in APIDS for d in APQIS)
RTYPES = ("rsa2048", "rsa4096_crt", "cca_low")
OPS = ("nqap", "dqap", "time", "rapq", "zapq", "aqic_on", "aqic_off", "configure_off",
       "configure_on", "checkstop", "recover", "busy", "workload_on", "workload_off")


def run_sequence(ops: list[list[Any]], seed: int = 7) -> dict[str, Any]:
    """Apply *ops* (``[name, apqn index, argument]`` each) and return every observable."""
    env = new_env()
    m = Machine(env, model="z15", seed=seed, max_domain_id=15)
    m.install_adapter(1, CardSpec(CardType.CEX7, Mode.ACCELERATOR, engines=2))
    m.install_adapter(2, CardSpec(CardType.CEX7, Mode.CCA, engines=1))
    lp = m.add_lpar("l", adapters=APIDS, usage_domains=APQIS, control_domains=APQIS)
    trace: list[Any] = []
    cpu = Executor(m, lp.config, irq_target=lambda q: trace.append(["irq", env.now, q.apqn]))
    rec = RequestRecorder()
    wl = Workload(LparPort(m, lp.config), WorkloadSpec(kind="open", rate=3_000.0, select="round_robin",
                                                      mix={"rsa2048": 0.7, "rsa4096_crt": 0.3}),
                  rec, rec.owner_index("zcrypt"), m.streams.get("workload.zcrypt"))
    for n, (name, i, arg) in enumerate(ops):
        q = APQNS[i % len(APQNS)]
        out: Any
        if name == "time":
            env.run(until=env.now + 1 + arg * 50_000)
            out = env.now
        elif name == "workload_on":
            wl.start()
            out = wl.targets
        elif name == "workload_off":
            wl.stop()
            out = None
        else:
            out = machine_op(m, lp, cpu, name, i, arg, (1 << 40) + n)
        trace.append([name, env.now, q, out])
    env.run(until=env.now + 5_000_000)
    queues = {f"{a}.{d}": [qq.count, qq.touched, qq.nqap_count, qq.dqap_count, qq.irq_count, qq.status(),
                           [r.psmid for r in qq.replies], round(qq.mean_occupancy(env.now), 9)]
              for a, ad in sorted(m.adapters.items()) for d, qq in sorted(ad.queues.items())}
    cols = rec.arrays()
    return {"trace": trace, "ledger": m.ledger.summary(), "queues": queues, "workload": wl.state(),
            "rows": {k: v.tolist() for k, v in sorted(cols.items())}, "now": env.now,
            "adapters": [round(ad.utilization(env.now), 9) for _, ad in sorted(m.adapters.items())]}


def machine_op(m: Machine, lp: Any, cpu: Executor, name: str, i: int, arg: int, psmid: int) -> Any:
    """Apply one of the instruction and hardware operations of :data:`OPS` (every one but time and
    the workload's) on APQN ``APQNS[i]`` (its adapter for SE, checkstop and busy) and return its outcome."""
    q = APQNS[i % len(APQNS)]
    apid = q >> 8
    try:
        if name == "nqap":
            r = cpu.enqueue(q, psmid, RTYPES[arg % len(RTYPES)])
            return [r.cc, r.rc]
        if name == "dqap":
            r = cpu.dequeue(q)
            rep = r.reply
            return [r.cc, r.rc, r.psmid] + ([rep.t_start, rep.t_done] if rep is not None else [])
        if name in ("rapq", "zapq"):
            r = getattr(cpu, name)(q)
            return [r.cc, r.rc]
        if name in ("aqic_on", "aqic_off"):
            r = cpu.aqic(q, enable=name == "aqic_on", isc=3, nib=0x1000 + 8 * i)
            return [r.cc, r.rc]
        if name in ("configure_off", "configure_on"):
            return m.se_configure(lp, [apid], name == "configure_on")
        if name in ("checkstop", "recover"):
            return m.checkstop(apid, name == "checkstop")
        if name == "busy":
            m.set_busy(apid, 1 + arg * 3_000)
            return None
    except HardwareOpRefused as e:
        return ["refused", str(e)]
    raise ValueError(f"unknown operation {name!r}")


def main() -> None:
    """JSON sequences on stdin -> JSON traces on stdout (one list)."""
    seqs = json.load(sys.stdin)
    json.dump([run_sequence(s) for s in seqs], sys.stdout, default=str)


if __name__ == "__main__":
    main()
