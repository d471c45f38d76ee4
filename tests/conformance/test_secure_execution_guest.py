"""Secure Execution (protected virtualization) guests with AP pass-through, end to end:
the guest's AP bus, its se_bind / se_associate attributes, zcrypt's use of bound queues,
lszcrypt's SESTAT column, and what resets do to a binding.

Cases derived from drivers/s390/crypto/ap_queue.c and ap_bus.c (Linux), s390-tools
zconf/zcrypt/lszcrypt.c and chzcrypt.c, QEMU target/s390x/kvm/pv.c and arch/s390/kvm/pv.c.
"""

from __future__ import annotations

import errno

import pytest

from apsim.errors import ConfigError, ScenarioError, SysfsError
from apsim.hw.cards import decode_hwinfo
from apsim.engine.codes import BS_AVAILABLE_FOR_BIND, BS_USABLE, BS_USABLE_NO_SECURE_KEY, RC
from apsim.engine.config import parse_qci
from apsim.linux.devices import DevState, SMState
from apsim.scenario.build import build
from apsim.scenario.loader import parse_scenario
from apsim.scenario.run import schedule_timeline

MS = 1_000_000
UUID = "00000000-0000-4000-8000-00000000005e"
EP11, ACCEL, CCA = 0x0309, 0x0409, 0x0509
DEV = "/sys/bus/ap/devices"
READY = 90 * MS
"""The guest's guest.ready (apsim/guest/boot.py): QEMU's machine reset verified at 40 ms
(the host's own resets still run at 0), the kernel boots for DEFAULT_BOOT_NS (10 ms), the AP
bus scans at 50 ms and its queues settle at the 40 ms low poll."""
BOOTED = READY + 20 * MS

SCENARIO = f"""
name: se
duration: 1s
machine:
  model: {{model}}
  adapters:
    - {{{{id: 3, type: CEX8, mode: ep11}}}}
    - {{{{id: 4, type: CEX8, mode: accelerator}}}}
    - {{{{id: 5, type: CEX8, mode: cca}}}}
lpar: {{{{adapters: [3, 4, 5], usage_domains: [9], control_domains: [9]}}}}
host: {{{{apmask: "-3-5"}}}}
mdevs:
  - {{{{uuid: {UUID}, assign_adapter: [3, 4, 5], assign_domain: [9]}}}}
guests:
  - name: g
    mdev: {UUID}
    secure: {{secure}}
{{extra}}
"""


def sim_of(*, secure: bool = True, model: str = "z16", extra: str = ""):  # noqa: ANN201
    """The scenario built and run until the guest's Linux has booted."""
    sim = build(parse_scenario(SCENARIO.format(model=model, secure=str(secure).lower(), extra=extra)))
    schedule_timeline(sim)
    sim.env.run(until=BOOTED)
    if sim.guests["g"].linux.bus is not None:
        assert sim.ready_ns["g"] == READY, sim.ready_ns
    return sim


def at(sim, ns: int) -> None:  # noqa: ANN001
    sim.env.run(until=sim.env.now + ns)


def attr(apqn: int, name: str) -> str:
    return f"{DEV}/card{apqn >> 8:02x}/{apqn >> 8:02x}.{apqn & 0xFF:04x}/{name}"


def read(sim, apqn: int, name: str) -> str:  # noqa: ANN001
    return sim.guests["g"].linux.sysfs.read(attr(apqn, name))


def write(sim, apqn: int, name: str, value: str) -> None:  # noqa: ANN001
    sim.guests["g"].linux.sysfs.write(attr(apqn, name), value)


def errno_of(sim, apqn: int, name: str, value: str) -> int:  # noqa: ANN001
    with pytest.raises(SysfsError) as e:
        write(sim, apqn, name, value)
    return e.value.errno


def bs(sim, apqn: int) -> int:  # noqa: ANN001
    return decode_hwinfo(sim.guests["g"].cpu.tapq(apqn, t=True).gr2)["bs"]


def bind_and_associate(sim, index: int = 5) -> None:  # noqa: ANN001
    write(sim, EP11, "se_bind", "1")
    write(sim, EP11, "se_associate", str(index))
    at(sim, 50 * MS)


def guest_queue(sim, apqn: int):  # noqa: ANN001, ANN201
    return sim.guests["g"].linux.bus.queues[apqn]


# --- the facility ---------------------------------------------------------------------------
def test_se_guest_qci_reports_the_apsb_facility_and_the_bus_lists_it():
    """ap_bus.c ap_sb_available() reads QCI's APSB bit; features_show prints it last
    ("APSC APXA QACT RC8A APSB"), which is how s390-tools' ap_bus_has_SB_support() decides."""
    sim = sim_of()
    assert parse_qci(sim.guests["g"].cpu.qci().qci)["apsb"]
    assert sim.guests["g"].linux.sysfs.read("/sys/bus/ap/features") == "APSC APXA QACT RC8A APSB\n"


def test_a_normal_guest_has_no_apsb_and_no_se_attributes():
    """ap_queue.c ap_queue_create adds the se_bind/se_associate group only when
    ap_sb_available() && is_prot_virt_guest()."""
    sim = sim_of(secure=False)
    fs = sim.guests["g"].linux.sysfs
    assert "APSB" not in fs.read("/sys/bus/ap/features")
    assert not fs.exists(attr(EP11, "se_bind")) and not fs.exists(attr(EP11, "se_associate"))
    assert bs(sim, EP11) == BS_USABLE


def test_tapq_bs_field_goes_from_available_to_bound_to_usable():
    """asm/ap.h AP_BS_Q_*: TAPQ's GR2 bs bits read 2 (available for binding), 1 after
    BAPQ (usable, no secure key), 0 once the association completes (ap_sm_assoc_wait)."""
    sim = sim_of()
    assert bs(sim, EP11) == BS_AVAILABLE_FOR_BIND
    write(sim, EP11, "se_bind", "1")
    assert bs(sim, EP11) == BS_USABLE_NO_SECURE_KEY
    write(sim, EP11, "se_associate", "5")
    at(sim, 50 * MS)
    assert bs(sim, EP11) == BS_USABLE


# --- se_bind -------------------------------------------------------------------------------
def test_se_bind_reads_unbound_then_bound():
    """ap_queue.c se_bind_show: "bound" for bs 0/1, "unbound" otherwise; se_bind_store(1)
    issues BAPQ and verifies bs 0/1 with a second TAPQ."""
    sim = sim_of()
    assert read(sim, EP11, "se_bind") == "unbound\n"
    write(sim, EP11, "se_bind", "1")
    assert read(sim, EP11, "se_bind") == "bound\n"
    assert sim.machine.lpars["lpar1"].queues[EP11].bound_by is sim.guests["g"].kvm.config


def test_se_bind_on_a_cca_queue_reads_a_dash_and_refuses_writes():
    """ap_queue.c ap_q_supports_bind (EP11 or accelerator only): se_bind_show prints "-",
    se_bind_store returns -EINVAL."""
    sim = sim_of()
    assert read(sim, CCA, "se_bind") == "-\n"
    assert read(sim, CCA, "se_associate") == "-\n"
    assert errno_of(sim, CCA, "se_bind", "1") == errno.EINVAL


def test_se_bind_takes_a_boolean_only():
    """se_bind_store: kstrtobool's -EINVAL for anything but y/n/1/0/on/off."""
    sim = sim_of()
    assert errno_of(sim, EP11, "se_bind", "2") == errno.EINVAL
    write(sim, EP11, "se_bind", "on")
    assert read(sim, EP11, "se_bind") == "bound\n"


def test_binding_a_bound_queue_again_is_einval():
    """se_bind_store: a bind needs bs AP_BS_Q_AVAIL_FOR_BINDING, else -EINVAL."""
    sim = sim_of()
    write(sim, EP11, "se_bind", "1")
    assert errno_of(sim, EP11, "se_bind", "1") == errno.EINVAL


def test_binding_during_a_reset_is_eio_then_ebusy_until_the_state_machine_settles():
    """se_bind_store checks TAPQ first (any RC → -EIO: 0x02 while the queue resets), then
    sm_state < AP_SM_STATE_IDLE → -EBUSY (the reset is done, the state machine's
    40 ms poll has not seen it yet)."""
    sim = sim_of()
    write(sim, EP11, "reset", "1")
    assert errno_of(sim, EP11, "se_bind", "1") == errno.EIO
    at(sim, sim.machine.profile.reset_ns)
    assert guest_queue(sim, EP11).sm_state < SMState.IDLE
    assert errno_of(sim, EP11, "se_bind", "1") == errno.EBUSY


def test_se_bind_0_unbinds_through_a_reset_with_the_f_bit():
    """se_bind_store(0): __ap_flush_queue, rapq_fbit = 1, _ap_queue_init_state; ap_sm_reset
    issues RAPQ with the F bit, which unbinds; the state machine clears rapq_fbit."""
    sim = sim_of()
    write(sim, EP11, "se_bind", "1")
    write(sim, EP11, "se_bind", "0")
    q = guest_queue(sim, EP11)
    assert q.sm_state == SMState.RESET_WAIT and not q.rapq_fbit
    at(sim, 50 * MS)
    assert read(sim, EP11, "se_bind") == "unbound\n"
    assert q.sm_state == SMState.IDLE


def test_the_guests_own_plain_reset_keeps_the_binding():
    """ap_sm_reset issues RAPQ with aq->rapq_fbit, which is 0 except after se_bind 0: a
    reset through the queue's reset attribute keeps the queue bound."""
    sim = sim_of()
    write(sim, EP11, "se_bind", "1")
    write(sim, EP11, "reset", "1")
    at(sim, 50 * MS)
    assert read(sim, EP11, "se_bind") == "bound\n"


# --- se_associate ---------------------------------------------------------------------------
def test_associate_before_bind_is_einval():
    """se_associate_store: bs must be AP_BS_Q_USABLE_NO_SECURE_KEY (bound, unassociated),
    else -EINVAL — chzcrypt --se-associate needs a bound queue."""
    sim = sim_of()
    assert read(sim, EP11, "se_associate") == "unassociated\n"
    assert errno_of(sim, EP11, "se_associate", "5") == errno.EINVAL


@pytest.mark.parametrize("value, err", [("0x10000", errno.EINVAL), ("65536", errno.EINVAL),
                                        ("five", errno.EINVAL), ("-1", errno.EINVAL),
                                        ("4294967296", errno.ERANGE)])
def test_association_index_parsing(value, err):
    """se_associate_store: kstrtouint(buf, 0) (-EINVAL / -ERANGE), then an index at or
    above ASSOC_IDX_INVALID (0x10000) → -EINVAL."""
    sim = sim_of()
    write(sim, EP11, "se_bind", "1")
    assert errno_of(sim, EP11, "se_associate", value) == err


def test_accelerator_queue_has_no_association():
    """ap_q_supports_assoc (EP11 only): se_associate reads "-" and refuses writes on an
    accelerator queue, which is usable once bound (bs 1)."""
    sim = sim_of()
    write(sim, ACCEL, "se_bind", "1")
    assert read(sim, ACCEL, "se_associate") == "-\n"
    assert errno_of(sim, ACCEL, "se_associate", "1") == errno.EINVAL
    assert read(sim, ACCEL, "se_bind") == "bound\n"


def test_association_is_pending_then_associated_with_its_index():
    """se_associate_store issues AAPQ (GR2 = index) and enters AP_SM_STATE_ASSOC_WAIT;
    se_associate_show: "association pending" while bs is 1 with an index, then
    ap_sm_assoc_wait sees bs 0 and goes IDLE: "associated N"."""
    sim = sim_of()
    write(sim, EP11, "se_bind", "1")
    write(sim, EP11, "se_associate", "0x7")
    q = guest_queue(sim, EP11)
    assert q.sm_state == SMState.ASSOC_WAIT
    assert read(sim, EP11, "se_associate") == "association pending\n"
    at(sim, 50 * MS)
    assert q.sm_state == SMState.IDLE
    assert read(sim, EP11, "se_associate") == "associated 7\n"


def test_associating_while_the_state_machine_is_not_idle_is_ebusy():
    """se_associate_store: sm_state != AP_SM_STATE_IDLE → -EBUSY (here: a reset has ended
    but the state machine has not polled it yet)."""
    sim = sim_of()
    write(sim, EP11, "se_bind", "1")
    write(sim, EP11, "reset", "1")
    at(sim, sim.machine.profile.reset_ns)
    assert errno_of(sim, EP11, "se_associate", "5") == errno.EBUSY


def test_aapq_with_an_unknown_secret_is_eio():
    """se_associate_store: any AAPQ response code but 0x00 and 0x0A → -EIO (here 0x34,
    AP_RESPONSE_INVALID_ASSOC_SECRET: no secret at that index)."""
    sim = sim_of()
    write(sim, EP11, "se_bind", "1")
    cfg = sim.guests["g"].kvm.config
    assert errno_of(sim, EP11, "se_associate", str(cfg.se_secrets)) == errno.EIO


# --- instructions and zcrypt ------------------------------------------------------------------
def test_nqap_answers_not_bound_then_state_change_in_progress_then_accepts():
    """AP_RESPONSE_Q_NOT_BOUND (0x0B) before BAPQ, AP_RESPONSE_STATE_CHANGE_IN_PROGRESS
    (0x0A) while AAPQ runs, 0 once associated (ap_bus.h response codes)."""
    sim = sim_of()
    cpu = sim.guests["g"].cpu
    assert cpu.enqueue(EP11, 1, "ep11_low").rc == RC.Q_NOT_BOUND
    write(sim, EP11, "se_bind", "1")
    write(sim, EP11, "se_associate", "5")
    assert cpu.enqueue(EP11, 2, "ep11_low").rc == RC.STATE_CHANGE_IN_PROGRESS
    at(sim, 50 * MS)
    assert cpu.enqueue(EP11, 3, "ep11_low").rc == 0


def run_instructions(timeline: str, count: int, *, until: int):  # noqa: ANN201
    """Run a scenario whose timeline holds *count* guest.instruction checks; all must pass."""
    sim = sim_of(extra=timeline)
    sim.env.run(until=until)
    checks = [e for e in sim.timeline.entries if e.do == "guest.instruction"]
    assert len(checks) == count and all(e.passed for e in checks), \
        [(e.expected, e.actual, e.outcome) for e in checks]
    return sim


def test_bapq_and_aapq_as_scenario_instructions():
    """asm/ap.h ap_bapq (PQAP fc 7) and ap_aapq (fc 8, secret index in GR2) from a
    scenario's guest.instruction; AAPQ on an unbound queue answers 0x0B."""
    tl = ("timeline:\n"
          "  - {at: 120ms, do: guest.instruction, guest: g, op: AAPQ, apqn: '03.0009', secret_index: 1,"
          " expect: {cc: 3, rc: 0x0b}}\n"
          "  - {at: 121ms, do: guest.instruction, guest: g, op: BAPQ, apqn: '03.0009', expect: {cc: 0, rc: 0}}\n"
          "  - {at: 122ms, do: guest.instruction, guest: g, op: AAPQ, apqn: '03.0009', secret_index: 1,"
          " expect: {cc: 0, rc: 0}}\n")
    sim = run_instructions(tl, 3, until=150 * MS)
    assert bs(sim, EP11) == BS_USABLE


def test_tapq_bs_in_a_scenario_expectation():
    """asm/ap.h struct ap_tapq_hwinfo: bs is GR2 bits 16-17 of a TAPQ with the T bit;
    a scenario's TAPQ expectation compares it (2 unbound EP11, 3 for the CCA queue)."""
    tl = ("timeline:\n"
          "  - {at: 120ms, do: guest.instruction, guest: g, op: TAPQ, apqn: '03.0009', t: true, expect: {bs: 2}}\n"
          "  - {at: 120ms, do: guest.instruction, guest: g, op: TAPQ, apqn: '05.0009', t: true, expect: {bs: 3}}\n")
    run_instructions(tl, 2, until=130 * MS)


def test_bs_expectation_needs_tapq_with_the_t_bit():
    """Without the T bit TAPQ stores no facility information in GR2."""
    with pytest.raises(ScenarioError, match="expect.bs"):
        sim_of(extra="timeline:\n  - {at: 120ms, do: guest.instruction, guest: g, op: TAPQ, apqn: '03.0009',"
                     " expect: {bs: 2}}\n")


def test_aapq_without_secret_index_is_a_located_error():
    """ap_aapq takes the secret index in GR2: a scenario must give it."""
    with pytest.raises(ScenarioError, match="secret_index"):
        sim_of(extra="timeline:\n  - {at: 120ms, do: guest.instruction, guest: g, op: AAPQ, apqn: '03.0009'}\n")


def test_zcrypt_sends_only_to_bound_queues():
    """ap_queue.c ap_queue_usable: a queue that supports binding (ap_q_needs_bind) is
    usable only with bs 0 or 1; the CCA queue needs no binding."""
    sim = sim_of()
    port = sim.guests["g"].port
    assert port.targets() == [CCA]
    write(sim, ACCEL, "se_bind", "1")
    assert port.targets() == [ACCEL, CCA]
    bind_and_associate(sim)
    assert port.targets() == [EP11, ACCEL, CCA]


def test_a_queue_waiting_for_its_association_carries_no_requests():
    """ap_jumptable: AP_SM_STATE_ASSOC_WAIT polls ap_sm_assoc_wait only, it sends nothing."""
    sim = sim_of()
    write(sim, EP11, "se_bind", "1")
    assert EP11 in sim.guests["g"].port.targets()
    write(sim, EP11, "se_associate", "5")
    assert EP11 not in sim.guests["g"].port.targets()


# --- lszcrypt -----------------------------------------------------------------------------------
def _sestat(sim) -> dict[str, str]:  # noqa: ANN001
    lines = sim.guests["g"].lszcrypt(verbose=True).splitlines()
    assert lines[0].split()[-1] == "SESTAT"
    return {ln.split()[0]: ln.split()[-1] for ln in lines[2:] if ln and not ln.startswith("Warning")}


def test_lszcrypt_sestat_shows_unbound_bound_usable_and_illicit():
    """lszcrypt.c read_subdev_rec_verbose: with ap_bus_has_SB_support(), SESTAT decodes
    EXTRACT_BS_BITS of the queue's ap_functions: 0 usable, 1 bound, 2 unbound, 3 illicit;
    cards show "-" (read_rec_verbose)."""
    sim = sim_of()
    assert _sestat(sim) == {"03": "-", "03.0009": "unbound", "04": "-", "04.0009": "unbound",
                            "05": "-", "05.0009": "illicit"}
    write(sim, ACCEL, "se_bind", "1")
    bind_and_associate(sim)
    got = _sestat(sim)
    assert (got["03.0009"], got["04.0009"], got["05.0009"]) == ("usable", "bound", "illicit")


def test_lszcrypt_has_no_sestat_column_without_apsb():
    """lszcrypt.c define_rec_verbose adds SESTAT only when /sys/bus/ap/features has APSB."""
    sim = sim_of(secure=False)
    assert "SESTAT" not in sim.guests["g"].lszcrypt(verbose=True)


def test_lszcrypt_bus_view_lists_the_apsb_feature():
    """lszcrypt.c show_bus prints the bus's features line first ("features: ... APSB")."""
    from apsim.linux.lszcrypt import render_bus

    sim = sim_of()
    assert render_bus(sim.guests["g"].linux).splitlines()[0] == "features: APSC APXA QACT RC8A APSB"


def test_lszcrypt_capability_view_shows_the_se_states():
    """lszcrypt.c show_queue_capability prints "SE bind state" and "SE association state"
    from the se_bind / se_associate attributes when they exist."""
    from apsim.linux.lszcrypt import render_capability

    sim = sim_of()
    bind_and_associate(sim, 3)
    out = render_capability(sim.guests["g"].linux, "03.0009")
    assert "SE bind state: bound\n" in out and "SE association state: associated 3\n" in out


# --- resets from outside ---------------------------------------------------------------------
def test_qemu_system_reset_unbinds_every_queue():
    """vfio_ap's VFIO_DEVICE_RESET resets the guest's queues with ZAPQ from the host: the
    binding is gone (ap_sm_assoc_wait: "reset from 'outside' happened")."""
    sim = sim_of()
    write(sim, ACCEL, "se_bind", "1")
    bind_and_associate(sim)
    sim.guests["g"].reset()
    at(sim, 10 * MS)
    assert read(sim, EP11, "se_bind") == "unbound\n" and read(sim, ACCEL, "se_bind") == "unbound\n"
    assert read(sim, EP11, "se_associate") == "unassociated\n"


def test_outside_reset_during_association_puts_the_queue_in_error():
    """ap_sm_assoc_wait: a bs other than 0/1 while waiting → assoc_idx invalid and
    AP_DEV_STATE_ERROR; the next bus scan re-initializes the queue (ap_scan_domains)."""
    sim = sim_of()
    write(sim, EP11, "se_bind", "1")
    write(sim, EP11, "se_associate", "5")
    sim.guests["g"].reset()
    at(sim, 50 * MS)
    q = guest_queue(sim, EP11)
    assert q.dev_state == DevState.ERROR
    sim.guests["g"].linux.scan()
    assert q.dev_state == DevState.OPERATING
    at(sim, 50 * MS)
    assert read(sim, EP11, "se_bind") == "unbound\n"


def test_hot_unplug_of_a_bound_queue_unbinds_it():
    """vfio_ap resets an unassigned queue (vfio_ap_mdev_reset_queue → ZAPQ by the host):
    after the domain comes back the guest finds the queue unbound."""
    sim = sim_of()
    bind_and_associate(sim)
    host = sim.host
    path = f"/sys/devices/vfio_ap/matrix/{UUID}"
    host.sysfs.write(f"{path}/unassign_adapter", "3")
    at(sim, 10 * MS)
    assert sim.machine.lpars["lpar1"].queues[EP11].bound_by is None
    host.sysfs.write(f"{path}/assign_adapter", "3")
    at(sim, 40 * MS)
    assert read(sim, EP11, "se_bind") == "unbound\n"


def test_guest_stop_releases_the_binding():
    """Closing the vfio-ap device resets the queues (vfio_ap_mdev_close_device →
    vfio_ap_mdev_reset_queues): nothing stays bound to the destroyed configuration."""
    sim = sim_of()
    bind_and_associate(sim)
    cfg = sim.guests["g"].kvm.config
    sim.guests["g"].stop()
    assert sim.machine.lpars["lpar1"].queues[EP11].bound_by is None
    assert cfg.se_bound == 0


# --- where an SE guest cannot run ---------------------------------------------------------------
def test_a_machine_without_unpack_refuses_a_secure_guest_with_qemus_message():
    """QEMU s390_pv_kvm_init: no S390_FEAT_UNPACK → "CPU model does not support Protected
    Virtualization" (unpack is in QEMU's CPU models from the z15 on)."""
    with pytest.raises(ScenarioError, match=r"guests\[0\]\.secure: .*CPU model does not support Protected"):
        sim_of(model="z14")


def test_a_z15_secure_guest_gets_no_ap_device():
    """kvm_s390_pv_init_vm sets ap_allow_instr from the guest's UV feature appv, which QEMU
    offers from the z16 (full_GEN16_GA1) on: an SE guest on a z15 has no AP pass-through."""
    with pytest.raises(ScenarioError, match=r"guests\[0\]\.mdev: .*appv"):
        sim_of(model="z15")


def test_a_z15_secure_guest_without_a_device_runs_without_ap_instructions():
    """Without the UV's AP feature the protected guest's AP instructions are not available."""
    text = SCENARIO.format(model="z15", secure="true", extra="").replace(f"    mdev: {UUID}\n", "")
    sim = build(parse_scenario(text))
    schedule_timeline(sim)
    sim.env.run(until=BOOTED)
    assert not sim.guests["g"].kvm.cpu.ap
    assert sim.guests["g"].linux.bus is None


def test_a_secure_guest_cannot_host_guests():
    """A protected guest has no SIE of its own: it cannot run KVM guests."""
    with pytest.raises(ScenarioError, match=r"guests\[0\]\.guests: .*cannot host guests"):
        sim_of(extra="    guests:\n      - {name: g2}\n")


def test_a_nested_guest_cannot_be_secure():
    """Protected guests need the ultravisor, which only an LPAR's KVM has."""
    with pytest.raises(ScenarioError, match=r"guests\[0\]\.guests\[0\]\.secure: .*ultravisor"):
        sim_of(secure=False, extra="    guests:\n      - {name: g2, secure: true}\n")


def test_kvm_refuses_a_secure_guest_below_a_guest():
    """The KVM layer makes the same refusal for callers that bypass the scenario checks."""
    from apsim.kvm import KVM, KvmOptions

    sim = sim_of(secure=False)
    with pytest.raises(ConfigError, match="ultravisor"):
        KVM(sim.env, sim.machine, sim.guests["g"].kvm, "g2", options=KvmOptions(secure=True))
