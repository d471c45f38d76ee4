"""The scenario models: what each key accepts, what it turns into, and the helpers the
builder uses. Values are written the way a YAML author writes them."""

from __future__ import annotations

import copy
import re

import pytest
from pydantic import ValidationError

from apsim.hw.cards import CardType, Mode
from apsim.ids import apqn
from apsim.scenario import ACTION_NAMES, Scenario, parse_scenario
from apsim.units import MS, S, US
from tests.unit.scenario_samples import THREE_GUESTS, UUID1, UUID2

BASE = {
    "name": "t", "duration": "50ms",
    "machine": {"max_domain_id": 255, "adapters": [{"id": 5, "type": "CEX7", "mode": "cca"},
                                                   {"id": 6, "type": "CEX7", "mode": "accelerator"}]},
    "lpar": {"adapters": [5, 6], "usage_domains": [4, 0x47]},
}


def scen(**over) -> Scenario:
    d = copy.deepcopy(BASE)
    d.update(over)
    return Scenario.model_validate(d)


def test_three_guest_example_parses_into_ns_ids_and_apqns():
    """The documentation's example loads; durations become ns, hex ids ints, APQNs ints."""
    sc = parse_scenario(THREE_GUESTS)
    assert sc.duration == 100 * MS
    assert sc.lpar.usage_domains == [4, 0x47, 0xAB, 0xFF]
    assert sc.mdevs[1].assign_domain == [0x47, 0xFF]
    assert sc.guests[2].start == 5 * MS
    ins = sc.timeline[4]
    assert ins.do == "guest.instruction" and ins.apqn == apqn(6, 0x47)
    assert ins.expect.cc == 3 and ins.expect.rc == 1
    assert sc.timeline[3].expect == "05.0004\n05.00ab\n06.0004\n06.00ab\n"
    assert sc.api_version == "apsim/v1" and sc.mode == "full" and sc.replications == 1


def test_defaults():
    """Unset keys take the documented defaults."""
    sc = scen(guests=[{"name": "g"}], host={})
    assert sc.seed == 1 and sc.warmup == 0 and sc.kernel == "6.19" and sc.fixes == [] and sc.mode == "full"
    assert sc.machine.model == "z15" and sc.machine.apxa and sc.machine.arbitration == "fifo"
    a = sc.machine.adapters[0]
    assert (a.engines, a.queue_depth, a.ml) == (4, 8, 0)
    assert sc.lpar.name == "lpar1" and sc.lpar.standby == []
    assert sc.host.config_time == 30 * S and sc.host.poll == "lpar" and sc.host.apmask is None
    g = sc.guests[0]
    assert g.vcpus == 2 and g.start == 0 and g.stop is None and g.mdev is None
    assert g.cpu.ap and g.cpu.apft and g.cpu.apqci and g.cpu.apqi and g.cpu.msax3
    assert sc.timing.profile == "default"


def test_control_domains_default_to_usage_domains():
    """On the HMC a usage domain is also a control domain."""
    assert scen().lpar.control_domains == [4, 0x47]
    sc = scen(lpar={"adapters": [5], "usage_domains": [4], "control_domains": []})
    assert sc.lpar.control_domains == []


@pytest.mark.parametrize("written, value", [(5, 5), ("5", 5), ("0x47", 0x47), (" 0xFF ", 255), (0, 0)])
def test_ids_accept_decimal_and_hex(written, value):
    """Ids are decimal or 0x hex, as ints or strings."""
    assert scen(lpar={"adapters": [5], "usage_domains": [written]}).lpar.usage_domains == [value]


@pytest.mark.parametrize("written, rule", [(256, "out of range 0..255"), (-1, "out of range"),
                                            ("0x100", "out of range"), ("five", "not an id"),
                                            (True, "not an id"), (1.5, "not an id")])
def test_bad_ids_are_refused_with_the_rule(written, rule):
    """Out-of-range or malformed ids name the rule."""
    with pytest.raises(ValidationError, match=rule):
        scen(lpar={"adapters": [5], "usage_domains": [written]})


def test_type_letter_sets_mode():
    """`type: CEX5C` implies mode cca; a contradicting mode is an error."""
    sc = scen(machine={"adapters": [{"id": 1, "type": "CEX5C"}, {"id": 2, "type": "cex8p"},
                                    {"id": 3, "type": "CEX6A", "mode": "accelerator"}]},
              lpar={})
    a1, a2, a3 = sc.machine.adapters
    assert (a1.type, a1.mode, a1.type_name) == ("CEX5", "cca", "CEX5C")
    assert (a2.type, a2.mode) == ("CEX8", "ep11")
    assert a3.card_spec().type is CardType.CEX6 and a3.card_spec().mode is Mode.ACCELERATOR
    with pytest.raises(ValidationError, match="is a cca adapter"):
        scen(machine={"adapters": [{"id": 1, "type": "CEX5C", "mode": "ep11"}]}, lpar={})


def test_machine_maxima_come_from_the_model_unless_overridden():
    """na/nd: the model's Na/Nd or the override."""
    sc = scen()
    assert sc.machine.na == 255 and sc.machine.nd == 255
    sc = scen(machine={"model": "Z16", "adapters": []}, lpar={})
    assert sc.machine.model == "z16" and sc.machine.nd == 84


@pytest.mark.parametrize("written, ns", [("10ms", 10 * MS), ("1.5us", 1500), ("2s", 2 * S), ("7ns", 7),
                                         (0, 0), ("0ms", 0), ("250 us", 250 * US)])
def test_durations_take_units(written, ns):
    """Durations are written with ns, us, ms or s and become integer ns."""
    assert scen(host={"config_time": written}).host.config_time == ns


@pytest.mark.parametrize("written, rule", [(5, "needs a unit"), ("-5ms", "negative"), ("5 min", "not a duration"),
                                            ("0.5ns", "whole number"), (-1, "negative")])
def test_bad_durations(written, rule):
    """Bare numbers, negative times and unknown units are refused."""
    with pytest.raises(ValidationError, match=rule):
        scen(host={"config_time": written})


def test_uuid_validated_and_lowercased():
    """mdev UUIDs are 8-4-4-4-12 hex; stored lower case."""
    sc = scen(mdevs=[{"uuid": UUID1.upper()}])
    assert sc.mdevs[0].uuid == UUID1
    with pytest.raises(ValidationError, match="not a UUID"):
        scen(mdevs=[{"uuid": "62177883-f1bb-47f0-914d"}])


def test_mask_strings_follow_the_ap_bus_grammar():
    """apmask/aqmask: 0x + hex digits, or +n/-n/+a-b terms; unquoted numbers are refused."""
    for ok in ("-5,-6", "+0-255", "0xffff", "0x" + "f" * 64, "-4,-0x47,-0xab,-0xff", "+0-15,-3"):
        assert scen(host={"apmask": ok}).host.apmask == ok
    for bad, rule in (("0x" + "f" * 65, "more than 64 hex digits"), ("+0-256", "bit 256 is outside"),
                      ("5,-6", "bad mask"), ("+5;-6", "starts with '+' or '-'"), (65535, "in quotes"),
                      ("+9-3", "runs backwards"), ("0X41", "bad mask")):
        with pytest.raises(ValidationError, match=re.escape(rule)):
            scen(host={"aqmask": bad})


def test_timing_profile_with_overrides():
    """timing: a named profile plus TimingProfile fields; durations may carry units."""
    sc = scen(timing={"profile": "deterministic", "nqap_ns": "5us", "cv": 0.2, "k_ns": {"cca": 100}})
    prof = sc.timing_profile()
    assert prof.distribution == "deterministic" and prof.nqap_ns == 5000 and prof.cv == 0.2
    assert prof.k_ns["cca"] == 100
    with pytest.raises(ValidationError, match="unknown timing profile"):
        scen(timing={"profile": "nope"})
    with pytest.raises(ValidationError, match="Extra inputs|extra"):
        scen(timing={"nqap": "5us"})
    with pytest.raises(ValidationError, match="empirical"):
        scen(timing={"distribution": "empirical"})


ACTIONS = {
    "se.configure_on": {"adapters": [5]},
    "se.configure_off": {"adapters": [5, "0x06"], "lpar": "lpar1"},
    "se.change_lpar_crypto": {"add_adapters": [5], "remove_usage_domains": [4], "expect": "refused"},
    "sclp.configure_ap": {"adapter": 6},
    "sclp.deconfigure_ap": {"adapter": "0x6"},
    "sysfs.write": {"path": "/sys/bus/ap/apmask", "value": "-5", "expect_errno": "EBUSY"},
    "sysfs.read": {"path": "/sys/bus/ap/aqmask", "guest": "g", "expect": "0x00\n"},
    "guest.start": {"guest": "g"},
    "guest.stop": {"guest": "g"},
    "guest.reset": {"guest": "g"},
    "guest.instruction": {"guest": "g", "op": "AQIC", "apqn": "05.0004", "enable": True, "isc": 3,
                          "nib": "0x1000", "expect": {"cc": 0, "irq_enabled": True}},
    "guest.lszcrypt": {"guest": "g", "verbose": True, "expect": ["05.0004 CEX7C CCA-Coproc"]},
    "host.lszcrypt": {"expect": ["05 CEX7C"]},
    "host.dmesg": {"expect": ["vfio_ap_mdev .*: Userspace may not assign"], "absent": ["re-assign"]},
    "guest.dmesg": {"guest": "g", "expect": ["^\\[ *[0-9.]+\\] ap: "], "dbf": True},
    "uevents": {"expect": ["^/sys/devices/ap/card05 ONLINE=0$"]},
    "fault.checkstop": {"adapter": 5},
    "fault.clear": {"adapter": 5},
    "mdevctl.start": {"uuid": UUID1, "expect": "refused"},
    "mdevctl.stop": {"uuid": UUID1},
    "qemu.device_add": {"guest": "g", "mdev": UUID1, "id": "ap0", "expect": "ok"},
    "qemu.device_del": {"guest": "g", "id": "ap0"},
    "qemu.migrate": {"guest": "g", "expect": "refused"},
    "fault.inject": {"apqns": ["05.0004"], "instructions": ["NQAP"], "rc": "0x04"},
    "kvm.masks": {"guest": "g", "expect": {"apm": [5], "updates": 1, "last": "set_masks"}},
    "vfio.open": {"mdev": UUID1, "guest": "g", "expect_errno": "EPERM"},
    "vfio.get_info": {"guest": "g", "expect": {"flags": "0x21", "num_irqs": 2}},
    "vfio.get_irq_info": {"guest": "g", "index": 2, "expect_errno": "EINVAL"},
    "vfio.set_irqs": {"guest": "g", "index": 0, "fd": -1},
    "vfio.reset": {"guest": "g"},
    "vfio.ioctl": {"guest": "g", "cmd": "0x3b6c", "expect_errno": "EOPNOTSUPP"},
    "qemu.log": {"guest": "g", "expect": ["DEVICE_DELETED"]},
}


def test_every_action_is_covered():
    """The test table has every action of the format."""
    assert set(ACTIONS) == set(ACTION_NAMES)
    assert {"se.configure_on", "se.configure_off", "se.change_lpar_crypto", "sclp.configure_ap",
            "sclp.deconfigure_ap", "sysfs.write", "sysfs.read", "guest.start", "guest.stop",
            "guest.instruction", "guest.lszcrypt", "fault.checkstop", "fault.clear", "guest.reset",
            "host.lszcrypt", "host.dmesg", "guest.dmesg", "uevents", "mdevctl.start",
            "mdevctl.stop", "qemu.device_add", "qemu.device_del", "qemu.migrate",
            "fault.inject",
            "kvm.masks", "vfio.open", "vfio.get_info", "vfio.get_irq_info", "vfio.set_irqs",
            "vfio.reset", "vfio.ioctl", "qemu.log"} == set(ACTION_NAMES)


def test_a_log_expectation_that_is_not_a_regular_expression_is_refused():
    with pytest.raises(ValidationError, match="is not a regular expression"):
        scen(timeline=[{"at": "1ms", "do": "host.dmesg", "expect": ["ap: (unclosed"]}])


@pytest.mark.parametrize("do", list(ACTIONS))
def test_each_action_takes_its_operands(do):
    """Every action parses with its operands and refuses a foreign key."""
    entry = {"at": "1ms", "do": do, **ACTIONS[do]}
    defined = [{"uuid": UUID1, "start": "manual"}]  # what mdevctl.start/stop name
    sc = scen(guests=[{"name": "g"}], mdevs=defined, timeline=[entry])
    act = sc.timeline[0]
    assert act.do == do and act.at == MS
    assert "at" not in act.operands() and "do" not in act.operands()
    with pytest.raises(ValidationError, match="Extra inputs|extra"):
        scen(guests=[{"name": "g"}], mdevs=defined, timeline=[{**entry, "bogus": 1}])


def test_action_operand_values():
    """Operands are converted: ids, addresses, response codes by name, request types."""
    sc = scen(guests=[{"name": "g"}], timeline=[
        {"at": "1ms", "do": "guest.instruction", "guest": "g", "op": "nqap", "apqn": "05.0004",
         "request": "rsa4096", "length": 2048, "expect": {"rc": "Q_NOT_AVAIL"}},
        {"at": "2ms", "do": "guest.instruction", "guest": "g", "op": "AQIC", "apqn": "05.0004",
         "enable": True, "nib": 0, "expect": {"rc": "0x06"}},
        {"at": "3ms", "do": "guest.instruction", "guest": "g", "op": "QCI",
         "expect": {"exception": "operation"}},
        {"at": "4ms", "do": "sysfs.write", "path": "/sys/devices/vfio_ap/matrix/x/assign_adapter", "value": 5},
    ])
    nq, aq, qci, wr = sc.timeline
    assert nq.op == "NQAP" and nq.request == "rsa4096_crt" and nq.expect.rc == 1
    assert aq.nib == 0 and aq.expect.rc == 6
    assert qci.apqn is None and qci.expect.exception == "operation"
    assert wr.value == "5"
    assert nq.operands()["apqn"] == "05.0004"


@pytest.mark.parametrize("entry, rule", [
    ({"op": "TAPQ", "apqn": "05.0004", "enable": True}, "applies only to AQIC"),
    ({"op": "DQAP", "apqn": "05.0004", "request": "rsa2048"}, "applies only to NQAP"),
    ({"op": "TAPQ"}, "needs an apqn"),
    ({"op": "QCI", "apqn": "05.0004"}, "QCI takes no apqn"),
    ({"op": "AQIC", "apqn": "05.0004"}, "AQIC needs enable"),
    ({"op": "TAPQ", "apqn": "05.0004", "expect": {}}, "at least one"),
    ({"op": "TAPQ", "apqn": "05.0004", "expect": {"cc": 3, "exception": "operation"}}, "exception alone"),
    ({"op": "TAPQ", "apqn": "05.0004", "expect": {"exception": "data"}}, "operation"),
    ({"op": "TAPQ", "apqn": "05.0004", "expect": {"cc": 4}}, "less than or equal to 3"),
    ({"op": "PQAPX", "apqn": "05.0004"}, "NQAP"),
    ({"op": "PQAP", "apqn": "05.0004"}, "PQAP needs gr0"),
    ({"op": "TAPQ", "gr0": "0x01000504"}, "use op: PQAP"),
    ({"op": "TAPQ", "gr0": "0x504", "apqn": "05.0004"}, "holds the APQN"),
    ({"op": "TAPQ", "gr0": "0x504", "t": True}, "holds the APQN"),
    ({"op": "TAPQ", "apqn": "05.0004", "r1": 3}, "applies only to NQAP, DQAP"),
    ({"op": "NQAP", "apqn": "05.0004", "address": 8}, "applies only to QCI"),
    ({"op": "QCI", "gr1": 1}, "applies only to PQAP"),
    ({"op": "TAPQ", "apqn": "05.0004", "expect": {"gr2_mask": "0xff"}}, "give gr2 too"),
    ({"op": "NQAP", "apqn": "05.0004", "gr0": "0xzz"}, "not a number"),
    ({"op": "NQAP", "apqn": "05.0004", "length": 1 << 64}, "less than or equal to"),
])
def test_instruction_operands_must_fit_the_op(entry, rule):
    """guest.instruction takes only the operands its op uses."""
    with pytest.raises(ValidationError, match=rule):
        scen(guests=[{"name": "g"}], timeline=[{"at": 0, "do": "guest.instruction", "guest": "g", **entry}])


def test_sysfs_operands():
    """sysfs paths start with /sys/; masks must be quoted; read takes expect or expect_errno."""
    with pytest.raises(ValidationError, match="not a sysfs path"):
        scen(timeline=[{"at": 0, "do": "sysfs.read", "path": "/proc/x"}])
    with pytest.raises(ValidationError, match="in quotes"):
        scen(timeline=[{"at": 0, "do": "sysfs.write", "path": "/sys/bus/ap/apmask", "value": 0xFF}])
    with pytest.raises(ValidationError, match="unknown errno"):
        scen(timeline=[{"at": 0, "do": "sysfs.write", "path": "/sys/bus/ap/apmask", "value": "x",
                        "expect_errno": "EWHAT"}])
    with pytest.raises(ValidationError, match="not both"):
        scen(timeline=[{"at": 0, "do": "sysfs.read", "path": "/sys/x", "expect": "", "expect_errno": "ENODEV"}])


def test_change_lpar_crypto_needs_a_change():
    """An SE crypto-controls change with nothing to change is an error."""
    with pytest.raises(ValidationError, match="at least one of add_adapters"):
        scen(timeline=[{"at": 0, "do": "se.change_lpar_crypto"}])


def test_nested_guests_and_helpers():
    """Nested guests: walk order, depth, parent, and the mdev of each level."""
    sc = scen(host={"apmask": "-5"}, mdevs=[{"uuid": UUID1, "assign_adapter": [5], "assign_domain": [4]}], guests=[
        {"name": "l2", "mdev": UUID1, "host": {"apmask": "-5"},
         "mdevs": [{"uuid": UUID2, "assign_adapter": [5], "assign_domain": [4]}],
         "guests": [{"name": "l3", "mdev": UUID2, "start": "1ms"}]},
        {"name": "other"},
    ])
    refs = list(sc.walk_guests())
    assert [(r.spec.name, r.depth, r.parent.name if r.parent else None) for r in refs] == \
        [("l2", 1, None), ("l3", 2, "l2"), ("other", 1, None)]
    assert refs[1].loc == ("guests", 0, "guests", 0)
    assert sc.mdev_of(sc.guest("l3")).uuid == UUID2
    assert sc.mdev_of(sc.guest("l2")).uuid == UUID1
    assert sc.mdev_of(sc.guest("other")) is None
    with pytest.raises(KeyError):
        sc.guest("nobody")


def test_ordered_timeline_is_stable():
    """Execution order is by time; equal times keep file order."""
    sc = scen(guests=[{"name": "g"}], timeline=[
        {"at": "2ms", "do": "guest.stop", "guest": "g"},
        {"at": "1ms", "do": "guest.start", "guest": "g"},
        {"at": "2ms", "do": "guest.start", "guest": "g"},
    ])
    assert [(a.at, a.do) for a in sc.ordered_timeline()] == [(MS, "guest.start"), (2 * MS, "guest.stop"),
                                                             (2 * MS, "guest.start")]


def test_models_are_frozen_and_strict():
    """Scenarios are immutable and refuse unknown keys at every level."""
    sc = scen()
    with pytest.raises(ValidationError):
        sc.seed = 5  # type: ignore[misc]
    for where in ({"bogus": 1}, {"machine": {**BASE["machine"], "bogus": 1}},
                  {"lpar": {"bogus": 1}}, {"host": {"bogus": 1}}, {"mdevs": [{"uuid": UUID1, "bogus": 1}]},
                  {"guests": [{"name": "g", "cpu": {"bogus": True}}]},
                  {"guests": [{"name": "g", "workload": {"bogus": 1}}]}):
        with pytest.raises(ValidationError, match="Extra inputs"):
            scen(**where)


def test_api_version_is_checked():
    """apiVersion, when given, must be apsim/v1."""
    assert scen(apiVersion="apsim/v1").api_version == "apsim/v1"
    with pytest.raises(ValidationError):
        scen(apiVersion="apsim/v2")


def test_other_lpars():
    """Other LPARs share adapters but not usage domains of the same adapter."""
    sc = scen(other_lpars=[{"name": "lpar2", "adapters": [5], "usage_domains": [9],
                            "workload": {"kind": "open", "rate": 100}}])
    assert sc.other_lpars[0].control_domains == [9]
    with pytest.raises(ValidationError, match="already belongs to LPAR 'lpar1'"):
        scen(other_lpars=[{"name": "lpar2", "adapters": [5], "usage_domains": [0x47]}])
