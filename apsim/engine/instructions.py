"""NQAP, DQAP and PQAP: register checks, condition codes, status words.

An :class:`Executor` executes AP instructions for one issuer configuration (an
LPAR, or a guest's APCB under SIE) at register level: it makes the architected
checks in order — facility installed (else operation exception), supervisor
state (else privileged-operation exception), register and GR0 specification
checks, APID/APQI within Na/Nd (else specification exception), the APQN in the
configuration (else RC 0x01) — and then asks the physical queue. The condition
code is 0 when the response code is 0 and 3 when a non-zero response code was
stored, as KVM applies it for the PQAP it emulates.

The request path of workloads uses :func:`apsim.engine.firmware.nqap_fast` and
:func:`~apsim.engine.firmware.dqap_fast`, which make the same checks without building
register images or result objects; this executor calls them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from apsim.errors import ProgramException
from apsim.engine import codes, secure
from apsim.engine.codes import FC, RC
from apsim.engine.config import APConfiguration
from apsim.engine.firmware import dqap_fast, nqap_fast
from apsim.engine.request import Request

if TYPE_CHECKING:
    from apsim.engine.api import MachineView
    from apsim.engine.queue import APQueue

ARCH_MAX_MSG = 15 * 4096
"""Largest message the 4-bit ml field can describe; longer NQAPs are a specification error."""

_NQAP_ALLOWED = 0xFFFF | codes.GR0_NQAP_LAST_PART | codes.GR0_NQAP_SPECIAL
_DQAP_ALLOWED = 0xFFFF | codes.GR0_DQAP_BIT32
_PQAP_RESERVED = 0x003F0000  # GR0 bits 42-47
_GR1_AQIC_IR = 1 << (63 - 16)


@dataclass(slots=True)
class APResult:
    """Outcome of one AP instruction as the issuing program sees it."""

    cc: int
    status: int | None = None
    gr2: int | None = None
    psmid: int | None = None
    reply: Request | None = None
    qci: bytes | None = None
    extra: dict = field(default_factory=dict)

    @property
    def rc(self) -> int:
        """Response code of the status word (0 when there is no status word)."""
        return 0 if self.status is None else codes.status_rc(self.status)

    @property
    def queue_empty(self) -> bool:
        return bool(self.status and self.status & codes.SW_QUEUE_EMPTY)

    @property
    def replies_waiting(self) -> bool:
        return bool(self.status and self.status & codes.SW_REPLIES_WAITING)

    @property
    def queue_full(self) -> bool:
        return bool(self.status and self.status & codes.SW_QUEUE_FULL)

    @property
    def irq_enabled(self) -> bool:
        return bool(self.status and self.status & codes.SW_IRQ_ENABLED)

    @property
    def async_error(self) -> bool:
        return bool(self.status and self.status & codes.SW_ASYNC)

    def as_dict(self) -> dict:
        """Plain fields for reports and expectations."""
        d: dict = {"cc": self.cc, "rc": self.rc}
        if self.status is not None:
            d.update(queue_empty=self.queue_empty, replies_waiting=self.replies_waiting,
                     queue_full=self.queue_full, irq_enabled=self.irq_enabled)
        if self.gr2 is not None:
            d["gr2"] = f"{self.gr2:#018x}"
        if self.psmid is not None:
            d["psmid"] = self.psmid
        return d


def _result(rc: int, q: APQueue | None = None, **kw) -> APResult:  # noqa: ANN003
    sw = q.status(rc) if q is not None else codes.make_status(rc)
    return APResult(cc=0 if rc == 0 else 3, status=sw, **kw)


def gr0_for(fc: int, apqn: int, *, t: bool = False, f: bool = False) -> int:
    """GR0 image of a PQAP: function code, T and F bits, APQN."""
    v = ((fc & 0xFF) << codes.GR0_FC_SHIFT) | (apqn & 0xFFFF)
    if t:
        v |= codes.GR0_T_BIT
    if f:
        v |= codes.GR0_F_BIT
    return v


def aqic_gr1(*, enable: bool, isc: int = 0, gisa: int = 0) -> int:
    """GR1 image of a PQAP(AQIC): the IR bit, the ISC and a GISA origin."""
    return (_GR1_AQIC_IR if enable else 0) | (isc & 7) | ((gisa & 0x7FFFFFF) << 4)


# --- register-level executor ---------------------------------------------------------------
class Executor:
    """Executes AP instructions at register level for one configuration."""

    def __init__(self, machine: MachineView, config: APConfiguration, *, irq_target=None) -> None:  # noqa: ANN001
        self.machine = machine
        self.config = config
        self.irq_target = irq_target

    # --- common checks -------------------------------------------------------------------
    def _common(self, problem_state: bool) -> None:
        if not self.config.facilities.ap:
            raise ProgramException("operation", "AP instructions are not installed")
        if problem_state:
            raise ProgramException("privileged-operation", "AP instructions need supervisor state")

    def _check_ids(self, apqn: int) -> None:
        cfg = self.config
        apid, apqi = (apqn >> 8) & 0xFF, apqn & 0xFF
        if apid > cfg.max_apid or apqi > cfg.max_apqi:
            raise ProgramException(
                "specification",
                f"APQN {apid:02x}.{apqi:04x} exceeds the configuration's maximum "
                f"{cfg.max_apid:02x}.{cfg.max_apqi:04x}")

    def _queue(self, apqn: int) -> APQueue | None:
        if not self.config.table[apqn]:
            return None
        return self.config.lpar.queues.get(apqn)

    # --- NQAP ----------------------------------------------------------------------------
    def nqap(self, gr0: int, psmid: int, length: int, request_type: int | str, *, r1: int = 2,
             r2: int = 4, problem_state: bool = False, ctrl_domain: int = -1, owner: int = -1,
             t_submit: int | None = None) -> APResult:
        """Enqueue one request message; GR0 holds the APQN (and the last-part bit)."""
        self._common(problem_state)
        if r1 & 1 or r2 & 1:
            raise ProgramException("specification", "NQAP R1 and R2 must designate even registers")
        gr0 &= 0xFFFFFFFF
        if gr0 & ~_NQAP_ALLOWED:
            raise ProgramException("specification", f"NQAP GR0 reserved bits set: {gr0:#010x}")
        if length <= 0 or length > ARCH_MAX_MSG:
            raise ProgramException("specification",
                                   f"NQAP message length {length} is outside 1..{ARCH_MAX_MSG}")
        apqn = gr0 & 0xFFFF
        self._check_ids(apqn)
        rtype = request_type if isinstance(request_type, int) else \
            self.machine.profile.request_type(request_type).index
        now = self.machine.env.now
        req = Request(psmid & 0xFFFFFFFFFFFFFFFF, rtype, length, owner,
                      now if t_submit is None else t_submit, ctrl_domain)
        rc = nqap_fast(self.config, apqn, req)
        q = self._queue(apqn)
        return _result(rc, q, psmid=req.psmid, extra={"request": req} if rc == 0 else {})

    # --- DQAP ----------------------------------------------------------------------------
    def dqap(self, gr0: int, *, r1: int = 2, r2: int = 4, problem_state: bool = False,
             length: int | None = None) -> APResult:
        """Dequeue one reply; the PSMID comes back in the R1 pair.

        *length* is the reply-buffer length in the R2+1 register; ``None`` means a
        well-formed buffer (the default of every caller that does not test it).
        """
        self._common(problem_state)
        if r1 & 1 or r2 & 1:
            raise ProgramException("specification", "DQAP R1 and R2 must designate even registers")
        gr0 &= 0xFFFFFFFF
        if gr0 & ~_DQAP_ALLOWED:
            raise ProgramException("specification", f"DQAP GR0 reserved bits set: {gr0:#010x}")
        if length is not None and (length <= 0 or length > ARCH_MAX_MSG):
            # kvm-unit-tests s390x/ap.c expects a specification exception for a zero
            # (or over-long) reply-buffer length, as for NQAP's message length.
            raise ProgramException("specification",
                                   f"DQAP buffer length {length} is outside 1..{ARCH_MAX_MSG}")
        apqn = gr0 & 0xFFFF
        self._check_ids(apqn)
        rc, req = dqap_fast(self.config, apqn)
        q = self._queue(apqn)
        if req is None:
            return _result(rc, q)
        return _result(0, q, psmid=req.psmid, reply=req)

    # --- PQAP ----------------------------------------------------------------------------
    def pqap(self, gr0: int, gr1: int = 0, gr2: int = 0, *, problem_state: bool = False) -> APResult:
        """PQAP with the function code in GR0 bits 32-39."""
        self._common(problem_state)
        gr0 &= 0xFFFFFFFF
        fc_raw = (gr0 >> codes.GR0_FC_SHIFT) & 0xFF
        try:
            fc = FC(fc_raw)
        except ValueError:
            raise ProgramException("specification", f"PQAP function code {fc_raw:#04x} is not installed") from None
        fac = self.config.facilities
        t = bool(gr0 & codes.GR0_T_BIT)
        f = bool(gr0 & codes.GR0_F_BIT)
        if gr0 & _PQAP_RESERVED:
            raise ProgramException("specification", f"PQAP GR0 reserved bits 42-47 set: {gr0:#010x}")
        if t and (fc != FC.TAPQ or not fac.apft):
            raise ProgramException("specification",
                                   "PQAP T bit needs TAPQ and the AP facilities-test facility (apft)")
        if f and fc not in (FC.RAPQ, FC.ZAPQ, FC.QACT):
            raise ProgramException("specification", f"PQAP F bit is not valid with {fc.name}")
        if f and fc in (FC.RAPQ, FC.ZAPQ) and not fac.apsb:
            raise ProgramException("specification", "PQAP F bit needs the AP SE-binding facility")
        if fc == FC.QCI:
            if not fac.apqci:
                raise ProgramException("specification", "QCI needs the AP QCI facility (apqci)")
            if gr2 & 7:
                # The 128-byte block must be doubleword aligned (kvm-unit-tests s390x/ap.c).
                raise ProgramException("specification",
                                       f"QCI block address {gr2:#x} is not doubleword aligned")
            return APResult(cc=0, status=None, qci=self.config.qci_block())
        if fc == FC.QBAP:
            # Like QCI it stores a block at GR2, which must be doubleword aligned
            # (kvm-unit-tests s390x/ap.c test_pgms_pqap, fc=6); what it stores is not
            # public, so an aligned QBAP is refused as an uninstalled function.
            if gr2 & 7:
                raise ProgramException("specification",
                                       f"QBAP block address {gr2:#x} is not doubleword aligned")
            raise ProgramException("specification", "PQAP(QBAP) is not installed on this model")
        if fc == FC.AQIC and not fac.apqi:
            raise ProgramException("specification", "AQIC needs the AP queue-interruption facility (apqi)")
        if fc == FC.QACT and not fac.qact:
            raise ProgramException("specification", "QACT needs the query-compatibility facility")
        if fc in (FC.BAPQ, FC.AAPQ) and not (fac.apsb and self.config.secure):
            raise ProgramException("specification",
                                   f"{fc.name} is only available to a Secure-Execution configuration")
        apqn = gr0 & 0xFFFF
        self._check_ids(apqn)
        q = self._queue(apqn)
        if q is None:
            return _result(RC.Q_NOT_AVAIL)
        q.touched += 1
        if q._fault is not None:  # an injected fault answers first (apsim.hw.faults)
            frc = q._fault.answer(fc.name, self.config, self.machine.env.now)
            if frc:  # a TAPQ's GR2 facility word is stored whatever the RC (ap_queue_info)
                return _result(frc, q, gr2=q.adapter.spec.hwinfo(self._bind_state(q)) if t else None)
        if fc == FC.TAPQ:
            return self._tapq(q, t)
        if fc in (FC.RAPQ, FC.ZAPQ):
            return self._reset(q, zeroize=fc == FC.ZAPQ, unbind=f)
        if fc == FC.AQIC:
            return self._aqic(q, gr1, gr2)
        if fc == FC.QACT:
            return self._qact(q, gr1)
        if fc == FC.BAPQ:
            return self._bapq(q)
        return self._aapq(q, gr2)

    def _bind_state(self, q: APQueue) -> int:
        return secure.bind_state(q, self.config, self.machine.env.now)

    def _tapq(self, q: APQueue, t: bool) -> APResult:
        self._settle_assoc(q)
        rc = q.state_rc()
        if not rc and q.async_rc:
            rc = q.async_rc
        gr2 = q.adapter.spec.hwinfo(self._bind_state(q)) if t else None
        return _result(rc, q, gr2=gr2)

    def _reset(self, q: APQueue, *, zeroize: bool, unbind: bool) -> APResult:
        if q.cfg_rc:
            return _result(q.cfg_rc, q)
        now = self.machine.env.now
        if q.adapter.busy_until > now:
            return _result(RC.BUSY, q)
        if q.reset_until > now:
            return _result(RC.RESET_IN_PROGRESS, q)
        # A host driver resetting on a guest's behalf names why (drop_cause, set by vfio_ap).
        q.reset(zeroize=zeroize, unbind=secure.reset_unbinds(q, self.config, unbind),
                cause=getattr(self, "drop_cause", None))
        return _result(0, q)

    def _aqic(self, q: APQueue, gr1: int, gr2: int) -> APResult:
        rc = q.state_rc()
        if rc:
            return _result(rc, q)
        enable = bool(gr1 & _GR1_AQIC_IR)
        isc = gr1 & codes.AQIC_ISC_MASK
        gisa = (gr1 >> 4) & 0x7FFFFFF  # GISA origin (bits 33-59) when issued for a guest
        if enable:
            if gr2 == 0:
                return _result(RC.INVALID_ADDRESS, q)
            target = self.irq_target
            if gisa:
                target = self.machine_gisa(gisa)
                if target is None:
                    return _result(RC.INVALID_GISA, q)
            if q.irq:
                return _result(RC.OTHERWISE_CHANGED, q)
            q.irq, q.isc, q.nib, q.gisa, q.irq_target = True, isc, gr2, gisa, target
            return _result(0, q)
        if not q.irq:
            return _result(RC.OTHERWISE_CHANGED, q)
        q._disable_irq()
        return _result(0, q)

    def machine_gisa(self, origin: int):  # noqa: ANN201
        """The interruption target registered for a GISA origin, or None."""
        return self.machine.gisas.get(origin)

    def _qact(self, q: APQueue, gr1: int) -> APResult:
        requested = gr1 & 0xFF
        own = q.adapter.spec.ap_type
        rc = q.state_rc()
        if rc:
            return _result(rc, q)
        cat = min(requested, own) if requested else own
        return _result(0, q, gr2=cat << 24)

    def _bapq(self, q: APQueue) -> APResult:
        rc = q.state_rc()
        if rc:
            return _result(rc, q)
        cfg = self.config
        if secure.bind_refusal(q):
            return _result(secure.bind_refusal(q), q)
        if q.bound_by is cfg:
            return _result(RC.Q_BIND_ERROR, q)
        if q.bound_by is not None:
            return _result(RC.Q_BOUND_TO_ANOTHER, q)
        if q.count:
            return _result(RC.Q_NOT_EMPTY, q)
        if cfg.se_bound >= cfg.se_bind_limit:
            return _result(RC.BIND_LIMIT_EXCEEDED, q)
        q.bound_by = cfg
        cfg.se_bound += 1
        return _result(0, q)

    def _aapq(self, q: APQueue, secret_index: int) -> APResult:
        self._settle_assoc(q)
        rc = q.state_rc()
        if rc:
            return _result(rc, q)
        cfg = self.config
        if q.bound_by is not cfg:
            return _result(RC.Q_NOT_BOUND, q)
        if secure.assoc_refusal(q):
            return _result(secure.assoc_refusal(q), q)
        if q.associated:
            return _result(RC.Q_NOT_AVAIL_FOR_ASSOC, q)
        if secret_index > 0xFF:
            return _result(RC.INDEX_TOO_BIG, q)
        if secret_index >= cfg.se_secrets:
            return _result(RC.INVALID_ASSOC_SECRET, q)
        q.associated = True
        q.assoc_index = secret_index
        q.assoc_until = self.machine.env.now + self.machine.profile.assoc_ns
        return _result(0, q)

    def _settle_assoc(self, q: APQueue) -> None:
        """Finish an association whose time is up, raising its asynchronous error if any."""
        if not q.associated or q.assoc_until == 0 or q.assoc_until > self.machine.env.now:
            return
        q.assoc_until = 0
        cfg = q.bound_by
        clash = any(o is not q and o.bound_by is cfg and o.associated and o.assoc_index == q.assoc_index
                    and o.assoc_until == 0 for o in cfg.lpar.queues.values()) if cfg else False
        if clash:
            q.associated = False
            q.async_rc = RC.ASSOC_SECRET_NOT_UNIQUE
        elif q.assoc_fail:
            q.associated = False
            q.async_rc = RC.ASSOC_FAILED

    # --- conveniences ----------------------------------------------------------------------
    def tapq(self, apqn: int, *, t: bool = False, problem_state: bool = False) -> APResult:
        """PQAP(TAPQ), optionally with the T bit for the facility information in GR2."""
        return self.pqap(gr0_for(FC.TAPQ, apqn, t=t), problem_state=problem_state)

    def rapq(self, apqn: int, *, f: bool = False) -> APResult:
        """PQAP(RAPQ): reset the queue."""
        return self.pqap(gr0_for(FC.RAPQ, apqn, f=f))

    def zapq(self, apqn: int, *, f: bool = False) -> APResult:
        """PQAP(ZAPQ): reset and zeroize the queue."""
        return self.pqap(gr0_for(FC.ZAPQ, apqn, f=f))

    def aqic(self, apqn: int, *, enable: bool, isc: int = 0, nib: int = 0, gisa: int = 0) -> APResult:
        """PQAP(AQIC): enable or disable interruptions for the queue."""
        return self.pqap(gr0_for(FC.AQIC, apqn), aqic_gr1(enable=enable, isc=isc, gisa=gisa), nib)

    def qci(self) -> APResult:
        """PQAP(QCI): the 128-byte configuration information block."""
        return self.pqap(gr0_for(FC.QCI, 0))

    def qact(self, apqn: int, type_: int) -> APResult:
        """PQAP(QACT): the highest compatible type not above *type_*."""
        return self.pqap(gr0_for(FC.QACT, apqn), type_ & 0xFF)

    def bapq(self, apqn: int) -> APResult:
        """PQAP(BAPQ): bind the queue to this Secure-Execution configuration."""
        return self.pqap(gr0_for(FC.BAPQ, apqn))

    def aapq(self, apqn: int, secret_index: int) -> APResult:
        """PQAP(AAPQ): associate the bound queue with an association secret."""
        return self.pqap(gr0_for(FC.AAPQ, apqn), 0, secret_index)

    def enqueue(self, apqn: int, psmid: int, request_type: int | str = "rsa2048",
                length: int | None = None, **kw) -> APResult:  # noqa: ANN003
        """NQAP with the last-part bit set, as Linux issues it."""
        rt = self.machine.profile.request_type(request_type) if isinstance(request_type, str) else None
        n = length if length is not None else (rt.msg_len if rt else 512)
        return self.nqap(codes.GR0_NQAP_LAST_PART | (apqn & 0xFFFF), psmid, n, request_type, **kw)

    def dequeue(self, apqn: int) -> APResult:
        """DQAP as Linux issues it."""
        return self.dqap(codes.GR0_DQAP_BIT32 | (apqn & 0xFFFF))

