"""The CPU a guest's Linux issues AP instructions on: SIE interpretation and interception.

:class:`SieExecutor` has the method surface of :class:`apsim.engine.instructions.Executor`
(``nqap``, ``dqap``, ``pqap`` at register level; ``tapq``, ``rapq``, ``zapq``,
``aqic``, ``qci``, ``qact``, ``enqueue``, ``dequeue``, ... as conveniences), so the
same AP bus code runs in a host and in a guest. What happens to an instruction:

* **Without ECA_APIE** (the guest's CPU model lacks ``ap``; for a nested guest: any
  level lacks it) every AP instruction is intercepted. KVM emulates neither NQAP nor
  DQAP and refuses PQAP without APIE, QEMU has no handler either and injects an
  operation exception (reference §7.1; arch/s390/kvm/priv.c ``kvm_s390_handle_b2``,
  QEMU target/s390x/kvm/kvm.c).
* **With ECA_APIE**, NQAP, DQAP and PQAP(TAPQ, RAPQ, ZAPQ, QCI, QACT, ...) are
  interpreted by the firmware against ``kvm.config``. apsim runs them through the
  hardware's own :class:`~apsim.engine.instructions.Executor` on that configuration, so
  checks, order and codes are those of an LPAR: an APQN outside APM x AQM gets RC
  0x01 and never reaches the physical queue [U: firmware checks are not public].
  QCI returns the guest's APCB as seen through its CRYCB format.
* **PQAP(AQIC)** is always intercepted and handled by KVM's ``handle_pqap``
  (arch/s390/kvm/priv.c, reference §7.3) in exactly the kernel's order, then by the
  PQAP hook vfio_ap installs (``kvm.pqap_hook``).

:func:`sie_nqap` / :func:`sie_dqap` are the workload hot path: the interpretation
check and the hardware's ``nqap_fast`` / ``dqap_fast`` on the guest's APQN table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apsim.errors import ProgramException
from apsim.engine import codes
from apsim.engine.codes import FC, RC
from apsim.engine.firmware import dqap_fast, nqap_fast
from apsim.engine.instructions import APResult, Executor

if TYPE_CHECKING:
    from apsim.engine.request import Request
    from apsim.kvm.vm import KVM

KVM_PQAP_RESERVED = 0x007F0000
"""GR0 bits 41-47 (including the F bit): KVM's handle_pqap rejects them for AQIC."""
KVM_PQAP_NO_APXA_IDS = 0x0000C0F0
"""GR0 bits that name APID >= 64 or APQI >= 16 (checked when the CRYCB is not format 2)."""
_RC_BYTE = 0x00FF0000
QCI_BLOCK_SIZE = 128
"""Bytes PQAP(QCI) stores at the GR2 address."""


class VcpuBlocked(RuntimeError):
    """A strict SieExecutor was asked to run an instruction while KVM blocks the vCPUs."""


class SieExecutor(Executor):
    """The guest's CPU interface: SIE interpretation against ``kvm.config``, plus
    KVM's PQAP(AQIC) interception.

    *vcpu* names the vCPU (0 .. vcpus-1). With *strict*, an instruction issued while
    the VM's vCPUs are blocked by a mask update raises :class:`VcpuBlocked` (callers
    are expected to wait with :meth:`KVM.ready_at` / :meth:`KVM.call_when_ready`);
    otherwise it runs against the new masks, which are in place from the start of
    the blocked window. Every instruction that runs inside a blocked window is
    counted in ``ran_while_blocked``.

    A nested guest whose shadow CRYCB could not be built raises the
    :class:`~apsim.errors.ValidityIntercept` instead: its vCPUs cannot enter SIE.
    """

    def __init__(self, kvm: KVM, vcpu: int = 0, *, strict: bool = False) -> None:
        if not 0 <= vcpu < kvm.vcpus:
            raise ValueError(f"guest {kvm.name} has vCPUs 0..{kvm.vcpus - 1}, not {vcpu}")
        super().__init__(kvm.machine, kvm.config, irq_target=kvm.deliver_irq)
        self.kvm = kvm
        self.vcpu = vcpu
        self.strict = strict
        self.intercepts = 0
        """PQAP(AQIC) instructions handled by KVM's handle_pqap."""
        self.ran_while_blocked = 0

    # --- gates ----------------------------------------------------------------------------
    def _enter(self) -> None:
        kvm = self.kvm
        if kvm.validity is not None:
            raise kvm.validity
        now = int(kvm.env.now)
        if kvm.ready_at(now) > now:
            if self.strict:
                raise VcpuBlocked(f"guest {kvm.name}: vCPUs are blocked until {kvm.ready_at(now)} ns")
            self.ran_while_blocked += 1

    def _interpreted(self) -> None:
        if not self.kvm.interpretive:
            raise self.kvm.not_interpreted()

    # --- interpreted instructions -------------------------------------------------------------
    def nqap(self, gr0: int, psmid: int, length: int, request_type: int | str,
             **kw: Any) -> APResult:
        """NQAP, interpreted against the guest's APCB."""
        self._enter()
        self._interpreted()
        return super().nqap(gr0, psmid, length, request_type, **kw)

    def dqap(self, gr0: int, **kw: Any) -> APResult:
        """DQAP, interpreted against the guest's APCB."""
        self._enter()
        self._interpreted()
        return super().dqap(gr0, **kw)

    def pqap(self, gr0: int, gr1: int = 0, gr2: int = 0, *, problem_state: bool = False) -> APResult:
        """PQAP: AQIC goes to KVM's handle_pqap, every other function code to the firmware."""
        self._enter()
        if (gr0 >> codes.GR0_FC_SHIFT) & 0xFF == FC.AQIC:
            return self.handle_pqap(gr0, gr1, gr2, problem_state=problem_state)
        self._interpreted()
        result = super().pqap(gr0, gr1, gr2, problem_state=problem_state)
        if result.qci is not None and not self.kvm.is_guest_address(gr2, QCI_BLOCK_SIZE):
            # QCI stores nothing but its block: the access check after the specification
            # checks is all that stands between an aligned address and the store.
            raise ProgramException("addressing", f"QCI block address {gr2:#x} is outside the "
                                                 f"guest's memory ({self.kvm.memory_size:#x} bytes)")
        return result

    # --- KVM's PQAP(AQIC) interception --------------------------------------------------------
    def handle_pqap(self, gr0: int, gr1: int, gr2: int, *, problem_state: bool = False) -> APResult:
        """KVM's ``handle_pqap`` for an intercepted PQAP(AQIC), in the kernel's order.

        1. The host lacks AP instructions, or 2. ECA_APIE is off: handed to user space;
        QEMU has no handler → operation exception. 3. Only FC 3 reaches here.
        4. Problem state → privileged-operation. 5. GR0 bits 41-47 → specification.
        6. T bit without APFT → specification. 7. CRYCB not format 2 and APID >= 64
        or APQI >= 16 → specification. 8. No APQI facility → specification.
        9. A hook is installed: without ECA_AIV vfio_ap hands the instruction to user
        space (operation exception; a hook may also return None for that); else the
        hook's status word goes to GR1 bits 32-63 and the CC is 3 when its RC byte is
        non-zero, else 0.
        10. No hook: RC 0x01 and CC 3 (mainline, ``kvm.kernel`` without the
           ``pqap-status-low-word`` fix: the status is stored in GR1
        bits 0-31 as the kernel does, so the guest's status word is its own GR1).
        """
        kvm = self.kvm
        gr0 &= 0xFFFFFFFFFFFFFFFF
        self.intercepts += 1
        if not kvm.host_config.facilities.ap:
            raise ProgramException("operation", "the host has no AP instructions: PQAP goes to "
                                                "QEMU, which has no handler")
        if not kvm.apie:
            raise ProgramException("operation", "ECA_APIE is off: PQAP goes to QEMU, which has "
                                                "no handler")
        if problem_state:
            raise ProgramException("privileged-operation", "PQAP(AQIC) in problem state")
        if gr0 & KVM_PQAP_RESERVED:
            raise ProgramException("specification", f"PQAP(AQIC) GR0 bits 41-47 set: {gr0:#x}")
        if gr0 & codes.GR0_T_BIT and not kvm.cpu.apft:
            raise ProgramException("specification", "PQAP T bit without the APFT facility")
        if kvm.crycb_format != 2 and gr0 & KVM_PQAP_NO_APXA_IDS:
            raise ProgramException("specification",
                                   f"APQN {(gr0 >> 8) & 0xFF:02x}.{gr0 & 0xFF:04x} does not fit a "
                                   f"format-{kvm.crycb_format} CRYCB (APID < 64, APQI < 16)")
        if not kvm.cpu.apqi:
            raise ProgramException("specification", "PQAP(AQIC) without the APQI facility (65)")
        hook = kvm.pqap_hook
        if hook is not None:
            if not kvm.aiv:
                raise ProgramException("operation", "ECA_AIV is off: vfio_ap hands PQAP(AQIC) to "
                                                    "QEMU, which has no handler")
            result = hook(gr0 & 0xFFFF, gr1 & 0xFFFFFFFFFFFFFFFF, gr2 & 0xFFFFFFFFFFFFFFFF)
            if result is None:
                # The hook declined (vfio_ap's -EOPNOTSUPP): user space, no handler.
                raise ProgramException("operation", "the PQAP hook handed PQAP(AQIC) to QEMU, "
                                                    "which has no handler")
            status = result & 0xFFFFFFFF
            return APResult(cc=3 if status & _RC_BYTE else 0, status=status,
                            extra={"gr1": status, "intercepted": True})
        status = codes.make_status(RC.Q_NOT_AVAIL)
        if not kvm.kernel.fixed("pqap-status-low-word"):
            # The kernel copies the 4-byte status to the start of the 8-byte GR1, i.e.
            # bits 0-31; the architected status word (bits 32-63) keeps the guest's input.
            image = (status << 32) | (gr1 & 0xFFFFFFFF)
            return APResult(cc=3, status=image & 0xFFFFFFFF,
                            extra={"gr1": image, "intercepted": True, "quirk": True})
        return APResult(cc=3, status=status, extra={"gr1": status, "intercepted": True})


# --- hot path ---------------------------------------------------------------------------------
def sie_nqap(kvm: KVM, apqn: int, req: Request) -> int:
    """Workload NQAP from a guest: the interpretation check, then ``nqap_fast``.

    The caller keeps the registers well formed, the ids within the guest's maxima
    and waits for :meth:`KVM.ready_at`.
    """
    if not kvm.interpretive:
        raise kvm.not_interpreted()
    return nqap_fast(kvm.config, apqn, req)


def sie_dqap(kvm: KVM, apqn: int) -> tuple[int, Request | None]:
    """Workload DQAP from a guest: the interpretation check, then ``dqap_fast``."""
    if not kvm.interpretive:
        raise kvm.not_interpreted()
    return dqap_fast(kvm.config, apqn)
