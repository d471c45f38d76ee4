"""The reference firmware: the machine's adapters and LPARs, and the AP instructions'
firmware part (NQAP, DQAP, TAPQ, RAPQ/ZAPQ, AQIC), SE configure on/off, checkstops
and busy windows, with the request ledger.

Build: ``m = RefMachine(env, reset_ns=profile.reset_ns, profile=profile)``;
``m.install_adapter(apid, card, sampler, arbitration="fifo")`` (*card*: a
``CardShape`` with ``queue_depth``; *sampler*: the model's service-time sampler,
drawn with ``sampler.draw(rt_index)`` and read for ``mean_ns``);
``lp = m.add_lpar(name, adapters=, standby=, usage_domains=, control_domains=)``;
``cpu = RefCpu(m, lp)``. Every instruction returns a :class:`Result`.

Rules (docs/hardware.md; the engine's :mod:`apsim.engine.firmware` and
:mod:`apsim.engine.instructions` docstrings):

* An APQN outside the issuer's configuration (APM × AQM) answers 0x01 and touches
  no queue; NQAP counts it rejected.
* **NQAP** checks, in this order: config state (0x04 checkstopped, 0x03
  standby), reset in progress (0x02), adapter busy (0x05), message longer than the
  card's maximum (0x15), request type the card cannot run (0x16, its mean service
  time is 0), control domain outside the issuer's ADM (0x42), queue full
  (``count >= depth``, 0x10); else it accepts the request and draws its service time.
* **DQAP**: the queue's state code (as TAPQ), else the oldest reply, else 0x10 (no
  pending reply). Replies are posted in completion order; at one instant, in the
  order their requests started (on a FIFO adapter: acceptance order).
* **TAPQ**: the queue's state code (config, then busy 0x05, then reset 0x02), else
  the asynchronous response code if one stands, else 0.
* **RAPQ/ZAPQ**: the state code, else drop everything with cause "reset" /
  "zeroize", interruptions off, and 0x02 for the adapter's reset duration.
* **AQIC**: the state code; enable: 0x06 without a notification-indicator address,
  0x07 if already enabled, else enabled with the target; disable: 0x07 if not
  enabled, else disabled.
* **Interruptions** go to the target at the instant a reply is posted, if enabled then.
  A *deferrable* target (``pickup_ns`` and ``pickup(queue)``) is called the same way:
  it decides itself when it picks replies up. (The engine's planned adapter folds
  interruption and pickup into one event at ``t_done + pickup_ns``; this is what it
  must match.)
* Every status word is the queue's after the instruction (E/R/F/I/async bits).
* **SE configure off** puts the LPAR's queues of the adapter in standby (0x03, all
  dropped with "configure_off", interruptions off); **on** brings them back empty,
  with no reset period left.
  **Checkstop** makes every queue of the adapter answer 0x04 (drops with
  "checkstop"); recovery gives each queue its LPAR's code (0 online, 0x03 standby).
* **Busy window**: every queue of the adapter answers 0x05 until it ends.

Not modelled (the engine has them; no test here drives them): Secure-Execution
binding and association (BAPQ/AAPQ, 0x09/0x0A/0x0B), injected queue faults, the
register-level program exceptions, QCI/QACT, GISA-routed interruptions, SE "Change
LPAR Cryptographic Controls" (queues leaving a configuration), SCLP commands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from apsim.engine import codes
from apsim.engine.codes import RC
from apsim.engine.reference.adapter import RefAdapter
from apsim.engine.reference.ledger import RefLedger
from apsim.engine.reference.queue import RefQueue


class RefRequest:
    """A request message as the reference firmware needs it (any object with these
    fields will do, an engine ``Request`` included); the firmware fills in ``apqn``,
    ``queue`` (whose status word tells a driver whether more replies wait), ``service_ns``, ``t_start``, ``t_done``, ``state`` and, when dropped, ``drop_cause``."""

    def __init__(self, psmid: int, rtype: int, length: int, owner: int = -1, t_submit: int = 0,
                 ctrl_domain: int = -1, tag: Any = None) -> None:
        self.psmid = psmid
        self.rtype = rtype
        self.length = length
        self.owner = owner
        self.t_submit = t_submit
        self.ctrl_domain = ctrl_domain
        self.tag = tag
        self.apqn = -1
        self.queue: Any = None
        self.service_ns = 0
        self.t_start = -1
        self.t_done = -1
        self.state = 0
        self.drop_cause = ""


@dataclass
class Result:
    """An instruction's outcome: condition code (0, or 3 with a non-zero rc), response
    code, status word, and the dequeued (or enqueued) request."""

    cc: int
    rc: int
    status: int
    req: Any = None


class RefLpar:
    """An LPAR's crypto profile: adapters online/standby, usage and control domains."""

    def __init__(self, machine: RefMachine, name: str) -> None:
        self.machine = machine
        self.name = name
        self.candidates: set[int] = set()
        self.online: set[int] = set()
        self.usage_domains: set[int] = set()
        self.control_domains: set[int] = set()
        self.queues: dict[int, RefQueue] = {}  # its configuration: candidates × usage domains

    def rc_for(self, apid: int) -> int:
        """The config code of the LPAR's queues on *apid*: 0x04 checkstopped, 0x03 standby, 0."""
        if self.machine.adapters[apid].checkstopped:
            return RC.CHECKSTOPPED
        return 0 if apid in self.online else RC.DECONFIGURED


class RefMachine:
    """Adapters, LPARs and the ledger; the SE operations and faults."""

    def __init__(self, env: Any, *, reset_ns: int = 20_000, profile: Any = None) -> None:
        self.env = env
        self.reset_ns = reset_ns
        self.profile = profile  # the timing profile its ports hand to workloads (or None)
        self.ledger = RefLedger()
        self.adapters: dict[int, RefAdapter] = {}
        self.lpars: dict[str, RefLpar] = {}

    def install_adapter(self, apid: int, card: Any, sampler: Any, *, arbitration: str = "fifo") -> RefAdapter:
        """Install an adapter at *apid*."""
        ad = RefAdapter(self.env, apid, card, sampler, self.ledger, arbitration=arbitration,
                        reset_ns=self.reset_ns)
        self.adapters[apid] = ad
        return ad

    def add_lpar(self, name: str, *, adapters: Iterable[int] = (), standby: Iterable[int] = (),
                 usage_domains: Iterable[int] = (), control_domains: Iterable[int] = ()) -> RefLpar:
        """Activate an LPAR; its queues on standby adapters start in 0x03."""
        lp = RefLpar(self, name)
        lp.online = set(adapters)
        lp.candidates = lp.online | set(standby)
        lp.usage_domains = set(usage_domains)
        lp.control_domains = set(control_domains)
        for apid in sorted(lp.candidates):
            for apqi in sorted(lp.usage_domains):
                q = self.adapters[apid].queue(apqi, lp)
                q.set_config_rc(lp.rc_for(apid), "configure_off")
                lp.queues[q.apqn] = q
        self.lpars[name] = lp
        return lp

    def se_configure(self, lpar: RefLpar, apids: Iterable[int], on: bool) -> list[int]:
        """SE configure on/off of adapters for *lpar*; returns the APIDs that changed."""
        changed = []
        for apid in apids:
            if (apid in lpar.online) == on:
                continue
            (lpar.online.add if on else lpar.online.discard)(apid)
            for q in lpar.queues.values():
                if q.apid == apid:
                    q.set_config_rc(lpar.rc_for(apid), "configure_off")
            changed.append(apid)
        return changed

    def checkstop(self, apid: int, on: bool = True) -> int:
        """Checkstop (or recover) an adapter; returns the number of requests dropped."""
        rcs = {lp: (0 if apid in lp.online else RC.DECONFIGURED) for lp in self.lpars.values()}
        return self.adapters[apid].set_checkstop(on, rcs)

    def set_busy(self, apid: int, duration_ns: int) -> None:
        """Every queue of the adapter answers 0x05 for *duration_ns* from now."""
        self.adapters[apid].busy_until = self.env.now + duration_ns


def _result(rc: int, q: RefQueue | None, req: Any = None) -> Result:
    """cc 0 for rc 0, else 3; the status word is the queue's after the instruction."""
    sw = q.status(rc) if q is not None else codes.make_status(rc)
    return Result(0 if rc == 0 else 3, int(rc), sw, req)


class RefCpu:
    """Issues the AP instructions' firmware part for one LPAR's configuration."""

    def __init__(self, machine: RefMachine, lpar: RefLpar) -> None:
        self.machine = machine
        self.lpar = lpar
        self.env = machine.env

    def queue(self, apqn: int) -> RefQueue | None:
        """The queue of *apqn* if it is in the configuration."""
        return self.lpar.queues.get(apqn)

    def nqap(self, apqn: int, req: Any) -> Result:
        """NQAP *req* (see the module docstring for the order of the checks)."""
        ledger = self.machine.ledger
        q = self.queue(apqn)
        if q is None:
            ledger.reject(RC.Q_NOT_AVAIL)
            return _result(RC.Q_NOT_AVAIL, None, req)
        q.touched += 1
        rc = self._nqap_refusal(q, req)
        if rc:
            ledger.reject(rc)
            return _result(rc, q, req)
        q.integrate()
        q.nqap_count += 1
        ledger.accept()
        q.adapter.accept(req, q)
        return _result(0, q, req)

    def _nqap_refusal(self, q: RefQueue, req: Any) -> int:
        now = self.env.now
        ad = q.adapter
        if q.cfg_rc:
            return q.cfg_rc
        if q.reset_until > now:
            return RC.RESET_IN_PROGRESS
        if ad.busy_until > now:
            return RC.BUSY
        if req.length > ad.card.max_msg_size:
            return RC.MESSAGE_TOO_BIG
        if not ad.sampler.mean_ns[req.rtype]:
            return RC.REQ_FAC_NOT_INST
        if req.ctrl_domain >= 0 and req.ctrl_domain not in self.lpar.control_domains:
            return RC.INVALID_DOMAIN
        if q.count >= q.depth:
            return RC.Q_FULL
        return 0

    def _pqap(self, apqn: int, then: Callable[[RefQueue], Result]) -> Result:
        """The common start of DQAP, TAPQ, RAPQ/ZAPQ and AQIC: 0x01 outside the configuration
        (the queue is not reached), else the queue is touched and answers its state code,
        else *then* runs on it."""
        q = self.queue(apqn)
        if q is None:
            return _result(RC.Q_NOT_AVAIL, None)
        q.touched += 1
        rc = q.state_rc()
        return _result(rc, q) if rc else then(q)

    def dqap(self, apqn: int) -> Result:
        """DQAP: the oldest reply (its request in ``Result.req``), or why not."""
        return self._pqap(apqn, _dequeue)

    def tapq(self, apqn: int) -> Result:
        """TAPQ: the queue's state code, else its asynchronous code, else 0."""
        return self._pqap(apqn, lambda q: _result(q.async_rc, q))

    def reset(self, apqn: int, *, zeroize: bool, cause: str | None = None) -> Result:
        """RAPQ (*zeroize* False) or ZAPQ."""
        def run(q: RefQueue) -> Result:
            q.reset(zeroize=zeroize, cause=cause)
            return _result(0, q)
        return self._pqap(apqn, run)

    def rapq(self, apqn: int) -> Result:
        """PQAP(RAPQ)."""
        return self.reset(apqn, zeroize=False)

    def zapq(self, apqn: int) -> Result:
        """PQAP(ZAPQ)."""
        return self.reset(apqn, zeroize=True)

    def aqic(self, apqn: int, *, enable: bool, target: Any = None, isc: int = 0, nib: int = 0) -> Result:
        """PQAP(AQIC): interruptions on (to *target*, ``target(queue)``) or off."""
        def run(q: RefQueue) -> Result:
            if enable and nib == 0:
                return _result(RC.INVALID_ADDRESS, q)
            if q.irq == enable:
                return _result(RC.OTHERWISE_CHANGED, q)
            if enable:
                q.irq, q.isc, q.nib, q.irq_target = True, isc & codes.AQIC_ISC_MASK, nib, target
            else:
                q.disable_irq()
            return _result(0, q)
        return self._pqap(apqn, run)


def _dequeue(q: RefQueue) -> Result:
    """DQAP on a queue whose state lets it answer: the oldest reply, else 0x10."""
    if not q.replies:
        return _result(codes.NO_PENDING_REPLY, q)
    job = q.take_reply()
    job.dequeued()
    return _result(0, q, job.req)
