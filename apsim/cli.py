"""The ``apsim`` command line (design contract 2).

Commands: ``run`` a scenario and report, ``validate`` a scenario, print the
scenario JSON ``schema``, show ``lszcrypt`` as a host or guest would print it at a
given time, and run the ``demo``. Exit status: 0 success, 1 a scenario expectation
failed, 2 invalid input (bad file, bad option) with a one-line message on stderr
and no traceback. Heavy modules (the simulation layers, matplotlib) are imported
only by the commands that need them, so ``apsim --help`` and ``apsim validate``
start fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from apsim import __version__
from apsim.argtypes import int_in_range
from apsim.errors import ApsimError, ScenarioError
from apsim.units import format_duration, parse_duration

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_EXPECTATIONS", "EXIT_INVALID", "demo_path"]

EXIT_OK = 0
EXIT_EXPECTATIONS = 1
EXIT_INVALID = 2

_EPILOG = """exit status:
  0  success
  1  the scenario ran but an expectation (expect, expect_errno, a sysfs.write that
     must succeed) failed
  2  invalid input: missing or malformed scenario file, bad option

Scenario format: docs/scenarios.md; JSON Schema: `apsim schema`."""


def demo_path() -> Path:
    """The demo scenario shipped with the source tree (``scenarios/three-guests.yaml``)."""
    return Path(__file__).resolve().parent.parent / "scenarios" / "three-guests.yaml"


# --- argument types ------------------------------------------------------------------------
def _duration(text: str) -> int:
    try:
        return parse_duration(text, allow_bare_int=False)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive_duration(text: str) -> int:
    ns = _duration(text)
    if ns <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be longer than 0ns")
    return ns


def _seed(text: str) -> int:
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= n < 1 << 63:
        raise argparse.ArgumentTypeError(f"seed {n} must be in 0..2**63-1")
    return n


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``apsim``."""
    p = argparse.ArgumentParser(
        prog="apsim", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
        description="Discrete-event simulator of the IBM Z Adjunct Processor (AP) crypto "
                    "facility, KVM and Linux vfio_ap.")
    p.add_argument("--version", action="version", version=f"apsim {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    out = argparse.ArgumentParser(add_help=False)
    g = out.add_argument_group("output")
    g.add_argument("--json", metavar="PATH", help="write the JSON report to PATH ('-' for stdout)")
    g.add_argument("--csv", metavar="DIR", help="write one CSV file per report table into DIR")
    g.add_argument("--plots", metavar="DIR", help="write PNG plots into DIR (needs matplotlib)")
    g.add_argument("--trace", metavar="FILE", help="write a Chrome/Perfetto trace of the requests")
    g.add_argument("--zcryptstats", metavar="FILE",
                   help="write per card and APQN statistics in zcryptstats' layout (docs/ecosystem.md)")
    g.add_argument("--interval", type=_positive_duration, metavar="TIME", default=10 * 10**9,
                   help="zcryptstats interval (simulated time; default 10s, as the tool's)")
    g.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="zcryptstats output format (default table)")
    g.add_argument("--metrics", metavar="FILE",
                   help="write counters and latency histograms in Prometheus text format")
    g.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar and no console report (failed expectations still go "
                        "to stderr)")
    sim = argparse.ArgumentParser(add_help=False)
    g = sim.add_argument_group("simulation")
    g.add_argument("--seed", type=_seed, help="random seed (default: the scenario's seed)")
    g.add_argument("--until", type=_positive_duration, metavar="TIME",
                   help="simulate until TIME (e.g. 20ms) instead of the scenario's duration")
    g.add_argument("--mode", choices=("full", "bulk"), help="simulation mode (default: the scenario's)")

    r = sub.add_parser("run", parents=[sim, out], help="run a scenario and report",
                       description="Run a scenario and print its report.", epilog=_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("file", metavar="FILE", help="scenario YAML file")
    r.add_argument("--strict", action="store_true",
                   help="exit 1 when a guest's load stalled (see the warning lines)")
    r.add_argument("--replications", type=_positive, metavar="N",
                   help="run N replications (seeds seed, seed+1, ...) instead of the scenario's count")
    r.set_defaults(func=_cmd_run)

    v = sub.add_parser("validate", help="check a scenario file without running it",
                       description="Check a scenario file: YAML, schema and cross-references.")
    v.add_argument("file", metavar="FILE")
    v.set_defaults(func=_cmd_validate)

    s = sub.add_parser("schema", help="print the scenario JSON Schema",
                       description="Print the JSON Schema of the scenario format "
                                   "(scenarios/schema/apsim.schema.json).")
    s.add_argument("--sweep", action="store_true",
                   help="the sweep file's schema instead (scenarios/schema/apsim-sweep.schema.json)")
    s.set_defaults(func=_cmd_schema)

    ls = sub.add_parser("lszcrypt", help="show lszcrypt of the host or a guest at a given time",
                        description="Simulate the scenario up to --at and print what lszcrypt "
                                    "shows on the host (or in --guest).")
    ls.add_argument("file", metavar="FILE")
    ls.add_argument("--at", type=_duration, required=True, metavar="TIME", help="simulated time, e.g. 15ms")
    ls.add_argument("--guest", metavar="NAME", help="list inside this guest (default: the host)")
    ls.add_argument("-V", "--verbose", action="store_true", help="lszcrypt -V (more columns)")
    views = ls.add_mutually_exclusive_group()
    views.add_argument("-b", "--bus", dest="view", action="store_const", const="bus",
                       help="lszcrypt -b: the AP bus attributes")
    views.add_argument("-c", "--capability", metavar="CARD[.DOM]",
                       help="lszcrypt -c: a card's capabilities or a queue's SE state")
    views.add_argument("-d", "--domains", dest="view", action="store_const", const="domains",
                       help="lszcrypt -d: the usage and control domains")
    views.add_argument("-s", "--serial", dest="view", action="store_const", const="serial",
                       help="lszcrypt -s: serial numbers of CCA and EP11 cards")
    ls.set_defaults(func=_cmd_lszcrypt)

    _add_sweep(sub)
    ex = sub.add_parser("export", help="write a scenario's host configuration in mdevctl, chzdev, "
                                       "libvirt, QEMU or k8s CEX plugin form",
                        description="Write the scenario's host configuration below the folder OUT, "
                                    "under the paths the real tools use (docs/ecosystem.md).")
    ex.add_argument("format", metavar="FORMAT", choices=_export_formats(),
                    help=f"one of {', '.join(_export_formats())}")
    ex.add_argument("file", metavar="SCENARIO")
    ex.add_argument("out", metavar="OUT", help="output folder (created if missing)")
    ex.set_defaults(func=_cmd_export)

    from apsim.isolation.command import add_parser as add_check_isolation

    add_check_isolation(sub)

    d = sub.add_parser("demo", parents=[sim, out], help="run the three-guest demo scenario",
                       description=f"Run {demo_path().name} (the vfio-ap documentation's "
                                   f"three-guest example) and print its report.")
    d.set_defaults(func=_cmd_demo)

    from apsim.mount.cli import add_commands as add_mount_commands

    add_mount_commands(sub, _duration)
    return p


# --- commands ------------------------------------------------------------------------------
def _cmd_validate(args: argparse.Namespace) -> int:
    from apsim.scenario.loader import load_scenario

    sc = load_scenario(args.file)
    from apsim.scenario.sysfs_paths import unknown_sysfs_paths

    unknown = unknown_sysfs_paths(sc)
    if unknown:
        i, rule = unknown[0]
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise ScenarioError(rule + more, file=args.file, line=sc.timeline[i].line, key=f"timeline[{i}].path")
    refs = list(sc.walk_guests())
    nested = sum(1 for r in refs if r.depth > 1)
    mdevs = len(sc.mdevs) + sum(len(r.spec.mdevs) for r in refs)
    print(f"{args.file}: ok: scenario {sc.name!r}, {_n(len(sc.machine.adapters), 'adapter')}, "
          f"{_n(mdevs, 'mdev')}, {_n(len(refs), 'guest')}" + (f" ({nested} nested)" if nested else "")
          + f", {_n(len(sc.timeline), 'timeline action')}, duration {format_duration(sc.duration)}")
    return EXIT_OK


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _cmd_schema(args: argparse.Namespace) -> int:
    if args.sweep:
        from apsim.experiments.spec import sweep_schema_json

        sys.stdout.write(sweep_schema_json())
        return EXIT_OK
    from apsim.scenario.schema import schema_json

    sys.stdout.write(schema_json())
    return EXIT_OK


def _cmd_lszcrypt(args: argparse.Namespace) -> int:
    from apsim.scenario.loader import load_scenario

    sc = load_scenario(args.file)
    if args.guest is not None:
        names = [r.spec.name for r in sc.walk_guests()]
        if args.guest not in names:
            raise ScenarioError(f"no guest named {args.guest!r} (guests: {', '.join(names) or 'none'})",
                                file=args.file)
    if args.at > sc.duration:
        raise ScenarioError(f"--at {format_duration(args.at)} is after the end of the run "
                            f"(duration {format_duration(sc.duration)})", file=args.file)
    lszcrypt_at = _engine("lszcrypt_at")
    view = "capability" if args.capability is not None else args.view
    text = lszcrypt_at(sc, args.at, args.guest, args.verbose, view, args.capability)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return EXIT_OK


def _export_formats() -> tuple[str, ...]:
    return ("mdevctl", "chzdev", "libvirt", "qemu", "cex-plugin")


def _cmd_export(args: argparse.Namespace) -> int:
    from apsim.scenario.exports import EXPORTERS, export
    from apsim.scenario.loader import load_scenario

    assert set(EXPORTERS) == set(_export_formats())
    sc = load_scenario(args.file)
    for path in export(args.format, sc, Path(args.out)):
        print(path)
    return EXIT_OK


def _engine(name: str) -> Any:
    """A function of :mod:`apsim.scenario.run`, imported only when a command runs a simulation."""
    try:
        from apsim.scenario import run
    except ModuleNotFoundError as e:
        if e.name != "apsim.scenario.run":
            raise
        raise ApsimError("the simulation engine (apsim.scenario.run) is not installed") from None
    return getattr(run, name)


def _cmd_demo(args: argparse.Namespace) -> int:
    path = demo_path()
    if not path.is_file():
        raise ScenarioError("the demo scenario is missing from this installation", file=str(path))
    args.file = str(path)
    return _cmd_run(args)


def _cmd_run(args: argparse.Namespace) -> int:
    from apsim.report.progress import make_progress
    from apsim.scenario.loader import load_scenario

    sc = load_scenario(args.file)
    _check_outputs(args)
    if getattr(args, "replications", None) is not None:  # run has it, demo does not
        sc = sc.model_copy(update={"replications": args.replications})
    run_scenario = _engine("run_scenario")

    seed = sc.seed if args.seed is None else args.seed
    mode = args.mode or sc.mode
    if sc.replications > 1:
        return _run_replications(sc, seed, mode, args)
    with make_progress(quiet=args.quiet) as progress:
        result = run_scenario(sc, seed=seed, until_ns=args.until, mode=mode, progress=progress)
    return _report(result, args)


def _check_outputs(args: argparse.Namespace) -> None:
    """Every output path of ``run``/``demo``, checked before the simulation starts."""
    from apsim.report.paths import check_output_dir, check_output_file

    if args.json and args.json != "-":
        check_output_file("--json", args.json)
    if args.trace:
        check_output_file("--trace", args.trace)
    for option, folder in (("--csv", args.csv), ("--plots", args.plots)):
        if folder:
            check_output_dir(option, folder)


def _run_replications(sc: Any, seed: int, mode: str, args: argparse.Namespace) -> int:
    """Run every replication (seed, seed+1, ...); report the first in full plus a summary."""
    from rich.console import Console
    from rich.table import Table

    from apsim.report.progress import make_progress

    run = _engine("run_scenario")
    seeds = _engine("replication_seeds")(seed, sc.replications)
    results = []
    for k, s in enumerate(seeds, 1):
        with make_progress(quiet=args.quiet, description=f"replication {k} of {len(seeds)}") as progress:
            results.append(run(sc, seed=s, until_ns=args.until, mode=mode, progress=progress))
    summary = _engine("summarize_replications")(results)
    first = results[0]
    first.replications = summary
    first.expectations_passed = all(r.expectations_passed for r in results)
    status = _report(first, args)
    if not args.quiet and args.json != "-":
        t = Table(title=f"Replications ({summary['count']})")
        for h in ("seed", "completed", "req/s", "mean µs", "p50 µs", "p99 µs", "dropped", "expectations"):
            t.add_column(h, justify="right")
        for row in summary["runs"]:
            t.add_row(str(row["seed"]), str(row["completed"]), f"{row['throughput_rps']:,.1f}",
                      *(f"{row[k]:,.1f}" if row[k] is not None else "-" for k in ("mean_us", "p50_us", "p99_us")),
                      str(row["dropped"]), "ok" if row["expectations_passed"] else "FAILED")
        Console(highlight=False).print(t)
        for key, v in summary["aggregate"].items():
            hw = v["ci95_half_width"]
            Console(highlight=False).print(
                f"{key}: {v['mean']:,.2f}" + (f" ± {hw:,.2f} (95% CI)" if hw is not None else ""))
    return status


def _report(result: Any, args: argparse.Namespace) -> int:
    """Write every requested output of *result*; the exit status from its expectations."""
    from rich.console import Console

    from apsim.report.console import render_report
    from apsim.report.health import stall_warnings
    from apsim.report.json_report import build_report, dumps_report, write_json

    report = build_report(result)
    err = Console(file=sys.stderr, highlight=False)
    written: list[str] = []
    to_stdout = args.json == "-"
    if args.json and not to_stdout:
        written.append(str(write_json(report, args.json)))
    if args.csv:
        from apsim.report.csv_report import write_csv

        write_csv(report, args.csv)
        written.append(f"{args.csv}/*.csv")
    if args.plots:
        from apsim.report.plots import write_plots

        write_plots(result, report, args.plots)
        written.append(f"{args.plots}/*.png")
    if args.trace:
        from apsim.report.trace import write_trace

        written.append(str(write_trace(result, args.trace)))
    if args.zcryptstats:
        from apsim.report.zcryptstats import render as zcryptstats

        Path(args.zcryptstats).write_text(zcryptstats(result, args.interval, args.format), encoding="utf-8")
        written.append(args.zcryptstats)
    if args.metrics:
        from apsim.report.cex_plugin import cex_plugin_metrics
        from apsim.report.prometheus import write_metrics

        written.append(str(write_metrics(result, args.metrics, [cex_plugin_metrics])))

    if to_stdout:
        sys.stdout.write(dumps_report(report))
    elif not args.quiet:
        render_report(report, Console(highlight=False), wide=getattr(args, "wide", False))
    if args.quiet or to_stdout:
        for e in report["expectations"]:
            if not e["passed"]:
                where = f"line {e['line']}, " if e.get("line") else ""
                err.print(f"apsim: expectation failed ({where}at {e['at']}, {e['do']}): "
                          f"expected {e['expected']!r}, got {e['actual']!r}", markup=False)
    if written and not args.quiet:
        err.print(f"wrote {', '.join(written)}", markup=False)
    bulk = getattr(result, "bulk", None)
    if bulk is not None and bulk.get("fallbacks"):
        reasons = ", ".join(f"{k} ({v}x)" for k, v in bulk["fallbacks"].items())
        how = (f"{bulk.get('bulk_requests', 0):,} requests ran in bulk; the event engine ran the rest"
               if bulk.get("bulk_requests") else "the whole run fell back to the event engine")
        err.print(f"apsim: --mode bulk: {how}, because of: {reasons}", markup=False, soft_wrap=True)
    stalls = stall_warnings(report)
    for line in stalls:
        err.print(f"apsim: warning: {line}", markup=False, soft_wrap=True)
    if not result.expectations_passed:
        return EXIT_EXPECTATIONS
    return EXIT_EXPECTATIONS if stalls and getattr(args, "strict", False) else EXIT_OK


# --- sweeps ---------------------------------------------------------------------------------
_positive = int_in_range(1, 10_000)


def _add_sweep(sub: Any) -> None:
    w = sub.add_parser("sweep", help="run a sweep (parameters x replications, or a capacity search) on Dask",
                       description="Run every point of a sweep file (docs/sweeps.md) on an embedded "
                                   "Dask LocalCluster or an existing cluster; write runs.csv, "
                                   "summary.csv, sweep.json, search.json and plots/ into --out.",
                       epilog="exit status: 0 every run succeeded, 1 some runs failed (their errors are in "
                              "runs.csv), 2 invalid sweep or point (nothing ran), 130 interrupted "
                              "(finish with --resume)")
    w.add_argument("file", metavar="SWEEP", help="sweep YAML file")
    w.add_argument("--out", required=True, metavar="DIR", help="output folder")
    where = w.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive, metavar="N",
                       help="worker processes of the embedded cluster (default: the core count)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on an existing Dask cluster, e.g. tcp://host:8786")
    w.add_argument("--resume", action="store_true", help="keep the runs already in DIR/runs.csv")
    w.add_argument("--batch", type=_positive, metavar="N", help="runs per Dask task (default: automatic)")
    w.add_argument("--no-plots", action="store_true", help="skip plots/")
    w.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary line")
    w.set_defaults(func=_cmd_sweep)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from apsim.experiments.sweep import Interrupted, run_sweep

    try:
        o = run_sweep(args.file, args.out, workers=args.workers, scheduler=args.scheduler,
                      resume=args.resume, quiet=args.quiet, batch_size=args.batch, plots=not args.no_plots)
    except Interrupted as e:
        print(f"apsim: {e}", file=sys.stderr)
        return 130
    if not args.quiet:
        print(f"{o.runs} runs ({o.failed} failed, {o.skipped} kept from an earlier runs.csv) in {o.out}")
        if o.search is not None:
            s = o.search
            print(f"search: {s['direction']} {s['parameter']} with {s['metric']} <= {s['bound']['value']:.6g}: "
                  f"{s['answer']}" + (" (the whole range meets the bound)" if s["capped_by_range"] else "")
                  + f" ({s['points_run']} points run)")
    if o.failed:
        print(f"apsim: {o.failed} of {o.runs} runs failed; their errors are in {o.out / 'runs.csv'}",
              file=sys.stderr)
    return EXIT_EXPECTATIONS if o.failed else EXIT_OK


# --- entry point ---------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Run the ``apsim`` command with *argv* (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error (argparse prints it)
        return e.code if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_INVALID)
    if getattr(args, "func", None) is None:
        parser.print_usage(sys.stderr)
        print("apsim: error: a command is required (run, validate, schema, lszcrypt, sweep, export, demo)",
              file=sys.stderr)
        return EXIT_INVALID
    try:
        return int(args.func(args))
    except ApsimError as e:  # ScenarioError, ConfigError, SysfsError, ...
        print(f"apsim: error: {e}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as e:  # e.g. an output folder that cannot be created
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"apsim: error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("apsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
