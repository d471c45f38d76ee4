"""Secure Execution (protected virtualization) and the AP queues: the firmware rules.

An SE guest ("protected virtualization" in the kernel, a ``pv`` guest in KVM and
QEMU) reaches its AP queues only after it *binds* them (PQAP(BAPQ), fc 7) and, for
EP11 queues, *associates* them with a secret the ultravisor holds (PQAP(AAPQ),
fc 8, secret index in GR2). The guest reads the state back in the ``bs`` field of
TAPQ's GR2 (bits 16-17, ``AP_BS_Q_*`` in arch/s390/include/asm/ap.h):

==  ===========================  =====================================================
0   ``AP_BS_Q_USABLE``            bound and associated (accelerator: bound)
1   ``AP_BS_Q_USABLE_NO_SECURE_KEY``  bound, no secret associated (yet)
2   ``AP_BS_Q_AVAIL_FOR_BINDING`` free: this SE configuration may bind it
3   ``AP_BS_Q_UNUSABLE``          bound to another configuration, or not bindable
==  ===========================  =====================================================

What the kernel shows (drivers/s390/crypto/ap_queue.c): only accelerator and EP11
queues support binding (``ap_q_supports_bind``) and only EP11 queues support
association (``ap_q_supports_assoc``); a reset with the F bit (``rapq_fbit``) is how
the guest unbinds (``se_bind_store`` with 0); a reset "from outside" (the
hypervisor's) leaves the queue with a bind state other than usable
(``ap_sm_assoc_wait``). The firmware's own rules are not public: what this module
decides beyond those facts is a modelling assumption, listed in docs/hardware.md.

The instruction executor calls :func:`bind_state` for TAPQ, :func:`bind_refusal`
before BAPQ and :func:`reset_unbinds` for RAPQ/ZAPQ; the queue keeps the state
(:attr:`apsim.engine.queue.APQueue.bound_by` and the association fields).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apsim.engine import codes
from apsim.engine.codes import RC

if TYPE_CHECKING:
    from apsim.engine.config import APConfiguration
    from apsim.engine.queue import APQueue

UNPACK_MODELS = frozenset({"z15", "z16", "z17"})
"""Machines whose CPU has the unpack facility (161) SE needs: QEMU's full_GEN15_GA1 on."""

AP_PV_MODELS = frozenset({"z16", "z17"})
"""Machines whose ultravisor offers AP instructions to SE guests (UV feature bit 4,
QEMU's CPU feature ``appv`` in full_GEN16_GA1 on)."""


def supports_bind(q: APQueue) -> bool:
    """``ap_q_supports_bind``: accelerator and EP11 queues (CCA queues cannot be bound)."""
    return q.adapter.spec.mode.value in ("accelerator", "ep11")


def supports_assoc(q: APQueue) -> bool:
    """``ap_q_supports_assoc``: only EP11 queues take an association secret."""
    return supports_bind(q) and q.adapter.spec.mode.value == "ep11"


def bind_state(q: APQueue, cfg: APConfiguration, now: int) -> int:
    """The ``bs`` bits TAPQ reports to *cfg* for *q* at time *now*."""
    if not cfg.secure:
        return codes.BS_USABLE
    if not supports_bind(q):
        return codes.BS_UNUSABLE
    if q.bound_by is None:
        return codes.BS_AVAILABLE_FOR_BIND
    if q.bound_by is not cfg:
        return codes.BS_UNUSABLE
    if not supports_assoc(q):
        return codes.BS_USABLE_NO_SECURE_KEY  # an accelerator has no secure key to associate
    if q.associated and q.assoc_until <= now:
        return codes.BS_USABLE
    return codes.BS_USABLE_NO_SECURE_KEY


def bind_refusal(q: APQueue) -> int:
    """BAPQ's answer for a queue that cannot be bound at all (0 when it can) [U]."""
    return 0 if supports_bind(q) else RC.Q_BIND_ERROR


def assoc_refusal(q: APQueue) -> int:
    """AAPQ's answer for a bound queue that takes no secret (0 when it does) [U]."""
    return 0 if supports_assoc(q) else RC.Q_NOT_AVAIL_FOR_ASSOC


def reset_unbinds(q: APQueue, issuer: APConfiguration, fbit: bool) -> bool:
    """Whether a RAPQ/ZAPQ by *issuer* drops the queue's SE binding.

    The binding configuration unbinds with the F bit (the kernel's ``rapq_fbit``,
    written by ``se_bind_store(0)``); its plain resets (the AP bus's own
    RESET_START) keep the binding. A reset by anyone else — the hypervisor's ZAPQ
    when vfio_ap resets the queues on unplug, guest reset or mdev removal — takes
    the queue away from the SE guest, which then finds it unbound
    (``ap_sm_assoc_wait``: "reset from 'outside' happened").
    """
    if q.bound_by is None:
        return False
    return fbit or q.bound_by is not issuer
