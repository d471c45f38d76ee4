#!/usr/bin/env python3
"""Refactoring gate: every shipped scenario's JSON report stays byte-identical.

Save the reports of an untouched tree once, then compare after each change::

    .venv/bin/python benchmarks/check_reports.py --save DIR     # before
    .venv/bin/python benchmarks/check_reports.py DIR            # after: exit 1 on any change

Each scenario (``scenarios/*.yaml``) runs as ``apsim run X --json`` twice: with the
installed (compiled, when built) request path and with ``APSIM_PURE=1``. Both
forms must write the same bytes, and with a baseline they must equal the saved
report. Saving writes the compiled form's report, after checking that the pure
form agrees with it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_report(scenario: Path, out: Path, *, pure: bool) -> bytes:
    """The JSON report ``apsim run`` writes for ``scenario`` in one form."""
    env = dict(os.environ)
    env.pop("APSIM_PURE", None)
    if pure:
        env["APSIM_PURE"] = "1"
    proc = subprocess.run([sys.executable, "-m", "apsim", "run", str(scenario), "--json", str(out), "-q"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{scenario.name} ({'pure' if pure else 'installed'}): exit {proc.returncode}\n"
                         f"{proc.stderr}")
    return out.read_bytes()


def main(argv: list[str] | None = None) -> int:
    """Compare (or save) the shipped scenarios' reports; 0 when all are identical."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("baseline", type=Path, help="folder of saved reports (<scenario>.json)")
    ap.add_argument("--save", action="store_true", help="write the reports into BASELINE instead")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    scenarios = sorted((ROOT / "scenarios").glob("*.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        def one(sc: Path) -> tuple[str, bytes, bytes]:
            comp = run_report(sc, Path(tmp) / f"{sc.stem}.c.json", pure=False)
            pure = run_report(sc, Path(tmp) / f"{sc.stem}.p.json", pure=True)
            return sc.stem, comp, pure
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(one, scenarios))
    bad = 0
    if args.save:
        args.baseline.mkdir(parents=True, exist_ok=True)
    for name, comp, pure in results:
        if comp != pure:
            print(f"DIFFERS {name}: the compiled and the pure form disagree")
            bad += 1
            continue
        saved = args.baseline / f"{name}.json"
        if args.save:
            saved.write_bytes(comp)
        elif not saved.exists():
            print(f"MISSING {name}: no saved report {saved}")
            bad += 1
        elif saved.read_bytes() != comp:
            print(f"CHANGED {name}: the report differs from {saved}")
            bad += 1
    print(f"{len(results) - bad}/{len(results)} reports identical")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
