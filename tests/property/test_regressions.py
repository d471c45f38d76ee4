"""Shrunk counterexamples, kept as plain tests.

Every failure the property tests ever found is replayed here step by step through
the same :class:`~tests.property.test_isolation_world.World` methods, with the same
checks, so it stays fixed without Hypothesis having to find it again. The second
half holds one deterministic scenario per isolation rule: each fails under the
corresponding mutant of ``tests/property/mutants.py`` (they were written from the
counterexamples the state machine produced for those mutants).
"""

from __future__ import annotations

import textwrap

from apsim.scenario.loader import parse_scenario
from apsim.scenario.run import run_scenario
from tests.property import world_rules
from tests.property.test_isolation_world import UUIDS, World, hang_guard, mask_hex

ALL = set(range(256))


def replay(w: World) -> None:
    """The checks the state machine makes after a step."""
    w.check()
    if w.settled:
        w.check_reference()


# --- bugs found ----------------------------------------------------------------------------------
def test_workload_whose_only_queue_rejects_its_request_type_does_not_hang():
    """Found by the isolation machine (shrunk to boot + one settle).

    Guest g2 runs an rsa2048 workload but its mdev holds only the CEX8P (EP11)
    adapter 0x41, which answers 0x16 to rsa2048. The workload dropped the failing
    target, refresh_targets re-dispatched its stalled requests with no target left,
    _dispatch stalled them again, and the ``while self.stalled`` loop never ended:
    the simulation hung at one instant. Fixed in apsim/engine/control.py
    (refresh_targets stops when no target is left).
    """
    with hang_guard(30):
        w = World()
        w.set_mask("host", "aqmask", "-3\n", ALL - {3})
        replay(w)
        w.create_mdev("host", UUIDS[0] + "\n")
        w.assign("host", "adapter", UUIDS[0], "65\n", 65)
        w.assign("host", "domain", UUIDS[0], "3\n", 3)
        w.start("g2", UUIDS[0])
        replay(w)
        w.settle()
        replay(w)
        wl = w.guests["g2"].workload
        assert wl.rejected >= 1 and wl.completed == 0
        assert w.machine.ledger.rejected[0x16] >= 1


def test_scenario_with_an_ep11_only_guest_and_an_rsa_workload_runs_to_the_end():
    """The same hang through the scenario file a user would write (``apsim run`` never returned)."""
    text = textwrap.dedent("""\
        name: ep11-guest-rsa-load
        duration: 150ms
        machine:
          model: z15
          adapters:
            - {id: 5, type: CEX8, mode: ep11}
            - {id: 6, type: CEX8, mode: cca}
        lpar:
          adapters: [5, 6]
          usage_domains: [3]
        host:
          apmask: "-5"
        mdevs:
          - uuid: 62177883-f1bb-47f0-914d-32a22e3a8804
            assign_adapter: [5]
            assign_domain: [3]
        guests:
          - name: guest1
            mdev: 62177883-f1bb-47f0-914d-32a22e3a8804
            workload: {kind: closed, concurrency: 2, mix: {rsa2048: 1.0}}
        """)
    with hang_guard(30):
        result = run_scenario(parse_scenario(text))
    assert result.sim_time_ns == 150_000_000
    assert result.ledger.rejected[0x16] >= 1 and result.ledger.completed == 0


def test_a_guests_own_instruction_reply_is_not_a_foreign_reply_of_its_workload():
    """Found by test_faults' random schedules (shrunk): gB issues a scenario NQAP to its own
    queue 02.0005 while its workload runs; the workload's DQAP picked that reply up and
    counted it in ``foreign_replies`` (the report's isolation-breach counter), though the
    request was gB's own. Fixed in apsim/engine/workload.py: only a reply with another
    owner is foreign."""
    from tests.property.test_faults import T0, check_run, run, scenario

    r = run(scenario([{"at": f"{T0 - 10 + 50}ms", "do": "fault.checkstop", "adapter": 1},
                      {"at": f"{T0 - 10 + 50}ms", "do": "guest.instruction", "guest": "gB",
                       "op": "NQAP", "apqn": "02.0005"}], rate=5000, duration="150ms", seed=0))
    check_run(r)
    assert r.guests["gB"]["foreign_replies"] == 0


def test_a_control_character_in_a_scenario_file_is_reported_with_its_line(tmp_path):
    """Found by test_fuzz (shrunk to the one-character file ``\\x1f``): ruamel's reader
    error carried no mark, so the loader said ``malformed YAML: ... in "<unicode string>",
    position 0`` without a line. Fixed in apsim/scenario/loader.py."""
    from apsim.errors import ScenarioError
    from apsim.scenario.loader import load_scenario

    for text, line in (("\x1f", 1), ("name: x\nduration: 1ms\x07\n", 2)):
        p = tmp_path / "bad.yaml"
        p.write_text(text, encoding="utf-8")
        try:
            load_scenario(p)
        except ScenarioError as e:
            assert e.line == line and str(e).startswith(f"{p}:{line}: malformed YAML: character 0x00"), e
            assert "<unicode string>" not in str(e)
        else:  # pragma: no cover
            raise AssertionError("accepted a control character")


# --- one scenario per isolation rule (each fails under its mutant in mutants.py) ---------------
def two_guests() -> World:
    """Adapters 01, 02 and 0x41 released to vfio_ap; mdev A = 01 × 3 for g1 (format 2),
    mdev B = 02 × 5 for g3 (format 0)."""
    w = World(workload=False)
    w.set_mask("host", "apmask", "-1,-2,-65\n", ALL - {1, 2, 65})
    for uuid, a, d in ((UUIDS[0], 1, 3), (UUIDS[1], 2, 5)):
        w.create_mdev("host", uuid + "\n")
        w.assign("host", "adapter", uuid, f"{a}\n", a)
        w.assign("host", "domain", uuid, f"{d}\n", d)
    w.start("g1", UUIDS[0])
    w.start("g3", UUIDS[1])
    replay(w)
    return w


def test_filtering_keeps_unconfigured_resources_out_of_the_guest_until_they_arrive():
    """Over-provisioning: adapter 03 (installed, not in the LPAR) and domain 9 (not a usage
    domain) are accepted but filtered out; an SE change brings adapter 03, which is then
    plugged. (Mutant skip-vfio-filtering: the guest gets 03 and 9 at once.)"""
    w = two_guests()
    assert w.set_mask("host", "apmask", "-3\n", ALL - {1, 2, 3, 65}) == "ok"
    assert w.assign("host", "adapter", UUIDS[0], "3\n", 3) == "ok"
    assert w.assign("host", "domain", UUIDS[0], "9\n", 9) == "ok"
    replay(w)
    cfg = w.guests["g1"].kvm.config
    assert cfg.apm.ids() == [1] and cfg.aqm.ids() == [3]
    w.se_configure([1, 2, 65], False)
    w.se_change(add_a=[3])
    w.se_configure([1, 2, 3, 65], True)
    w.settle()
    replay(w)
    assert cfg is w.guests["g1"].kvm.config and w.guests["g1"].kvm.config.apm.ids() == [1, 3]


def test_an_instruction_outside_the_apcb_never_reaches_the_queue():
    """(Mutant skip-sie-apcb-check: g1's NQAP to g3's queue lands on it.)"""
    w = two_guests()
    for op in ("TAPQ", "NQAP", "DQAP", "RAPQ", "ZAPQ", "AQIC_ON"):
        assert w.instruction("g1", op, 0x0205) == "rc01"
        replay(w)
    assert w.instruction("g3", "NQAP", 0x0103) == "rc01"
    assert w.instruction("g3", "NQAP", 0x4105) == "ProgramException"  # APID 0x41 > 63 in format 0


def test_an_apqn_cannot_be_assigned_to_two_mdevs():
    """B = 02 × {3, 5} shares nothing with A = 01 × 3, but adding adapter 01 to B would
    share 01.0003: refused, by assign_adapter and by ap_config. (Mutant skip-eaddrinuse.)"""
    w = two_guests()
    w.assign("host", "domain", UUIDS[1], "3\n", 3)  # B = 02 × {3, 5}: no overlap with A = 01 × 3
    assert w.assign("host", "adapter", UUIDS[1], "1\n", 1) == "EADDRINUSE"
    text = ",".join(mask_hex(s) for s in ({1}, {3}, set())) + "\n"
    assert w.ap_config("host", UUIDS[1], ({1}, {3}, set()), text) == "EADDRINUSE"
    replay(w)


def test_an_apqn_reserved_for_the_host_cannot_be_assigned():
    """Adapter 03 stays in apmask: assigning it next to domain 3 is refused. (Mutant skip-eaddrnotavail.)"""
    w = two_guests()
    w.create_mdev("host", UUIDS[2] + "\n")
    w.assign("host", "domain", UUIDS[2], "3\n", 3)
    assert w.assign("host", "adapter", UUIDS[2], "3\n", 3) == "EADDRNOTAVAIL"
    w.assign("host", "adapter", UUIDS[2], "65\n", 65)
    replay(w)


def test_apmask_cannot_take_back_an_adapter_an_mdev_holds():
    """(Mutant skip-apmask-ebusy: the host takes adapter 01 back from running g1.)"""
    w = two_guests()
    assert w.set_mask("host", "apmask", "+1\n", ALL - {2, 65}) == "EBUSY"
    assert w.set_mask("host", "aqmask", "-0-255,+3\n", {3}) == "ok"  # domains back to vfio_ap...
    assert w.set_mask("host", "aqmask", "+5\n", {3, 5}) == "EBUSY"  # ... but 5 is B's
    replay(w)


def test_requests_do_not_survive_an_unplug_into_the_next_owner():
    """g1 sends to 01.0003; adapter 01 moves from A to B (g3); g3 must not dequeue g1's
    reply. (Mutant no-reset-on-unplug-or-close: it does.)"""
    w = two_guests()
    for _ in range(3):
        assert w.instruction("g1", "NQAP", 0x0103) == "rc00"
    w.assign("host", "adapter", UUIDS[0], "1\n", 1, unassign=True)
    w.assign("host", "domain", UUIDS[0], "3\n", 3, unassign=True)
    w.assign("host", "domain", UUIDS[1], "3\n", 3)
    w.assign("host", "adapter", UUIDS[1], "1\n", 1)
    w.tick(2_000_000)
    for _ in range(4):
        w.instruction("g3", "DQAP", 0x0103)  # asserts the reply is g3's own
        replay(w)
    # vfio_ap's unplug reset (vfio_ap_mdev_hot_unplug_adapter → reset_qlist) drops them.
    assert w.machine.ledger.dropped["hot_unplug"] >= 3


def test_requests_do_not_survive_a_guest_stop_into_the_next_guest():
    """g1 sends, stops; g2 opens the same mdev and dequeues: nothing of g1's may come out.
    (vfio_ap resets the queues on close; g2's AP bus also resets them when it boots, so
    this one holds even without the first reset.)"""
    w = two_guests()
    for _ in range(3):
        assert w.instruction("g1", "NQAP", 0x0103) == "rc00"
    w.tick(2_000_000)
    w.stop("g1")
    # vfio_ap_mdev_close_device → vfio_ap_mdev_unset_kvm → reset_queues: the stop's doing.
    assert w.machine.ledger.dropped["guest_stop"] == 3 and w.machine.ledger.dropped["zeroize"] == 0
    w.start("g2", UUIDS[0])
    for _ in range(4):
        w.instruction("g2", "DQAP", 0x0103)  # asserts the reply is g2's own
        replay(w)


def test_a_nested_guest_loses_an_adapter_with_its_guest_1_at_once():
    """g1n has 01.0003 through g1's own vfio_ap; the host unassigns adapter 01 from g1. At
    that instant g1n must not keep it (before g1's Linux even notices). (Mutant skip-vsie-and.)"""
    w = two_guests()
    w.assign("host", "adapter", UUIDS[0], "65\n", 65)
    w.setup_nested([1, 65], [3])
    replay(w)
    assert w.nested.kvm.config.apm.ids() == [1, 65]
    w.linux("host").write(f"/sys/devices/vfio_ap/matrix/{UUIDS[0]}/unassign_adapter", "1\n")
    w.ref.mdevs[UUIDS[0]].apm.discard(1)
    w.check()  # no time has passed
    assert w.nested.kvm.config.apm.ids() == [65]
    w.settle()
    replay(w)


def test_every_dropped_request_is_in_the_ledger():
    """(Mutant drop-without-ledger: a RAPQ's victims vanish from the books.)"""
    w = two_guests()
    for _ in range(5):
        w.instruction("g1", "NQAP", 0x0103)
    w.instruction("g1", "RAPQ", 0x0103)
    replay(w)
    assert w.machine.ledger.dropped["reset"] == 5


def test_a_queue_unbound_from_vfio_ap_stays_out_of_the_guest_when_vfio_ap_filters_again():
    """Filtering must drop an adapter with a queue no longer bound to vfio_ap (§11.4).

    g2 holds adapters 01 and 02 × domain 3; 01.0003 is unbound from vfio_ap (adapter 01
    leaves g2), then assigning domain 5 makes vfio_ap filter again: 01.0003 is still
    unbound, so adapter 01 must stay out (invariant 2). Fails under the mutant
    ``filter-ignores-vfio-binding``.
    """
    with hang_guard(30):
        w = World()
        w.set_mask("host", "apmask", "-1,-2\n", ALL - {1, 2})
        w.create_mdev("host", UUIDS[0] + "\n")
        w.assign("host", "adapter", UUIDS[0], "1\n", 1)
        w.assign("host", "adapter", UUIDS[0], "2\n", 2)
        w.assign("host", "domain", UUIDS[0], "3\n", 3)
        w.start("g2", UUIDS[0])
        w.settle()
        replay(w)
        world_rules.unbind(w, "host", 0x0103)
        replay(w)
        assert 1 not in w.guests["g2"].kvm.config.apm
        w.assign("host", "domain", UUIDS[0], "5\n", 5)
        w.settle()
        replay(w)
        assert 1 not in w.guests["g2"].kvm.config.apm and 2 in w.guests["g2"].kvm.config.apm


# --- resets, the admin's view, interruptions (world_rules; mutants added after issue 20) ---------
def test_a_guest_system_reset_leaves_none_of_its_requests_in_its_queues():
    """QEMU's system reset is VFIO_DEVICE_RESET: every queue of the mdev is zeroized, so
    no reply of the old boot waits for the new one. (Mutant guest-reset-keeps-requests.)"""
    w = two_guests()
    w.instruction("g1", "NQAP", 0x0103)
    assert w.outstanding["g1"]
    w.reset("g1")  # World.reset checks world_rules.check_reset_cleared at once
    assert not w.outstanding["g1"] and w.machine.ledger.dropped["guest_reset"] == 1
    replay(w)


def test_guest_matrix_shows_exactly_what_the_guest_has():
    """Adapter 03 (not in the LPAR) and domain 9 (no usage domain) are assigned but filtered
    out: guest_matrix shows 01.0003 only, as the guest's APCB. (Mutant
    guest-matrix-shows-assignment: it shows the whole assignment.)"""
    w = two_guests()
    w.set_mask("host", "apmask", "-3\n", ALL - {1, 2, 3, 65})
    w.assign("host", "adapter", UUIDS[0], "3\n", 3)
    w.assign("host", "domain", UUIDS[0], "9\n", 9)
    replay(w)
    shown = w.host.read(f"/sys/devices/vfio_ap/matrix/{UUIDS[0]}/guest_matrix")
    assert shown == "01.0003\n" and w.host.read(f"/sys/devices/vfio_ap/matrix/{UUIDS[0]}/matrix") == (
        "01.0003\n01.0009\n03.0003\n03.0009\n")


def test_aqic_turns_interruptions_on_to_the_guest_and_off_again():
    """AQIC on sends the queue's interruptions to the guest's GISA, AQIC off stops them
    (mutants aqic-enable-without-gisa, aqic-disable-keeps-interrupt)."""
    w = two_guests()
    q = w.machine.adapters[1].queues[3]
    assert w.instruction("g1", "AQIC_ON", 0x0103) == "rc00" and q.irq
    replay(w)
    assert w.instruction("g1", "AQIC_OFF", 0x0103) == "rc00" and not q.irq
    replay(w)


def test_a_stopped_guests_queue_interrupts_nobody():
    """The close of the device resets the queue, and a reset turns interruptions off: the
    next user's replies never signal the old guest. (Mutant reset-keeps-interrupts.)"""
    w = two_guests()
    q = w.machine.adapters[1].queues[3]
    assert w.instruction("g1", "AQIC_ON", 0x0103) == "rc00" and q.irq
    w.stop("g1")
    replay(w)
    assert not q.irq
