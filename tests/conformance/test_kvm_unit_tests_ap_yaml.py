"""kvm-unit-tests' AP series as scenario lines: scenarios/kvm-unit-tests-ap.yaml holds
one ``guest.instruction`` line per case of s390x/ap.c (test_priv, test_pgms_pqap,
test_pgms_nqap, test_pgms_dqap, test_pgms_nqdq_len, test_pqap_aqic, test_pqap_resets)
and lib/s390x/ap.c (ap_setup, ap_pqap_tapq), each under a comment naming the case,
run through vfio_ap's real mdev and KVM's SIE executor.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from apsim.scenario.loader import load_scenario, parse_scenario
from apsim.scenario.run import run_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "kvm-unit-tests-ap.yaml"
LEN_BITS = sum(1 for i in range(12, 63) if (1 << i) >= 15 * 4096)
"""test_pgms_nqdq_len's loop: every power of two from 2**12 not below the 60 KiB limit."""

# How many lines each case of the series needs (loops give one line per iteration).
CASES = {
    "ap_setup": 1,
    "test_priv": 3,
    "test_pgms_pqap": 1 + 7 + 7 + 1 + 7,
    "test_pgms_nqap": 3 + 1 + 4,
    "test_pgms_dqap": 3 + 1 + 5,
    "test_pgms_nqdq_len": 1 + 2 * (1 + LEN_BITS),
    "test_pqap_aqic": 8,
    "test_pqap_resets": 8,
    "lib ap_pqap_tapq": 3,
}


def _case_lines() -> list[tuple[str, str]]:
    """(comment, action line) pairs of the shipped scenario's timeline."""
    lines = SCENARIO.read_text(encoding="utf-8").split("\ntimeline:\n", 1)[1].splitlines()
    return [(c.strip()[2:], a) for c, a in zip(lines, lines[1:]) if c.strip().startswith("# ") and not c.strip().startswith("# setup")]


@pytest.fixture(scope="module")
def run():  # noqa: ANN201
    return run_scenario(load_scenario(SCENARIO))


def test_every_case_of_the_series_is_one_line():
    """s390x/ap.c main() runs ap_setup, test_priv, test_pgms_{pqap,nqap,dqap,nqdq_len},
    and with facility 65 test_pqap_aqic and test_pqap_resets: every case and every
    loop iteration has its own line."""
    seen = Counter()
    for comment, action in _case_lines():
        case = comment.split(":")[0].split(" RAPQ")[0].split(" ZAPQ")[0].split(" T=1")[0]
        case = re.sub(r" with a raw GR0$", "", case)
        seen[case] += 1
        assert "guest.instruction" in action
    for case, n in CASES.items():
        assert seen[case] == n, (case, seen[case])


def test_every_case_passes_through_vfio_ap_and_sie(run):  # noqa: ANN001
    """Each line's expectation (cc, rc, status bits, GR2 under a mask, or the program
    exception) holds: kvm/sie.py SieExecutor and KVM's handle_pqap, hw/instructions.py
    Executor, vfio_ap's handle_pqap hook."""
    instr = [e for e in run.timeline.entries if e.do == "guest.instruction"]
    assert len(instr) == len(_case_lines()) + 1  # + the setup AQIC disable
    failed = [(e.line, e.expected, e.actual) for e in instr if e.passed is not True]
    assert not failed


def test_a_wrong_facility_word_fails_under_its_mask():
    """ap_pqap_tapq with T=1 stores the facility word in GR2: a line expecting another
    type under the type's mask fails, and one differing only outside the mask passes."""
    text = SCENARIO.read_text(encoding="utf-8").split("\ntimeline:\n", 1)[0] + "\ntimeline:\n" + "\n".join([
        '  - {at: 100ms, do: guest.instruction, guest: kut, op: TAPQ, apqn: "05.0004", t: true,'
        ' expect: {gr2: "0x0c000000", gr2_mask: "0xff000000"}}',
        '  - {at: 101ms, do: guest.instruction, guest: kut, op: TAPQ, apqn: "05.0004", t: true,'
        ' expect: {gr2: "0xff0d0000ff", gr2_mask: "0xff000000"}}',
        '  - {at: 102ms, do: guest.instruction, guest: kut, op: TAPQ, apqn: "05.0004",'
        ' expect: {gr2: "0"}}',
    ])
    r = run_scenario(parse_scenario(text))
    wrong, right, no_t = [e for e in r.timeline.entries if e.do == "guest.instruction"]
    assert wrong.passed is False and wrong.actual == {"gr2": "0x000000000d000000", "gr2_mask": "0x00000000ff000000"}
    assert right.passed is True
    assert no_t.passed is False and no_t.actual == {"gr2": None}, "without T, TAPQ stores no GR2"
