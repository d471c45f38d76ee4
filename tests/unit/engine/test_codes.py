"""The architected codes (apsim.engine.codes): response codes with the kernel's values and
names, the status-word layout of ``struct ap_queue_status``, and the GR0 bits."""

from __future__ import annotations

import itertools

import pytest

from apsim.engine import codes
from apsim.engine.codes import FC, RC, make_status, rc_name, status_rc

# drivers/s390/crypto/ap_bus.h AP_RESPONSE_* and arch/s390/include/asm/ap.h PQAP_* values.
KERNEL_RC = {"NORMAL": 0x00, "Q_NOT_AVAIL": 0x01, "RESET_IN_PROGRESS": 0x02, "DECONFIGURED": 0x03,
             "CHECKSTOPPED": 0x04, "BUSY": 0x05, "INVALID_ADDRESS": 0x06, "OTHERWISE_CHANGED": 0x07,
             "INVALID_GISA": 0x08, "Q_BOUND_TO_ANOTHER": 0x09, "STATE_CHANGE_IN_PROGRESS": 0x0A,
             "Q_NOT_BOUND": 0x0B, "Q_FULL": 0x10, "INDEX_TOO_BIG": 0x11, "NO_FIRST_PART": 0x13,
             "MESSAGE_TOO_BIG": 0x15, "REQ_FAC_NOT_INST": 0x16, "Q_BIND_ERROR": 0x30,
             "Q_NOT_AVAIL_FOR_ASSOC": 0x31, "Q_NOT_EMPTY": 0x32, "BIND_LIMIT_EXCEEDED": 0x33,
             "INVALID_ASSOC_SECRET": 0x34, "ASSOC_SECRET_NOT_UNIQUE": 0x35, "ASSOC_FAILED": 0x36,
             "INVALID_DOMAIN": 0x42}
KERNEL_FC = {"TAPQ": 0, "RAPQ": 1, "ZAPQ": 2, "AQIC": 3, "QCI": 4, "QACT": 5, "QBAP": 6, "BAPQ": 7,
             "AAPQ": 8}


def test_response_codes_have_the_kernels_names_and_values():
    assert {rc.name: int(rc) for rc in RC} == KERNEL_RC
    assert RC.Q_FULL.kernel_name == "AP_RESPONSE_Q_FULL"


def test_pqap_function_codes_have_the_kernels_values():
    assert {fc.name: int(fc) for fc in FC} == KERNEL_FC


def test_dqaps_no_pending_reply_is_rc_0x10_and_named_so_only_for_dqap():
    assert codes.NO_PENDING_REPLY == RC.Q_FULL == 0x10
    assert rc_name(0x10, dqap=True) == "NO_PENDING_REPLY"
    assert rc_name(0x10) == "Q_FULL"
    assert rc_name(0x02, dqap=True) == "RESET_IN_PROGRESS"


def test_an_unknown_response_code_is_named_by_its_hex_value():
    assert rc_name(0x77) == "RC_0x77"
    assert rc_name(0x01) == "Q_NOT_AVAIL"


def _bit(n: int) -> int:
    """Bit *n* of a 32-bit word, bit 0 the most significant (the s390 numbering)."""
    return 1 << (31 - n)


def test_status_word_bits_are_those_of_struct_ap_queue_status():
    # queue_empty:1, replies_waiting:1, queue_full:1, :3, async:1, irq_enabled:1, response_code:8
    assert codes.SW_QUEUE_EMPTY == _bit(0)
    assert codes.SW_REPLIES_WAITING == _bit(1)
    assert codes.SW_QUEUE_FULL == _bit(2)
    assert codes.SW_ASYNC == _bit(6)
    assert codes.SW_IRQ_ENABLED == _bit(7)
    assert make_status(0xFF) == 0xFF << (31 - 15)  # the RC byte is bits 8-15


@pytest.mark.parametrize("rc", [int(rc) for rc in RC] + [0xFF])
def test_every_response_code_and_flag_combination_round_trips_through_the_status_word(rc):
    for empty, replies, full, irq, async_ in itertools.product((False, True), repeat=5):
        sw = make_status(rc, empty=empty, replies=replies, full=full, irq=irq, async_=async_)
        assert 0 <= sw < 1 << 32 and sw & 0xFFFF == 0
        assert status_rc(sw) == rc
        assert (bool(sw & codes.SW_QUEUE_EMPTY), bool(sw & codes.SW_REPLIES_WAITING),
                bool(sw & codes.SW_QUEUE_FULL), bool(sw & codes.SW_IRQ_ENABLED),
                bool(sw & codes.SW_ASYNC)) == (empty, replies, full, irq, async_)


def test_make_status_keeps_only_the_low_byte_of_the_response_code():
    assert status_rc(make_status(0x1_10)) == 0x10


def test_gr0_fields_sit_at_the_architected_bits_of_the_low_word():
    # fc in bits 32-39, T bit 40, F bit 41 (of the 64-bit GR0; the kernel's 32-bit value)
    assert 0xFF << codes.GR0_FC_SHIFT == 0xFF000000
    assert codes.GR0_T_BIT == _bit(40 - 32)
    assert codes.GR0_F_BIT == _bit(41 - 32) == codes.GR0_NQAP_SPECIAL
    assert codes.GR0_NQAP_LAST_PART == _bit(33 - 32)
    assert codes.GR0_DQAP_BIT32 == _bit(0)
    assert codes.GR0_RESERVED_PQAP == sum(_bit(b - 32) for b in range(41, 48))


def test_aqics_interruption_request_bit_is_gr1_bit_16():
    assert codes.AQIC_IR_BIT == 1 << (63 - 16)
    assert codes.AQIC_ISC_MASK == 7


def test_the_oldest_type_linux_drives_is_cex4():
    assert codes.AP_TYPE_CEX4 == 10
