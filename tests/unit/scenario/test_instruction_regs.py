"""apsim.scenario.instruction_regs: operands become the registers a program loads."""

from __future__ import annotations

from apsim.engine import codes
from apsim.engine.instructions import APResult
from apsim.scenario.actions import GuestInstruction
from apsim.scenario.instruction_regs import execute, observed


class RecordingCpu:
    """Records the register-level call a line turns into (the CPU's checks are not the point)."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def nqap(self, gr0, psmid, length, rt, **kw):  # noqa: ANN001, ANN003, ANN201
        self.calls.append(("nqap", gr0, length, rt, kw))
        return APResult(cc=0, status=0)

    def dqap(self, gr0, **kw):  # noqa: ANN001, ANN003, ANN201
        self.calls.append(("dqap", gr0, kw))
        return APResult(cc=0, status=0)

    def pqap(self, gr0, gr1, gr2, **kw):  # noqa: ANN001, ANN003, ANN201
        self.calls.append(("pqap", gr0, gr1, gr2, kw))
        return APResult(cc=0, status=0, gr2=0x120000000D000007)


def line(**kw) -> GuestInstruction:  # noqa: ANN003
    return GuestInstruction(at=0, do="guest.instruction", guest="g", **kw)


def run(a: GuestInstruction) -> tuple:
    cpu = RecordingCpu()
    execute(cpu, a, psmid=1, owner=0, nib_default=0x5000)  # type: ignore[arg-type]
    return cpu.calls[0]


def test_linux_style_gr0_for_nqap_and_dqap_when_no_raw_gr0():
    """Linux's __ap_send sets the last-part bit; __ap_recv sets GR0 bit 32."""
    assert run(line(op="NQAP", apqn="05.0004"))[1] == codes.GR0_NQAP_LAST_PART | 0x0504
    assert run(line(op="DQAP", apqn="05.0004"))[1] == codes.GR0_DQAP_BIT32 | 0x0504


def test_pqap_ops_put_fc_t_and_f_bits_in_gr0_and_a_raw_gr0_is_taken_as_is():
    """GR0 bits 32-39 function code, bit 40 T, bit 41 F (lib/s390x/ap.c ap_pqap_tapq)."""
    assert run(line(op="TAPQ", apqn="05.0004", t=True))[1] == 0x00800504
    assert run(line(op="ZAPQ", apqn="05.0004", f=True))[1] == 0x02400504
    assert run(line(op="PQAP", gr0="0x2a000000"))[1] == 0x2A000000
    assert run(line(op="NQAP", gr0="0x80000000"))[1] == 0x80000000


def test_registers_problem_state_and_lengths_reach_the_cpu():
    """test_priv / test_pgms_nqap: R1, R2, the length register and PSW bit 15."""
    call = run(line(op="DQAP", apqn="05.0004", r1=3, r2=7, length=0, problem_state=True))
    assert call[2] == {"problem_state": True, "length": 0, "r1": 3, "r2": 7}
    call = run(line(op="NQAP", apqn="05.0004", request="rsa2048", length=1 << 40))
    assert call[2] == 1 << 40


def test_aqic_gr1_gr2_and_qci_address():
    """AQIC: GR1 IR bit 16 and ISC, GR2 the NIB (default the guest's own); QCI: GR2 the block."""
    call = run(line(op="AQIC", apqn="05.0004", enable=True, isc=3))
    assert call[2] == (1 << 47) | 3 and call[3] == 0x5000
    assert run(line(op="QCI", address="0x3001"))[3] == 0x3001
    assert run(line(op="PQAP", gr0="0x06000000", gr1=1, gr2=8))[2:4] == (1, 8)


def test_gr2_is_compared_under_its_mask():
    """The facility word's fields are compared only where the mask has bits."""
    r = APResult(cc=0, status=0, gr2=0x120000000D000007)
    want, got = observed(r, {"gr2": 0x0D000000, "gr2_mask": 0xFF000000})
    assert want == got
    want, got = observed(r, {"gr2": 0x0C000000, "gr2_mask": 0xFF000000})
    assert want != got and got["gr2"] == "0x000000000d000000"
