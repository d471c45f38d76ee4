"""Architected codes of the AP instructions, with the kernel's names and values.

Response codes follow ``AP_RESPONSE_*`` in drivers/s390/crypto/ap_bus.h; PQAP
function codes follow arch/s390/include/asm/ap.h; the status-word layout is the
kernel's ``struct ap_queue_status`` (GR1 bits 32-63).
"""

from __future__ import annotations

from enum import IntEnum


class RC(IntEnum):
    """AP response codes (the RC byte of the AP queue status word)."""

    NORMAL = 0x00
    Q_NOT_AVAIL = 0x01
    RESET_IN_PROGRESS = 0x02
    DECONFIGURED = 0x03
    CHECKSTOPPED = 0x04
    BUSY = 0x05
    INVALID_ADDRESS = 0x06
    OTHERWISE_CHANGED = 0x07
    INVALID_GISA = 0x08
    Q_BOUND_TO_ANOTHER = 0x09
    STATE_CHANGE_IN_PROGRESS = 0x0A
    Q_NOT_BOUND = 0x0B
    Q_FULL = 0x10
    INDEX_TOO_BIG = 0x11
    NO_FIRST_PART = 0x13
    MESSAGE_TOO_BIG = 0x15
    REQ_FAC_NOT_INST = 0x16
    Q_BIND_ERROR = 0x30
    Q_NOT_AVAIL_FOR_ASSOC = 0x31
    Q_NOT_EMPTY = 0x32
    BIND_LIMIT_EXCEEDED = 0x33
    INVALID_ASSOC_SECRET = 0x34
    ASSOC_SECRET_NOT_UNIQUE = 0x35
    ASSOC_FAILED = 0x36
    INVALID_DOMAIN = 0x42

    @property
    def kernel_name(self) -> str:
        """The kernel's macro name, e.g. ``AP_RESPONSE_Q_FULL``."""
        return "AP_RESPONSE_" + self.name


NO_PENDING_REPLY = RC.Q_FULL
"""DQAP's name for RC 0x10 (the kernel's ``AP_RESPONSE_NO_PENDING_REPLY``)."""

RC_NAMES: dict[int, str] = {int(rc): rc.name for rc in RC}


def rc_name(rc: int, *, dqap: bool = False) -> str:
    """Human name of a response code; 0x10 reads NO_PENDING_REPLY for DQAP."""
    if dqap and rc == 0x10:
        return "NO_PENDING_REPLY"
    return RC_NAMES.get(rc, f"RC_{rc:#04x}")


class FC(IntEnum):
    """PQAP function codes (GR0 bits 32-39)."""

    TAPQ = 0x00
    RAPQ = 0x01
    ZAPQ = 0x02
    AQIC = 0x03
    QCI = 0x04
    QACT = 0x05
    QBAP = 0x06
    BAPQ = 0x07
    AAPQ = 0x08


class Op(IntEnum):
    """Instruction identities used in traces and metrics."""

    NQAP = 0xB2AD
    DQAP = 0xB2AE
    PQAP = 0xB2AF


# GR0 layout (64-bit register, bit 0 = MSB; the kernel builds it as a 32-bit value
# in the low word): fc in bits 32-39, T in bit 40, F in bit 41, APQN in bits 48-63.
GR0_FC_SHIFT = 24
GR0_T_BIT = 0x00800000
GR0_F_BIT = 0x00400000
GR0_RESERVED_PQAP = 0x007F0000  # bits 41-47 (includes F); KVM rejects these for AQIC
GR0_NQAP_LAST_PART = 0x40000000  # bit 33, set by Linux on every NQAP
GR0_NQAP_SPECIAL = 0x00400000  # bit 41, "special" message flag
GR0_DQAP_BIT32 = 0x80000000

# Status word (GR1 bits 32-63 as a 32-bit value).
SW_QUEUE_EMPTY = 0x80000000
SW_REPLIES_WAITING = 0x40000000
SW_QUEUE_FULL = 0x20000000
SW_ASYNC = 0x02000000
SW_IRQ_ENABLED = 0x01000000
SW_RC_SHIFT = 16


def make_status(rc: int, *, empty: bool = False, replies: bool = False, full: bool = False,
                irq: bool = False, async_: bool = False) -> int:
    """Build a 32-bit AP queue status word."""
    sw = (rc & 0xFF) << SW_RC_SHIFT
    if empty:
        sw |= SW_QUEUE_EMPTY
    if replies:
        sw |= SW_REPLIES_WAITING
    if full:
        sw |= SW_QUEUE_FULL
    if irq:
        sw |= SW_IRQ_ENABLED
    if async_:
        sw |= SW_ASYNC
    return sw


def status_rc(sw: int) -> int:
    """The response code of a status word."""
    return (sw >> SW_RC_SHIFT) & 0xFF


# SE bind states (TAPQ hwinfo bits 16-17).
BS_USABLE = 0
BS_USABLE_NO_SECURE_KEY = 1
BS_AVAILABLE_FOR_BIND = 2
BS_UNUSABLE = 3

# AQIC GR1 controls.
AQIC_IR_BIT = 1 << (63 - 16)
AQIC_ISC_MASK = 0x7

PROGRAM_OPERATION = 0x0001
PROGRAM_PRIVILEGED = 0x0002
PROGRAM_SPECIFICATION = 0x0006


AP_TYPE_CEX4 = 10
"""The oldest AP type Linux drives (``AP_DEVICE_TYPE_CEX4``): the AP bus makes no device
for older adapters (``ap_get_compatible_type``), so no zcrypt sends them anything."""
