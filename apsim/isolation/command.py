"""The ``apsim check-isolation`` subcommand (registered by :mod:`apsim.cli`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from apsim.argtypes import int_in_range

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Add ``check-isolation`` to the ``apsim`` subcommands."""
    c = sub.add_parser(
        "check-isolation", help="prove APQN isolation for a scenario: every guest × APQN × AP instruction",
        description="At the setup and after each timeline action, issue every AP instruction from "
                    "every running guest (nested too) to every APQN of the machine, and check what "
                    "each guest reaches against assigned ∩ configured ∩ bound to vfio_ap. "
                    "Writes reach.csv, reach.png and, for a violation, counterexample.yaml into --out.",
        epilog="exit status: 0 no violation, 1 a violation (counterexample written), 2 invalid input")
    c.add_argument("file", metavar="SCENARIO")
    c.add_argument("--out", metavar="DIR", help="write reach.csv, reach.png and counterexample.yaml here")
    c.add_argument("--seed", type=int, help="random seed of the simulation (default: the scenario's)")
    c.add_argument("--budget", type=_budget, default=25, metavar="N",
                   help="random admin sequences the exploring part tries (default 25; 0: exhaustive part only)")
    c.set_defaults(func=_cmd)


_budget = int_in_range(0, 100_000)


def _need(module: str, what: str, needed: bool) -> None:
    """Fail before any work when an optional library *what* needs is missing."""
    import importlib.util

    from apsim.errors import ApsimError

    if needed and importlib.util.find_spec(module) is None:
        raise ApsimError(f"{what} needs {module}: pip install 'apsim[isolation]'")


def _cmd(args: argparse.Namespace) -> int:
    from rich.console import Console

    from apsim.ids import format_apqn
    from apsim.isolation.explore import explore
    from apsim.isolation.output import (exhaustive_counterexample, render_console, write_counterexample,
                                        write_csv, write_heatmap)
    from apsim.isolation.probe import check_isolation
    from apsim.report.paths import check_output_dir
    from apsim.scenario.loader import load_scenario

    sc = load_scenario(args.file)
    out = Path(args.out) if args.out else None
    _need("hypothesis", "--budget above 0", args.budget > 0)
    _need("matplotlib", "--out (reach.png)", out is not None)
    if out is not None:
        check_output_dir("--out", out)
    if args.seed is not None:
        sc = sc.model_copy(update={"seed": args.seed})
    res = check_isolation(sc)
    console = Console(highlight=False)
    render_console(res, console)
    ce = None
    written = []
    if out is not None and res.checkpoints:
        written = [write_csv(res, out), write_heatmap(res.checkpoints[-1], out)]
        ce = exhaustive_counterexample(res, args.file, out)
    ok = res.ok
    if ok and args.budget:
        ex = explore(sc, budget=args.budget)
        v = ex.violation
        console.print(f"explored {ex.examples} random admin sequences, shrinking included ({ex.steps} actions): "
                      + ("no violation" if v is None else "VIOLATION"), markup=False, soft_wrap=True)
        if v is not None:
            ok = False
            why = f"after {len(v.actions)} admin actions, {v.guest}'s APQN {format_apqn(v.apqn)} {v.rule}"
            console.print(f"VIOLATION at {v.at_ns}ns: {why}", markup=False, soft_wrap=True)
            for a in v.actions:
                console.print(f"  {a}", markup=False, soft_wrap=True)
            if out is not None:
                ce = write_counterexample(args.file, out, v.at_ns, [(v.guest, v.op, v.apqn)],
                                          v.actions, why=why + ".")
    if ce is not None:
        written.append(ce)
        print(f"apsim: isolation violated; replay with: apsim run {ce}", file=sys.stderr)
    if written:
        print(f"wrote {', '.join(map(str, written))}", file=sys.stderr)
    return 0 if ok else 1
