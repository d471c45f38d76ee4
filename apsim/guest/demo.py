"""A short driver that exercises one adapter and prints a table.

Run with ``python -m apsim.guest.demo``: a CEX8C with four domains under a closed-loop
load; the table shows requests, throughput and latency percentiles per APQN.
"""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table

from apsim.engine.core import new_env
from apsim.engine.port import LparPort
from apsim.engine.workload import Workload
from apsim.engine.workload_spec import WorkloadSpec
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.machine import Machine
from apsim.ids import format_apqn
from apsim.engine.recorder import RequestRecorder
from apsim.units import MS


def main(duration_ns: int = 200 * MS, seed: int = 1) -> None:
    """Run the driver and print the per-APQN table."""
    env = new_env()
    m = Machine(env, model="z16", seed=seed, max_domain_id=255)
    m.install_adapter(5, CardSpec(CardType.CEX8, Mode.CCA))
    domains = [4, 0x47, 0xAB, 0xFF]
    lp = m.add_lpar("lpar1", adapters=[5], usage_domains=domains, control_domains=domains)
    port = LparPort(m, lp.config)
    rec = RequestRecorder()
    wl = Workload(port, WorkloadSpec(kind="closed", concurrency=4, per="apqn",
                                     mix={"rsa2048": 0.7, "cca_low": 0.3}),
                  rec, rec.owner_index("host"), m.streams.get("workload.host"))
    wl.start()
    env.run(until=duration_ns)
    cols = rec.arrays()
    lat = (cols["t_deq"] - cols["t_submit"]) / 1000.0
    t = Table(title=f"apsim: one CEX8C, 4 domains, {duration_ns / MS:.0f} ms simulated")
    for h in ("APQN", "requests", "throughput/s", "p50 µs", "p90 µs", "p99 µs", "mean µs"):
        t.add_column(h, justify="right")
    for q in sorted(set(cols["apqn"].tolist())):
        sel = lat[cols["apqn"] == q]
        t.add_row(format_apqn(q), str(sel.size), f"{sel.size / (duration_ns / 1e9):,.0f}",
                  *(f"{np.percentile(sel, p):,.1f}" for p in (50, 90, 99)), f"{sel.mean():,.1f}")
    console = Console()
    console.print(t)
    led = m.ledger.summary()
    console.print(f"requests: {led}  adapter utilization: {m.adapters[5].utilization(env.now):.1%}")


if __name__ == "__main__":
    main()
