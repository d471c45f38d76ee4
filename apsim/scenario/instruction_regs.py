"""A ``guest.instruction`` action as register images, and its result as expectation fields.

The scenario layer only decodes operands into what the program would load —
GR0 (function code, T and F bits, reserved bits, APQN), GR1, GR2, the R1/R2
register numbers, the length register, the PSW's problem-state bit — and calls
the guest CPU's register-level ``nqap`` / ``dqap`` / ``pqap``. Every check and
every code comes from :mod:`apsim.kvm.sie` and :mod:`apsim.engine.instructions`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apsim.engine import codes
from apsim.hw.cards import decode_hwinfo
from apsim.engine.instructions import APResult, aqic_gr1, gr0_for
from apsim.hw.timing import request_type
from apsim.scenario.actions import PQAP_FC, GuestInstruction

if TYPE_CHECKING:
    from apsim.engine.instructions import Executor

__all__ = ["DEFAULT_NQAP_REQUEST", "execute", "observed"]

DEFAULT_NQAP_REQUEST = "rsa2048_crt"
"""The request type an NQAP without ``request`` sends."""

_FULL = (1 << 64) - 1


def _gr0(a: GuestInstruction) -> int:
    if a.gr0 is not None:
        return a.gr0
    apqn = a.apqn if a.apqn is not None else 0
    if a.op == "NQAP":
        return codes.GR0_NQAP_LAST_PART | apqn  # Linux sets the last-part bit on every NQAP
    if a.op == "DQAP":
        return codes.GR0_DQAP_BIT32 | apqn
    return gr0_for(PQAP_FC[a.op], apqn, t=bool(a.t), f=bool(a.f))


def execute(cpu: Executor, a: GuestInstruction, *, psmid: int, owner: int, nib_default: int) -> APResult:
    """Run *a* on *cpu* at register level (ProgramException propagates).

    *psmid* and *owner* tag an NQAP's request; *nib_default* is the notification
    indicator an AQIC without ``nib`` names (a valid address of the guest).
    """
    gr0 = _gr0(a)
    ps = bool(a.problem_state)
    regs = {"r1": 2 if a.r1 is None else a.r1, "r2": 4 if a.r2 is None else a.r2}
    if a.op == "NQAP":
        rt = request_type(a.request or DEFAULT_NQAP_REQUEST)
        length = rt.msg_len if a.length is None else a.length
        return cpu.nqap(gr0, psmid, length, rt.name, problem_state=ps, owner=owner, **regs)
    if a.op == "DQAP":
        return cpu.dqap(gr0, problem_state=ps, length=a.length, **regs)
    gr1 = gr2 = 0
    if a.op == "AQIC":
        gr1 = aqic_gr1(enable=bool(a.enable), isc=a.isc or 0)
        gr2 = nib_default if a.nib is None else a.nib
    elif a.op == "QCI":
        gr2 = a.address or 0
    elif a.op == "AAPQ":
        gr2 = a.secret_index or 0
    elif a.op == "PQAP":
        gr1, gr2 = a.gr1 or 0, a.gr2 or 0
    return cpu.pqap(gr0, gr1, gr2, problem_state=ps)


def observed(result: APResult, want: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(expected, actual) restricted to the keys of *want*; GR2 compared under its mask.

    A masked GR2 shows as ``0x`` + 16 hex digits on both sides, so a report says
    which bits differ.
    """
    actual = result.as_dict()
    if "bs" in want and result.gr2 is not None:
        actual["bs"] = decode_hwinfo(result.gr2)["bs"]
    want = dict(want)
    mask = want.get("gr2_mask", _FULL)
    if "gr2_mask" in want:
        want["gr2_mask"] = actual["gr2_mask"] = f"{mask:#018x}"
    if "gr2" in want:
        want["gr2"] = f"{want['gr2'] & mask:#018x}"
        actual["gr2"] = None if result.gr2 is None else f"{result.gr2 & mask:#018x}"
    return want, {k: actual.get(k) for k in want}
