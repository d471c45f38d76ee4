"""The AP bus's card and queue devices (apsim.linux.devices): what TAPQ's facility word
says about a card, and the devices' sysfs attributes with the kernel's texts."""

from __future__ import annotations

from apsim.linux.devices import (AP_DEFAULT_MAX_MSG_SIZE, FAC_ACCEL, FAC_CCA, DevState, SMState, hwinfo_at,
                                 hwinfo_bs, hwinfo_fac)
from tests.unit.linux_support import CEX5A, CEX5C, MS, doc_host, run

CARD5 = "/sys/devices/ap/card05"
Q = f"{CARD5}/05.0004"


def test_the_tapq_facility_word_splits_into_functions_type_and_bind_state():
    hw = (0x9000_0000 << 32) | (0b10 << 46) | (13 << 24) | 0x0F07
    assert hwinfo_fac(hw) == 0x9000_0000 | (0b10 << 14) and hwinfo_at(hw) == 13 and hwinfo_bs(hw) == 0b10


def test_a_card_knows_its_type_functions_depth_and_message_size_from_tapq():
    env, m, lp, host = doc_host({5: CEX5C, 6: CEX5A})
    c5, c6 = host.bus.cards[5], host.bus.cards[6]
    assert (c5.raw_type, c5.mode_letter, c6.mode_letter) == (11, "C", "A")
    assert c5.functions & FAC_CCA and c6.functions & FAC_ACCEL
    assert host.read(f"{CARD5}/hwtype") == "11\n" and host.read(f"{CARD5}/modalias") == "ap:t0B\n"
    assert host.read(f"{CARD5}/ap_functions") == f"0x{c5.functions:08X}\n"
    assert host.read(f"{CARD5}/depth") == f"{c5.qd}\n"
    want = c5.ml * 4096 if c5.ml else AP_DEFAULT_MAX_MSG_SIZE
    assert host.read(f"{CARD5}/max_msg_size") == f"{want}\n"
    assert [q.name for q in c5.queues()] == ["05.0004", "05.0047", "05.00ab", "05.00ff"]


def test_a_queues_reset_attribute_reads_the_state_machines_phase():
    env, m, lp, host = doc_host()
    q = host.bus.queues[0x0504]
    assert q.sm_state == SMState.RESET_WAIT and host.read(f"{Q}/reset") == "Reset in progress.\n"
    run(env, 100 * MS)
    assert host.read(f"{Q}/reset") == "No Reset Timer set.\n"
    q.sm_state = SMState.WORKING
    assert host.read(f"{Q}/reset") == "Reset Timer armed.\n"


def test_a_queues_interrupt_attribute_asks_tapq_unless_the_enable_is_pending():
    env, m, lp, host = doc_host()
    run(env, 100 * MS)
    q = host.bus.queues[0x0504]
    assert host.read(f"{Q}/interrupt") == "Interrupts enabled.\n"
    q.sm_state = SMState.SETIRQ_WAIT
    assert host.read(f"{Q}/interrupt") == "Enable Interrupt pending.\n"
    q.sm_state = SMState.IDLE
    host.cpu.aqic(0x0504, enable=False)
    assert host.read(f"{Q}/interrupt") == "Interrupts disabled.\n"


def test_request_count_reads_a_dash_while_no_driver_runs_the_queue():
    env, m, lp, host = doc_host()
    q = host.bus.queues[0x0504]
    q.dev_state = DevState.UNINITIATED
    assert host.read(f"{Q}/request_count") == "-\n" and host.read(f"{Q}/requestq_count") == "0\n"
    q.dev_state = DevState.OPERATING
    assert host.read(f"{Q}/request_count") == "0\n"


def test_config_and_chkstop_read_the_devices_flags():
    env, m, lp, host = doc_host()
    card, q = host.bus.cards[5], host.bus.queues[0x0504]
    card.chkstop = q.chkstop = True
    q.config = False
    assert host.read(f"{CARD5}/chkstop") == "1\n" and host.read(f"{Q}/chkstop") == "1\n"
    assert host.read(f"{Q}/config") == "0\n" and host.read(f"{CARD5}/config") == "1\n"
