#!/usr/bin/env python3
"""Mutation check: does the property suite notice when an isolation rule is broken?

Run it from anywhere with the project's interpreter::

    .venv/bin/python tests/property/mutants.py            # every mutant, in parallel
    .venv/bin/python tests/property/mutants.py --list     # what the mutants are
    .venv/bin/python tests/property/mutants.py --only skip-vsie-and --jobs 1

For each mutant the repository (``apsim/``, ``tests/``, ``scenarios/``,
``pyproject.toml``) is copied to a scratch directory, one textual patch is applied
to one apsim source file there, and ``python -m pytest tests/property -x -q -p
no:cacheprovider`` runs in the copy with ``PYTHONPATH`` pointing at it (the script
checks that the copy's ``apsim`` is the one imported, not the editable install) and
with ``HYPOTHESIS_PROFILE=ci`` and ``APSIM_NO_SHRINK=1`` (the first failing example
is enough; shrinking it would take minutes). A mutant is *caught* when the suite fails. The
unmutated copy must pass first, and every patch must apply exactly once (a patch
that no longer matches the source is an error, never a silent "caught").

Exit status 0 only when every mutant is caught; the last line is ``N/M mutants caught``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COPY = ("apsim", "tests", "scenarios", "pyproject.toml")
TIMEOUT_S = 1800


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    patches: tuple[tuple[str, str], ...]
    why: str


MUTANTS = (
    Mutant("skip-vfio-filtering", "apsim/linux/vfio_ap/filter.py",
           (("    mdev.shadow.apm = Mask.from_ids(keep)\n    mdev.shadow.aqm = aqm\n",
             "    mdev.shadow.apm = mdev.matrix.apm\n    mdev.shadow.aqm = mdev.matrix.aqm\n"),),
           "vfio_ap gives the guest its raw assignment (no host-config / bound-queue filtering)"),
    Mutant("skip-sie-apcb-check", "apsim/kvm/sie.py",
           (("super().__init__(kvm.machine, kvm.config, irq_target=kvm.deliver_irq)",
             "super().__init__(kvm.machine, kvm.lpar.config, irq_target=kvm.deliver_irq)"),
            ("    return nqap_fast(kvm.config, apqn, req)",
             "    return nqap_fast(kvm.lpar.config, apqn, req)"),
            ("    return dqap_fast(kvm.config, apqn)", "    return dqap_fast(kvm.lpar.config, apqn)")),
           "SIE interprets guest instructions against the LPAR's configuration, not the APCB"),
    Mutant("skip-eaddrinuse", "apsim/linux/vfio_ap/ops.py",
           (("    rc = verify_no_sharing(vfio, mdev, mdev.matrix.apm, mdev.matrix.aqm)\n",
             "    rc = 0\n"),),
           "assignments may share APQNs with another mdev"),
    Mutant("skip-eaddrnotavail", "apsim/linux/vfio_ap/ops.py",
           (("    owned = vfio.bus.apqn_in_matrix_owned_by_def_drv(mdev.matrix.apm, mdev.matrix.aqm)\n",
             "    owned = None\n"),),
           "assignments may take APQNs that apmask/aqmask reserve for the host"),
    Mutant("skip-apmask-ebusy", "apsim/linux/apbus_attrs.py",
           (("                if drv.in_use(apm, aqm):\n",
             "                if False and drv.in_use(apm, aqm):\n"),),
           "apmask/aqmask may take back APQNs an mdev holds"),
    Mutant("no-reset-on-unplug-or-close", "apsim/linux/vfio_ap/reset.py",
           (("    for q in queues:\n        reset_queue(vfio, q, cause)\n",
             "    for q in queues:\n        pass\n"),),
           "hot unplug, close, remove and VFIO reset leave the queues' requests and replies in place"),
    Mutant("skip-vsie-and", "apsim/kvm/vsie.py",
           (("    shadow[cb.APCB1_OFFSET:end] = _and(data, host[cb.APCB1_OFFSET:end])\n",
             "    shadow[cb.APCB1_OFFSET:end] = data\n"),),
           "a nested guest gets the masks its guest-1 wrote, not ANDed with guest-1's own"),
    Mutant("drop-without-ledger", "apsim/engine/queue.py",
           (("                self.ledger.drop(req, cause)\n",
             "                req.state = 4  # DROPPED, unrecorded\n"),),
           "a reset/configure-off/checkstop drops requests without a ledger entry"),
    # The bugs the property tests found, put back: their regression tests must notice.
    Mutant("bug-workload-stall-loop", "apsim/engine/control.py",
           (("            while self.stalled and self._active:\n", "            while self.stalled:\n"),),
           "regression: a workload whose last queue rejects its request type loops forever"),
    Mutant("bug-own-reply-counted-foreign", "apsim/engine/workload.py",
           (("                if req.owner != self.owner:\n"
              "                    self.foreign_replies.append(req)\n",
             "                if True:\n                    self.foreign_replies.append(req)\n"),),
           "regression: a guest's own instruction reply is counted as an isolation breach"),
    # The four classes issue 20 names (the suite missed them before world_rules.py).
    Mutant("filter-ignores-vfio-binding", "apsim/linux/vfio_ap/filter.py",
           (("            if q is None or not q.passable:\n", "            if q is not None and not q.passable:\n"),),
           "filtering passes an adapter whose queue is not bound to vfio_ap"),
    Mutant("aqic-hook-accepts-filtered-queue", "apsim/linux/vfio_ap/ops.py",
           (("    if vfio.kernel.fixed(\"aqic-hook-shadow\") and not ((apqn >> 8) in mdev.shadow.apm\n",
             "    if False and not ((apqn >> 8) in mdev.shadow.apm\n"),),
           "the PQAP(AQIC) hook accepts a queue linked to the mdev but filtered out of the guest's APCB"),
    Mutant("unplug-resets-kept-queues", "apsim/linux/vfio_ap/ops.py",
           (("        update_guest_apcb(vfio, mdev)\n    reset_qlist(vfio, qlist, \"hot_unplug\")\n",
             "        update_guest_apcb(vfio, mdev)\n"
             "    reset_qlist(vfio, [mdev.qtable[k] for k in sorted(mdev.qtable)] + qlist, \"hot_unplug\")\n"),),
           "a hot unplug also resets the queues the guest keeps"),
    Mutant("rc01-missing-from-ledger", "apsim/engine/firmware.py",
           (("        lpar.machine.ledger.reject(_RC_Q_NOT_AVAIL)\n", "        pass  # not counted\n"),),
           "an NQAP answered RC 0x01 is in neither side of the ledger identity"),
    # Four more, in classes the suite did not cover.
    Mutant("filter-ignores-host-config", "apsim/linux/vfio_ap/filter.py",
           (("    apm = mdev.matrix.apm & info.apm\n", "    apm = mdev.matrix.apm\n"),),
           "filtering passes assigned adapters that are not in the host's AP configuration (QCI)"),
    Mutant("unassign-adapter-no-unplug", "apsim/linux/vfio_ap/mdev.py",
           (("        ops.hot_unplug_adapters(self.vfio, self, Mask.from_ids([apid]))\n", "        pass\n"),),
           "unassigning an adapter leaves it plugged into the running guest"),
    Mutant("queue-removal-resets-whole-mdev", "apsim/linux/vfio_ap/ops.py",
           (("        reset_queues_for_apids(vfio, mdev, Mask.from_ids([q.apid]), \"queue_removed\")\n",
             "        reset_queues(vfio, mdev, \"queue_removed\")\n"),),
           "unbinding one queue from vfio_ap resets every queue of the guest"),
    Mutant("dqap-completion-not-counted", "apsim/engine/firmware.py",
           (("    q.ledger.completed += 1\n", "    pass  # not counted\n"),),
           "a reply dequeued through the fast DQAP path is missing from the ledger's completions"),
    Mutant("unbind-keeps-adapter-plugged", "apsim/linux/vfio_ap/ops.py",
           (("        mdev.shadow.apm = mdev.shadow.apm.without_id(q.apid)\n        update_guest_apcb(vfio, mdev)\n"
             "        reset_queues_for_apids(vfio, mdev, Mask.from_ids([q.apid]), \"queue_removed\")\n",
             "        reset_queues_for_apids(vfio, mdev, Mask.from_ids([q.apid]), \"queue_removed\")\n"),),
           "a queue unbound from vfio_ap stays in the guest's APCB (no unplug on queue removal)"),
    Mutant("workload-rejection-uncounted", "apsim/engine/control.py",
           (("        self.rejected += 1\n", "        pass  # not counted\n"),),
           "a workload does not count its NQAPs answered with a response code"),
    # Classes the suite did not cover before world_rules' reset, display and interruption checks.
    Mutant("guest-reset-keeps-requests", "apsim/linux/vfio_ap/matrix_dev.py",
           (("        return ops.reset_queues(self, m, \"guest_reset\")\n",
             "        return self.env.timeout(0, value=0)  # no queue reset\n"),),
           "VFIO_DEVICE_RESET (a guest's system reset) leaves its requests and replies in the queues"),
    Mutant("guest-matrix-shows-assignment", "apsim/linux/vfio_ap/mdev.py",
           (("read=lambda: matrix_show(self.shadow))", "read=lambda: matrix_show(self.matrix))"),),
           "the mdev's guest_matrix attribute shows the raw assignment, not the APQNs the guest has"),
    Mutant("reset-keeps-interrupts", "apsim/engine/queue.py",
           (("        dropped = self.flush(cause or (\"zeroize\" if zeroize else \"reset\"))\n        self._disable_irq()\n",
             "        dropped = self.flush(cause or (\"zeroize\" if zeroize else \"reset\"))\n"),),
           "RAPQ/ZAPQ leave the queue's interruptions on, aimed at the guest that had the queue before"),
    Mutant("aqic-disable-keeps-interrupt", "apsim/engine/instructions.py",
           (("        if not q.irq:\n            return _result(RC.OTHERWISE_CHANGED, q)\n        q._disable_irq()\n",
             "        if not q.irq:\n            return _result(RC.OTHERWISE_CHANGED, q)\n"),),
           "PQAP(AQIC) with interruptions off answers RC 0x00 but leaves them on"),
    Mutant("aqic-enable-without-gisa", "apsim/linux/vfio_ap/ops.py",
           (("gisa=int(getattr(kvm, \"gisa_origin\", 0)))", "gisa=0)"),),
           "vfio_ap enables a guest's queue interruptions without its GISA: they go to the host"),
    Mutant("bug-yaml-reader-error-unlocated", "apsim/scenario/loader.py",
           (("    except ReaderError as e:\n", "    except KeyError as e:  # never a ReaderError\n"),),
           "regression: a control character in a scenario file is reported without its line"),
)


def copy_tree(dest: Path) -> None:
    # Compiled extensions would shadow the patched source: the copy is pure Python.
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", "*.egg-info", ".pytest_cache",
                                    "*.so", "*.c")
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dest / name)


def apply(dest: Path, m: Mutant) -> None:
    path = dest / m.file
    text = path.read_text(encoding="utf-8")
    for old, new in m.patches:
        n = text.count(old)
        if n != 1:
            raise RuntimeError(f"{m.name}: the patch for {m.file} matches {n} times (the source "
                               f"changed; update the mutant):\n{old}")
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")


def env_for(dest: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(dest)
    env["HYPOTHESIS_PROFILE"] = "ci"
    env["APSIM_NO_SHRINK"] = "1"  # a caught mutant needs no minimal example
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["APSIM_PURE"] = "1"  # import the patched .py files, never a compiled module
    return env


def check_import(dest: Path) -> None:
    out = subprocess.run([sys.executable, "-c", "import apsim, sys; sys.stdout.write(apsim.__file__)"],
                         cwd=dest, env=env_for(dest), capture_output=True, text=True, check=True).stdout
    if not Path(out).resolve().is_relative_to(dest.resolve()):
        raise RuntimeError(f"the scratch copy imports apsim from {out}, not from {dest}")


def run_suite(dest: Path) -> tuple[int | None, str, float]:
    t0 = time.monotonic()
    try:
        p = subprocess.run([sys.executable, "-m", "pytest", "tests/property", "-x", "-q", "-p",
                            "no:cacheprovider"], cwd=dest, env=env_for(dest), capture_output=True, text=True,
                           timeout=TIMEOUT_S)
        code, out = p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        raw = e.stdout or ""
        code, out = None, raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return code, out, time.monotonic() - t0


def first_failure(out: str) -> str:
    m = re.search(r"^(FAILED|ERROR) (\S+)", out, re.MULTILINE)
    return m.group(2) if m else "(no test named)"


def evaluate(m: Mutant | None, keep: bool) -> tuple[str, bool, str]:
    name = m.name if m else "unmutated"
    dest = Path(tempfile.mkdtemp(prefix=f"apsim-mutant-{name}-"))
    try:
        copy_tree(dest)
        if m is not None:
            apply(dest, m)
        check_import(dest)
        code, out, secs = run_suite(dest)
        if m is None:
            ok = code == 0
            detail = f"suite {'passes' if ok else 'FAILS'} ({secs:.0f}s)"
            if not ok:
                detail += "\n" + out[-3000:]
            return name, ok, detail
        if code is None:
            return name, True, f"caught: the suite timed out after {TIMEOUT_S}s ({secs:.0f}s)"
        if code == 0:
            return name, False, f"NOT caught: the suite passed ({secs:.0f}s)"
        if code not in (1,):
            return name, False, f"error: pytest exited {code}\n{out[-3000:]}"
        return name, True, f"caught by {first_failure(out)} ({secs:.0f}s)"
    except Exception as e:  # a patch that does not apply, a copy that imports the wrong apsim
        return name, False, f"error: {e}"
    finally:
        if not keep:
            shutil.rmtree(dest, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--only", action="append", default=[], metavar="NAME", help="run only these mutants")
    ap.add_argument("--jobs", type=int, default=min(len(MUTANTS), os.cpu_count() or 1))
    ap.add_argument("--keep", action="store_true", help="keep the scratch copies")
    ap.add_argument("--skip-baseline", action="store_true", help="do not run the unmutated suite first")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]
    if args.list:
        for m in MUTANTS:
            print(f"{m.name:34s} {m.file:34s} {m.why}")
        return 0
    unknown = set(args.only) - {m.name for m in MUTANTS}
    if unknown:
        print(f"unknown mutants: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if not args.skip_baseline:
        _, ok, detail = evaluate(None, args.keep)
        print(f"{'ok' if ok else 'FAIL':6s} {'unmutated':34s} {detail}", flush=True)
        if not ok:
            print(f"0/{len(chosen)} mutants caught")
            return 2
    caught = 0
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for name, ok, detail in pool.map(lambda m: evaluate(m, args.keep), chosen):
            caught += ok
            print(f"{'ok' if ok else 'MISS':6s} {name:34s} {detail}", flush=True)
    print(f"{caught}/{len(chosen)} mutants caught")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
