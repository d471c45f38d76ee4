"""The compiled engine and the pure-Python source are the same program: random operation
sequences (NQAP, DQAP, time, RAPQ/ZAPQ, AQIC on/off, SE configure off/on, checkstops,
busy windows, a workload with interrupt pickups started and stopped) give the same
replies, status words, ledger, queue counters, recorder rows and timing in both forms.

The sequences run in this process (whichever form it imports) and, all at once, in a
subprocess that imports the other form (tests/engine/driver.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apsim import _engine
from tests.engine.driver import OPS, run_sequence

ROOT = Path(__file__).resolve().parents[2]
BUILT = _engine.build_state() == "ok"

op = st.tuples(st.sampled_from(OPS), st.integers(0, 3), st.integers(0, 20)).map(list)
sequence = st.lists(op, max_size=25)


def _other_form(seqs: list) -> list:
    env = dict(os.environ)
    if _engine.engine() == "pure":
        env.pop("APSIM_PURE", None)  # the subprocess imports the compiled build
    else:
        env["APSIM_PURE"] = "1"
    out = subprocess.run([sys.executable, "-m", "tests.engine.driver"], input=json.dumps(seqs),
                         capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.skipif(not BUILT and os.environ.get("CI") != "true",
                    reason="no current compiled build to compare with (make setup)")
@settings(max_examples=4)
@given(st.lists(sequence, min_size=8, max_size=8))
def test_compiled_and_pure_forms_give_the_same_observables_for_any_operation_sequence(seqs):
    here = json.loads(json.dumps([run_sequence(s) for s in seqs], default=str))
    there = _other_form(seqs)
    for s, a, b in zip(seqs, here, there, strict=True):
        assert a == b, f"the forms differ for {s}"


def test_the_driver_sees_requests_complete_and_get_dropped():
    """The comparison above is not vacuous: a plain sequence completes and drops requests."""
    got = run_sequence([["workload_on", 0, 0]] + [["time", 0, 20]] * 5 + [["configure_off", 0, 0]])
    assert got["workload"]["completed"] >= 5 and got["ledger"]["dropped"]
    assert len(got["rows"]["t_deq"]) == got["workload"]["completed"]
