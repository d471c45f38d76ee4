"""The system the isolation properties drive, and every check they make.

:class:`World` is a small machine built through :func:`apsim.scenario.build.build`
(adapters 01 CEX5C, 02 CEX7A and 41 CEX8P in the LPAR, 03 CEX6C installed but not
assigned; usage domains 3, 5 and 0x11; control domains 3, 5, 7 and 0x11;
Na = 70, Nd = 20, so adapter 0x41 and domain 0x11 lie outside a format-0 CRYCB),
three first-level guests and one nested guest:

* ``g1`` — format 2; a KVM host itself: its Linux may run vfio_ap with its own mdev
  and the nested guest ``g1n``;
* ``g2`` — format 2 with a closed-loop workload (its zcrypt picks replies up);
* ``g3`` — ``msax3`` off, so a format-0 CRYCB (APIDs < 64, APQIs < 16);
* ``g1n`` — guest-2 of ``g1`` (vSIE shadow of both levels).

Every action a test can take is a method that also *predicts* the outcome from
:mod:`tests.property.refmodel` (plain sets, no apsim code) and from the hardware
rules, checks the prediction, mirrors accepted changes into the reference model, and
— for a rejected sysfs write — checks that nothing changed. :meth:`World.check`
asserts the isolation invariants after any action; :meth:`World.check_reference`
compares every running guest's APCB with the reference model once time has settled.

The Hypothesis state machine in ``test_isolation.py`` and the plain regression tests
in ``test_regressions.py`` both use this class, so a shrunk counterexample becomes a
regression test by replaying the same method calls. (This module defines no tests;
it is named like one only to sit with the tests it serves.)
"""

from __future__ import annotations

import errno as _errno
import os
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from apsim.errors import ApsimError, ConfigError, ProgramException, SysfsError
from apsim.guest.guest import Guest
from apsim.engine.workload_spec import WorkloadSpec
from apsim.hw.machine import (SCCB_ALREADY_IN_STATE, SCCB_INVALID_RESOURCE, SCCB_NORMAL_COMPLETION,
                              SCLP_CMD_CONFIGURE_AP, SCLP_CMD_DECONFIGURE_AP, HardwareOpRefused)
from apsim.engine.request import DROP_CAUSES
from apsim.kernel import FIXES
from apsim.kvm import CpuFeatures
from apsim.masks import Mask, apqn_table
from apsim.scenario.build import build
from apsim.scenario.schema import Scenario
from tests.property.refmodel import RefMdev, RefSystem
from tests.property import world_rules
from tests.property.world_rules import check_ledger_against_counters, kept_work

SOAK = os.environ.get("HYPOTHESIS_PROFILE") == "soak"
"""``make soak``: the property tests run far more examples."""
NO_SHRINK = os.environ.get("APSIM_NO_SHRINK") == "1"
"""Set by ``mutants.py``: report the first failing example as found, without shrinking it."""


def phases():  # noqa: ANN201
    """Hypothesis phases for these tests (no shrinking under ``APSIM_NO_SHRINK=1``)."""
    from hypothesis import Phase

    return tuple(p for p in Phase if not (NO_SHRINK and p in (Phase.shrink, Phase.explain)))

MAX_A = 70
MAX_D = 20
ADAPTERS = {1: ("CEX5", "cca", 11), 2: ("CEX7", "accelerator", 13), 3: ("CEX6", "cca", 12),
            65: ("CEX8", "ep11", 14)}
LPAR_ADAPTERS = (1, 2, 65)
USAGE = (3, 5, 17)
CONTROL = (3, 5, 7, 17)
SCENARIO = {
    "name": "isolation", "seed": 1, "duration": "10s",
    "machine": {"model": "z15", "apxa": True, "max_adapter_id": MAX_A, "max_domain_id": MAX_D,
                "adapters": [{"id": a, "type": t, "mode": m, "engines": 2}
                             for a, (t, m, _) in sorted(ADAPTERS.items())]},
    "lpar": {"adapters": list(LPAR_ADAPTERS), "usage_domains": list(USAGE),
             "control_domains": list(CONTROL)},
    # The reference model encodes vfio_ap's intended semantics; mainline's §15 oddities
    # (a stale last adapter/domain left in the CRYCB, an assigned control domain kept)
    # would make its exact comparisons fail, so this world runs every named fix.
    "fixes": sorted(FIXES),
}

UUIDS = ("11111111-0000-4000-8000-000000000001", "22222222-0000-4000-8000-000000000002",
         "33333333-0000-4000-8000-000000000003", "44444444-0000-4000-8000-000000000004")
NUUIDS = ("aaaaaaaa-0000-4000-8000-00000000000a", "bbbbbbbb-0000-4000-8000-00000000000b")
GUESTS = ("g1", "g2", "g3")
NESTED = "g1n"
LEVELS = ("host", "g1")

MATRIX = "/sys/devices/vfio_ap/matrix"
CREATE = f"{MATRIX}/mdev_supported_types/vfio_ap-passthrough/create"
GAP_NS = 25_000
"""Simulated time after every action: longer than a queue reset (20 µs), so a host
ZAPQ never meets the reset in progress of the action before (which would leave the
queue non-passable and the guest matrix legitimately behind the reference model)."""
SETTLE_NS = 60_000_000
"""Long enough for the CHSC event (100 µs), the scans and guest notifications it
triggers at both levels, and two 20 ms reset-verification rounds."""

BOOT_LIMIT_NS = 1_000_000_000
"""A guest's boot (reset verification rounds of 20 ms plus the boot time) ends well before this."""

# --- values written to sysfs ------------------------------------------------------------------
ADAPTER_IDS = (0, 1, 2, 3, 64, 65, 70)
DOMAIN_IDS = (0, 3, 5, 7, 9, 16, 17, 20)
OVER_MAX = (21, 71, 255, 256, 4096, (1 << 64) - 1)
JUNK_ULONG = ("", "\n", "abc", "-1", " 1", "1 ", "0x", "1,2", "1\n\n", "++1", "0xg")
OVERFLOW = ("18446744073709551616", "99999999999999999999999\n")
JUNK_MASK = ("0X12", "+", "-", "+256", "+5-3", "+1-", "garbage", "0x" + "f" * 65, "+1;+2", " +1",
             "+1 ", "0x12,34", "+0-256", "-x")
JUNK_AP_CONFIG = ("0x1", "0x1,0x2", "junk,0x0,0x0", "0x0,0x0,0xZZ", "0X1,0x0,0x0", "0x1 ,0x0,0x0", ",")
JUNK_UUID = ("not-a-uuid", "11111111-0000-4000-8000-00000000000g", "11111111000040008000000000000001",
             UUIDS[0] + "xx", "", "\n")


def int_text(v: int, style: int) -> str:
    """*v* as a user might write it: decimal, 0x hex, 0 octal, '+', with or without newline."""
    body = [f"{v}", f"{v:#x}", f"0{v:o}", f"+{v}"][style % 4]
    return body + ("\n" if style >= 4 else "")


def mask_int(ids) -> int:  # noqa: ANN001
    """The 256-bit value of an id set (bit 0 leftmost)."""
    return sum(1 << (255 - i) for i in set(ids))


def mask_hex(ids, style: int = 0) -> str:  # noqa: ANN001
    """An absolute mask text for an id set: 0x + 64 digits, trimmed, 'x' prefix, bare."""
    h = f"{mask_int(ids):064x}"
    if style % 2:
        h = h.rstrip("0")  # right padding is implied
    prefix = ("0x", "x", "0x", "")[(style // 2) % 4]
    if prefix == "" and not h:
        prefix = "0x"
    return prefix + h


def relative_text(terms, style: int = 0) -> str:  # noqa: ANN001
    """'+a,-b-c' from [(sign, lo, hi)]; numbers decimal or hex."""
    parts = []
    for i, (sign, lo, hi) in enumerate(terms):
        fmt = (lambda n: f"{n:#x}") if (style + i) % 3 == 2 else str
        parts.append(f"{sign}{fmt(lo)}" + (f"-{fmt(hi)}" if hi != lo else ""))
    return ",".join(parts) + ("\n" if style % 2 else "")


def apply_terms(cur: set[int], terms) -> set[int]:  # noqa: ANN001
    out = set(cur)
    for sign, lo, hi in terms:
        r = set(range(lo, hi + 1))
        out = out | r if sign == "+" else out - r
    return out


def ids_of(m: Mask) -> set[int]:
    return set(m.ids())


# --- hangs ------------------------------------------------------------------------------------------
class Hang(AssertionError):
    """The simulation did not come back: an endless loop at one simulated instant."""


class HangGuard:
    """Turn a hang into a test failure (SIGALRM; a no-op off the main thread or without it).

    The limit is generous wall-clock time for work that takes milliseconds; nothing
    asserts on how long anything took, this only keeps a hang from stalling the suite.
    """

    def __init__(self, seconds: float = 60.0) -> None:
        self.seconds = seconds
        self.armed = False
        self._old = None

    def arm(self) -> None:
        if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
            return

        def fire(signum, frame):  # noqa: ANN001, ARG001
            raise Hang(f"no progress for {self.seconds:.0f} s: the simulation loops at one instant")

        self._old = signal.signal(signal.SIGALRM, fire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        self.armed = True

    def disarm(self) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)
            self.armed = False


@contextmanager
def hang_guard(seconds: float = 60.0):  # noqa: ANN201
    g = HangGuard(seconds)
    g.arm()
    try:
        yield g
    finally:
        g.disarm()


# --- the world ----------------------------------------------------------------------------------
@dataclass
class Stats:
    """How often the interesting checks actually ran (reported by the soak profile)."""

    exact_checks: int = 0
    subset_checks: int = 0
    outside_instructions: int = 0
    dqap_replies: int = 0
    refused_writes: int = 0
    accepted_writes: int = 0
    extra: dict = field(default_factory=dict)


class World:
    """The simulated system plus its reference model and the bookkeeping of the checks."""

    def __init__(self, seed: int = 1, *, workload: bool = True) -> None:
        self.sim = build(Scenario.model_validate(SCENARIO), seed=seed)
        self.env = self.sim.env
        self.machine = self.sim.machine
        self.lpar = self.sim.lpar
        self.host = self.sim.host
        self.recorder = self.sim.recorder
        self.ref = RefSystem(installed={a: t for a, (_, _, t) in ADAPTERS.items()},
                             host_apm=set(LPAR_ADAPTERS), host_aqm=set(USAGE), host_adm=set(CONTROL))
        self.ref2: RefSystem | None = None  # g1's own Linux, while g1 runs
        self.guests: dict[str, Guest] = {}
        specs = {"g1": CpuFeatures(), "g2": CpuFeatures(), "g3": CpuFeatures(msax3=False)}
        for name, cpu in specs.items():
            wl = WorkloadSpec(kind="closed", concurrency=2, mix={"rsa2048": 1.0}) \
                if (name == "g2" and workload) else None
            self.guests[name] = Guest(self.env, self.machine, self.host, self.lpar.config, name=name,
                                      cpu=cpu, vcpus=2, workload=wl, recorder=self.recorder,
                                      kernel=self.host.kernel)
            self.ref.formats[name] = 2 if cpu.msax3 else 0
        self.nested: Guest | None = None
        self.owner = {n: self.recorder.owner_index(n) for n in (*GUESTS, NESTED)}
        self.outstanding: dict[str, set[int]] = {n: set() for n in (*GUESTS, NESTED)}
        self.psmid_of_guest: dict[int, str] = {}
        self.psmid_apqn: dict[int, int] = {}
        self.requests: dict[int, object] = {}  # psmid -> the Request, while outstanding
        self._psmid = 0
        self.exact = True  # the reference model must match exactly (see taint())
        self.settled = False
        self.stats = Stats()
        self.drops: list[tuple[object, str]] = []  # every drop, for world_rules.kept_work
        self.nqap_rejected = 0  # NQAPs the checks saw answered with a response code
        self.workloads: list[object] = []  # every workload seen, for their own counters
        self.machine.ledger.drop_listeners.append(self._on_drop)
        self.env.run(until=self.env.now + GAP_NS)

    # --- helpers ------------------------------------------------------------------------------
    def linux(self, level: str):  # noqa: ANN201
        """The Linux of a level: the LPAR's host, or g1's own (None when g1 is not running)."""
        if level == "host":
            return self.host
        g1 = self.guests["g1"]
        return g1.linux if g1.running and g1.linux is not None and g1.linux.vfio is not None else None

    def refsys(self, level: str) -> RefSystem | None:
        return self.ref if level == "host" else self.ref2

    def guest(self, name: str) -> Guest | None:
        if name == NESTED:
            return self.nested
        return self.guests[name]

    def running(self) -> dict[str, Guest]:
        out = {n: g for n, g in self.guests.items() if g.running}
        if self.nested is not None and self.nested.running:
            out[NESTED] = self.nested
        return out

    def _on_drop(self, req, cause: str) -> None:  # noqa: ANN001
        self.drops.append((req, cause))
        self._done(req.psmid)

    def _done(self, psmid: int) -> None:
        name = self.psmid_of_guest.pop(psmid, None)
        self.psmid_apqn.pop(psmid, None)
        self.requests.pop(psmid, None)
        if name is not None:
            self.outstanding[name].discard(psmid)

    def purge(self) -> None:
        """Forget requests whose reply someone else took: g2's workload collects g2's
        own replies (anyone else taking one trips the foreign-reply check)."""
        for p, req in list(self.requests.items()):
            if req.state == 3:  # DONE: dequeued
                self._done(p)

    def _forget(self, name: str) -> None:
        """The guest lost its AP device: its requests were reset and must never come back."""
        for p in list(self.outstanding[name]):
            self._done(p)

    def _gap(self) -> None:
        self.settled = False
        self.env.run(until=self.env.now + GAP_NS)

    # --- snapshots (invariant 5) ---------------------------------------------------------------
    def snapshot(self) -> dict:
        """Everything a rejected write must leave alone."""
        snap: dict = {"online": sorted(self.lpar.online), "candidates": sorted(self.lpar.candidates),
                      "usage": sorted(self.lpar.usage_domains), "control": sorted(self.lpar.control_domains),
                      "ledger": self.machine.ledger.summary()}
        for level in LEVELS:
            lx = self.linux(level)
            if lx is None or lx.bus is None:
                continue
            bus, vfio = lx.bus, lx.vfio
            d = {"apmask": bus.apmask, "aqmask": bus.aqmask, "domain": bus.domain_index,
                 "config_time": bus.config_time_s, "poll_timeout": bus.poll_timeout_ns,
                 "bindings": sorted((k, q.driver.name if q.driver else None) for k, q in bus.queues.items()),
                 "cards": sorted((k, c.config) for k, c in bus.cards.items())}
            if vfio is not None:
                for m in vfio.mdev_list:
                    d[m.uuid] = tuple(lx.read(f"{m.path}/{a}")
                                      for a in ("matrix", "guest_matrix", "control_domains", "ap_config"))
                d["mdevs"] = [m.uuid for m in vfio.mdev_list]
            snap[level] = d
        for name, g in self.running().items():
            c = g.kvm.config
            snap[name] = (c.apm, c.aqm, c.adm, g.kvm.mdev)
        return snap

    def write(self, level: str, path: str, value: str, expect: str | None = None) -> str:
        """A sysfs write on *level*'s Linux; returns "ok" or the errno name.

        *expect* (an errno name or "ok") is the predicted outcome. A rejection must carry
        an errno and leave the whole system as it was.
        """
        lx = self.linux(level)
        assert lx is not None, f"no Linux at level {level}"
        before = self.snapshot()
        if value == "" and expect not in ("ENOENT", "EACCES"):
            # fs/sysfs/file.c sysfs_kf_write: an empty write returns 0 and never reaches store.
            assert lx.write(path, value) == 0 and self.snapshot() == before, path
            return "empty"
        try:
            lx.write(path, value)
            got = "ok"
            self.stats.accepted_writes += 1
        except SysfsError as e:
            assert isinstance(e.errno, int) and e.errno > 0, f"{path}: rejection without an errno: {e!r}"
            assert e.errno in _errno.errorcode, e
            assert path in str(e) or e.path, e
            got = e.errno_name
            after = self.snapshot()
            assert after == before, (f"rejected write {value!r} > {path} ({got}) changed the system:\n"
                                     f"{_diff(before, after)}")
            self.stats.refused_writes += 1
        if expect is not None:
            assert got == expect, f"write {value!r} > {path}: expected {expect}, got {got}"
        return got

    # --- mdev life cycle ----------------------------------------------------------------------------
    def create_mdev(self, level: str, text: str) -> str:
        ref = self.refsys(level)
        u = text[:36].lower() if len(text) in (36, 37) else None
        valid = u is not None and all(
            (c == "-") if i in (8, 13, 18, 23) else c in "0123456789abcdef" for i, c in enumerate(u))
        if not valid:
            expect = "EINVAL"
        elif u in ref.mdevs:
            expect = "EEXIST"
        else:
            expect = "ok"
        got = self.write(level, CREATE, text, expect)
        if got == "ok":
            ref.mdevs[u] = RefMdev()
        self._gap()
        return got

    def remove_mdev(self, level: str, uuid: str, text: str = "1\n") -> str:
        ref = self.refsys(level)
        users = [n for n, g in self.running().items()
                 if g.kvm is not None and g.kvm.mdev == uuid and g.parent is self.linux(level)]
        body = text[:-1] if text.endswith("\n") else text
        if uuid not in ref.mdevs:
            expect = "ENOENT"
        elif body.isdigit() and body.isascii():
            expect = "ok"  # the mdev core removes on any non-zero number
        else:
            expect = "EINVAL"
        got = self.write(level, f"{MATRIX}/{uuid}/remove", text, expect)
        if got == "ok" and int(body, 10 if not body.startswith("0") else 8):
            ref.remove_mdev(uuid)
            for n in users:
                g = self.guest(n)
                # The VMM got the device request and closed the device; the guest runs on.
                assert g.running and g.kvm.mdev is None, f"{n} still holds removed mdev {uuid}"
                assert not g.kvm.config.table.any(), f"{n} keeps APQNs of removed mdev {uuid}"
                self._forget(n)
            assert uuid not in [m.uuid for m in self.linux(level).vfio.mdev_list]
        self._gap()
        return got

    # --- assignments ---------------------------------------------------------------------------------
    def assign(self, level: str, kind: str, uuid: str, text: str, value: int | str,
               unassign: bool = False) -> str:
        """(un)assign_{adapter,domain,control_domain}; *value* is the int meant, or an errno name."""
        ref = self.refsys(level)
        attr = ("unassign_" if unassign else "assign_") + kind
        maximum = MAX_A if kind == "adapter" else MAX_D
        m = ref.mdevs.get(uuid)
        if m is None:
            expect = "ENOENT"
        elif isinstance(value, str):
            expect = value
        elif value > maximum:
            expect = "ENODEV"
        elif unassign or kind == "control_domain":
            expect = "ok"
        else:
            apm = m.apm | {value} if kind == "adapter" else m.apm
            aqm = m.aqm | {value} if kind == "domain" else m.aqm
            already = value in (m.apm if kind == "adapter" else m.aqm)
            expect = "ok" if already else (ref.can_assign(uuid, apm, aqm) or "ok")
        with kept_work(self):
            got = self.write(level, f"{MATRIX}/{uuid}/{attr}", text, expect)
        if got == "ok":
            target = {"adapter": m.apm, "domain": m.aqm, "control_domain": m.adm}[kind]
            (target.discard if unassign else target.add)(value)
        self._gap()
        return got

    def ap_config(self, level: str, uuid: str, masks: tuple[set[int], set[int], set[int]] | None,
                  text: str) -> str:
        """Write ``ap_config``; *masks* None means *text* is junk."""
        ref = self.refsys(level)
        m = ref.mdevs.get(uuid)
        if m is None:
            expect = "ENOENT"
        elif masks is None:
            expect = "EINVAL"
        else:
            apm, aqm, adm = masks
            expect = ref.can_assign(uuid, apm, aqm) or "ok"
            if expect == "ok" and (max(apm, default=0) > MAX_A or max(aqm | adm, default=0) > MAX_D):
                expect = "ENODEV"
        got = self.write(level, f"{MATRIX}/{uuid}/ap_config", text, expect)
        if got == "ok":
            m.apm, m.aqm, m.adm = set(masks[0]), set(masks[1]), set(masks[2])
        self._gap()
        return got

    def set_mask(self, level: str, which: str, text: str, new: set[int] | None) -> str:
        """Write apmask/aqmask; *new* is the mask the text means (None: junk)."""
        ref = self.refsys(level)
        expect = "EINVAL" if new is None else (ref.mask_write_errno(which, new) or "ok")
        got = self.write(level, f"/sys/bus/ap/{which}", text, expect)
        if got == "ok":
            ref.set_mask(which, new)
            shown = self.linux(level).read(f"/sys/bus/ap/{which}")
            assert shown == f"0x{mask_int(new):064x}\n", f"{which} {text!r} gave {shown!r}"
        self._gap()
        return got

    # --- hardware: SE, SCLP, faults ---------------------------------------------------------------
    def se_configure(self, apids: list[int], on: bool) -> str:
        refused = any(a not in self.lpar.candidates for a in apids)
        try:
            self.machine.se_configure(self.lpar, apids, on)
            got = "ok"
        except HardwareOpRefused:
            got = "refused"
        assert got == ("refused" if refused else "ok"), (apids, on, got)
        if got == "ok":
            assert all((a in self.lpar.online) == on for a in apids)
        self._gap()
        return got

    def se_change(self, add_a=(), rem_a=(), add_u=(), rem_u=(), add_c=(), rem_c=()) -> str:  # noqa: ANN001
        online = bool(self.lpar.online)
        bad = any(a not in ADAPTERS for a in (*add_a, *rem_a)) or any(
            d > MAX_D for d in (*add_u, *rem_u, *add_c, *rem_c))
        before = (set(self.lpar.candidates), set(self.lpar.usage_domains), set(self.lpar.control_domains))
        try:
            self.machine.se_change_lpar_crypto(self.lpar, add_adapters=add_a, remove_adapters=rem_a,
                                               add_usage_domains=add_u, remove_usage_domains=rem_u,
                                               add_control_domains=add_c, remove_control_domains=rem_c)
            got = "ok"
        except ConfigError:  # HardwareOpRefused, or ConfigError for an id beyond Nd
            got = "refused"
        assert got == ("refused" if (online or bad) else "ok"), (add_a, rem_a, add_u, rem_u, got)
        if got == "ok":
            r = self.ref
            r.host_apm = (r.host_apm | set(add_a)) - set(rem_a)
            r.host_aqm = (r.host_aqm | set(add_u)) - set(rem_u)
            r.host_adm = (r.host_adm | set(add_c)) - set(rem_c)
            assert (self.lpar.candidates, self.lpar.usage_domains, self.lpar.control_domains) == \
                (r.host_apm, r.host_aqm, r.host_adm)
        else:
            assert before == (self.lpar.candidates, self.lpar.usage_domains, self.lpar.control_domains)
        self._gap()
        return got

    def sclp(self, apid: int, on: bool) -> int:
        cmd = (SCLP_CMD_CONFIGURE_AP if on else SCLP_CMD_DECONFIGURE_AP) | (apid << 8)
        if apid not in self.lpar.candidates:
            want = SCCB_INVALID_RESOURCE
        elif (apid in self.lpar.online) == on:
            want = SCCB_ALREADY_IN_STATE
        else:
            want = SCCB_NORMAL_COMPLETION
        code = self.machine.sclp_command(self.lpar, cmd)
        assert code == want, (apid, on, hex(code))
        self._gap()
        return code

    def card_config(self, apid: int, text: str) -> str:
        card = self.host.bus.cards.get(apid)
        stripped = text.strip()
        if card is None:
            expect = "ENOENT"
        elif stripped not in ("0", "1"):
            expect = "EINVAL"
        elif (stripped == "1") != card.config and apid not in self.lpar.candidates:
            expect = "EIO"
        else:
            expect = "ok"
        got = self.write("host", f"/sys/bus/ap/devices/card{apid:02x}/config", text, expect)
        self._gap()
        return got

    def checkstop(self, apid: int, on: bool) -> str:
        try:
            self.machine.checkstop(apid, on)
            got = "ok"
        except HardwareOpRefused:
            got = "refused"
        assert got == ("ok" if apid in ADAPTERS else "refused")
        self._gap()
        return got

    # --- guests ------------------------------------------------------------------------------------
    def start(self, name: str, uuid: str | None) -> str:
        g = self.guests[name]
        if g.running:
            return "running"
        g.mdev = uuid
        expect = None if uuid is None else self.ref.open_errno(uuid)
        try:
            g.start()
            got = "ok"
        except SysfsError as e:
            got = e.errno_name
            assert not g.running
        assert got == (expect or "ok"), (name, uuid, got, expect)
        if got == "ok":
            self._await_boot(g)
            if uuid is not None:
                self.ref.running[name] = uuid
            if name == "g1":
                self.ref2 = RefSystem(installed={a: t for a, (_, _, t) in ADAPTERS.items()})
                self.ref2.formats[NESTED] = 2
        self._gap()
        return got

    def _await_boot(self, g: Guest) -> None:
        """An admin who starts a guest waits until its Linux is up: QEMU's reset of the
        queues (vfio_ap_mdev_reset_qlist's verification) and the boot time (apsim.guest.boot)."""
        limit = self.env.now + BOOT_LIMIT_NS
        while g.running and g.linux is None and self.env.peek() <= limit:
            self.env.step()
        assert not g.running or g.linux is not None, f"{g.name} did not boot within {BOOT_LIMIT_NS} ns"

    def stop(self, name: str) -> None:
        g = self.guest(name)
        if g is None or not g.running:
            return
        g.stop()
        assert not g.running
        self._forget(name)
        if name == NESTED:
            self.ref2.running.pop(NESTED, None)
        else:
            self.ref.running.pop(name, None)
        if name == "g1":
            self.ref2 = None
            if self.nested is not None:
                assert not self.nested.running
                self._forget(NESTED)
                self.nested = None
        self._gap()

    def reset(self, name: str) -> None:
        g = self.guest(name)
        if g is not None and g.running:
            g.reset()
            world_rules.check_reset_cleared(self, name)
        self._gap()

    def start_nested(self, uuid: str | None) -> str:
        g1 = self.guests["g1"]
        lx = self.linux("g1")
        if lx is None or (self.nested is not None and self.nested.running):
            return "skipped"
        n = Guest(self.env, self.machine, lx, g1.kvm, name=NESTED, mdev=uuid, cpu=CpuFeatures(),
                  vcpus=1, recorder=self.recorder, kernel=self.host.kernel)
        expect = None if uuid is None else self.ref2.open_errno(uuid)
        try:
            n.start()
            got = "ok"
        except SysfsError as e:
            got = e.errno_name
        assert got == (expect or "ok"), (uuid, got, expect)
        if got == "ok":
            self._await_boot(n)
            g1.children.append(n)
            self.nested = n
            if uuid is not None:
                self.ref2.running[NESTED] = uuid
        self._gap()
        return got

    def setup_nested(self, adapters, domains, uuid: str = NUUIDS[0]) -> None:  # noqa: ANN001
        """What an admin of g1 does: release every queue to vfio_ap, make an mdev, start g1n."""
        if self.linux("g1") is None:
            return
        self.set_mask("g1", "apmask", "0x\n", set())
        if uuid not in self.ref2.mdevs:
            self.create_mdev("g1", uuid + "\n")
        for a in adapters:
            self.assign("g1", "adapter", uuid, f"{a:#x}\n", a)
        for d in domains:
            self.assign("g1", "domain", uuid, f"{d}\n", d)
        self.start_nested(uuid)

    # --- instructions -----------------------------------------------------------------------------
    def may_send(self, name: str, apqn: int) -> bool:
        """Whether the checks may let *name* NQAP/DQAP on *apqn*.

        g1 is a hypervisor: the APQNs its own Linux gave to vfio_ap may be g1n's, and a
        hypervisor that dequeues its guest's replies breaks no isolation rule. So g1
        only talks to queues its Linux keeps for its own zcrypt (host-owned there).
        """
        if name != "g1":
            return True
        return self.ref2 is not None and self.ref2.host_owned(apqn >> 8, apqn & 0xFF)

    def _new_psmid(self) -> int:
        self._psmid += 1
        return (0x5EED << 48) | self._psmid

    def instruction(self, name: str, op: str, apqn: int) -> str:
        """One AP instruction from a guest's vCPU; checks invariants 3 and 4 on the way."""
        g = self.guest(name)
        if g is None or not g.running:
            return "not running"
        cfg = g.kvm.config
        in_apcb = bool(cfg.table[apqn & 0xFFFF])
        ad = self.machine.adapters.get(apqn >> 8)
        phys = ad.queues.get(apqn & 0xFF) if ad is not None else None
        touched = phys.touched if phys is not None else 0
        cpu = g.cpu
        try:
            if op == "NQAP":
                psmid = self._new_psmid()
                rtype = "ep11_low" if ADAPTERS.get(apqn >> 8, ("", ""))[1] == "ep11" else "rsa1024_me"
                r = cpu.enqueue(apqn, psmid, rtype, owner=self.owner[name])
                if r.rc:
                    self.nqap_rejected += 1
                if r.rc == 0:
                    self.outstanding[name].add(psmid)
                    self.psmid_of_guest[psmid] = name
                    self.psmid_apqn[psmid] = apqn
                    self.requests[psmid] = r.extra["request"]
            elif op == "DQAP":
                r = cpu.dequeue(apqn)
                if r.rc == 0 and r.reply is not None:
                    self.stats.dqap_replies += 1
                    req = r.reply
                    # Its own request, or one of its own workload's (g2's zcrypt load; the
                    # workload then just never sees that reply).
                    mine = req.psmid in self.outstanding[name] or (
                        req.tag is not None and req.tag is g.workload)
                    assert req.owner == self.owner[name] and mine, (
                        f"{name} dequeued {req!r} (psmid {req.psmid:#x}) that it did not send "
                        f"(sent by {self.psmid_of_guest.get(req.psmid, 'another issuer')})")
                    self._done(req.psmid)
            elif op == "TAPQ":
                r = cpu.tapq(apqn)
            elif op == "TAPQ_T":
                r = cpu.tapq(apqn, t=True)
            elif op == "RAPQ":
                r = cpu.rapq(apqn)
            elif op == "ZAPQ":
                r = cpu.zapq(apqn)
            elif op == "AQIC_ON":
                r = cpu.aqic(apqn, enable=True, isc=3, nib=0x10000 + apqn)
            elif op == "AQIC_OFF":
                r = cpu.aqic(apqn, enable=False)
            else:
                raise ValueError(op)
            outcome = f"rc{r.rc:02x}"
        except (ProgramException, ApsimError) as e:
            outcome = type(e).__name__
        world_rules.check_aqic(self, name, op, in_apcb, outcome, phys)
        if not in_apcb:
            self.stats.outside_instructions += 1
            after = phys.touched if phys is not None else 0
            assert after == touched, (f"{name} {op} {apqn:04x} outside its APCB reached the queue "
                                      f"({touched} -> {after} instructions)")
            assert outcome in ("rc01", "ProgramException", "ValidityIntercept"), (
                f"{name} {op} {apqn:04x} outside its APCB answered {outcome}")
        self._gap()
        return outcome

    # --- time -----------------------------------------------------------------------------------------
    def tick(self, dt: int) -> None:
        self.env.run(until=self.env.now + dt)
        self.settled = False

    def settle(self) -> None:
        self.env.run(until=self.env.now + SETTLE_NS)
        self.settled = True

    # --- invariants -----------------------------------------------------------------------------------
    def taint(self) -> None:
        """A vfio queue whose last reset did not end in 0x00/0x03/0x04 is not passable.

        vfio_ap filters with the reset status *at filtering time* and does not filter
        again when a later reset succeeds, so from then on a guest may legitimately
        lack an adapter the reference model (which knows nothing of resets) gives it.
        The exact comparison is then off for the rest of the example; the subset
        comparison stays on.
        """
        for level in LEVELS:
            lx = self.linux(level)
            if lx is not None and lx.vfio is not None and any(
                    not q.passable for q in lx.vfio.queues.values()):
                self.exact = False

    def check(self) -> None:
        """Invariants 1-4 and 6-8 (5 is checked by every write)."""
        self.taint()
        self.purge()
        run = self.running()
        tables = {n: g.kvm.config.table for n, g in run.items()}
        # 1. No APQN in two running guests' APCBs (a nested guest shares with its guest-1 only).
        names = sorted(tables)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                if {a, b} == {"g1", NESTED}:
                    continue
                both = tables[a] & tables[b]
                assert not both.any(), (f"APQNs {_apqns(both)} are in the APCBs of both {a} and {b}")
        # 1b. ... nor in an APCB while a default (zcrypt) driver of the Linux below owns it.
        for level in LEVELS:
            lx = self.linux(level)
            if lx is None or lx.bus is None:
                continue
            zc = np.zeros(65536, dtype=bool)
            for k, q in lx.bus.queues.items():
                if q.driver is lx.cex4queue:
                    zc[k] = True
            for n in self._guests_of(level, run):
                both = tables[n] & zc
                assert not both.any(), f"{n} has APQNs {_apqns(both)} bound to {level}'s zcrypt"
            # 2. APCB ⊆ mdev assignment ∩ that Linux's configuration ∩ queues bound to vfio_ap.
            vf = np.zeros(65536, dtype=bool)
            for k, q in lx.bus.queues.items():
                if q.driver is lx.vfio.driver:
                    vf[k] = True
            info = lx.vfio.info
            for n in self._guests_of(level, run):
                g = run[n]
                cfg = g.kvm.config
                if g.kvm.mdev is None:
                    assert not cfg.table.any() and not cfg.adm, f"{n} has no AP device but an APCB {cfg}"
                    continue
                m = lx.vfio.mdev(g.kvm.mdev)
                allowed = apqn_table(m.matrix.apm & info.apm, m.matrix.aqm & info.aqm) & vf
                extra = cfg.table & ~allowed
                assert not extra.any(), (f"{n} reaches {_apqns(extra)} outside mdev {m.uuid}'s "
                                         f"assignment ∩ {level}'s configuration ∩ vfio_ap-bound queues")
                assert cfg.adm.issubset(m.matrix.adm & info.adm), f"{n} ADM {cfg.adm} not assigned"
        # 4. A request never outlives its issuer's access to the queue: unplug, filtering,
        #    close and reconfiguration reset (or the hardware flushes) every queue a guest
        #    loses, so no reply can wait there for the next owner.
        owners = {self.owner[n]: n for n in self.owner}
        for ad in self.machine.adapters.values():
            for q in ad.queues.values():
                if not q.count:
                    continue
                for req in q.live:
                    n = owners.get(req.owner)
                    if n is None:
                        continue
                    g = run.get(n)
                    assert g is not None and g.kvm.config.table[q.apqn], (
                        f"{n}'s request {req.psmid:#x} is still in queue {q.apqn >> 8:02x}."
                        f"{q.apqn & 0xFF:04x}, which {n} can no longer reach")
        #    And workloads never got a reply of another issuer.
        for n, g in run.items():
            wl = g.workload
            if wl is not None:
                assert not wl.foreign_replies, f"{n}'s workload got foreign replies {wl.foreign_replies}"
        # 6. Request accounting.
        led = self.machine.ledger
        live = self.machine.live_requests()
        assert led.in_flight >= 0
        assert led.in_flight == live, f"ledger in flight {led.in_flight} != {live} requests held"
        assert led.submitted == led.completed + sum(led.rejected.values()) + sum(led.dropped.values()) \
            + led.in_flight
        led.check(live)
        assert set(led.dropped) <= set(DROP_CAUSES), f"unnamed drop causes {set(led.dropped)}"
        check_ledger_against_counters(self)
        world_rules.check_guest_matrix(self)
        world_rules.check_interruptions(self)
        # 7. A nested guest never reaches more than its guest-1.
        if NESTED in run and "g1" in run:
            c2, c1 = run[NESTED].kvm.config, run["g1"].kvm.config
            extra = c2.table & ~c1.table
            assert not extra.any(), f"g1n reaches {_apqns(extra)} that g1 cannot"
            assert c2.adm.issubset(c1.adm), f"g1n ADM {c2.adm} exceeds g1's {c1.adm}"

    def _guests_of(self, level: str, run: dict[str, Guest]) -> list[str]:
        if level == "host":
            return [n for n in GUESTS if n in run]
        return [NESTED] if NESTED in run else []

    def expected_masks(self, name: str) -> tuple[set[int], set[int], set[int]]:
        """What the reference model says guest *name* has (nested: through both levels)."""
        if name != NESTED:
            return self.ref.guest_masks(name)
        g1m = self.ref.guest_masks("g1")
        r2 = self.ref2
        r2.host_apm, r2.host_aqm, r2.host_adm = set(g1m[0]), set(g1m[1]), set(g1m[2])
        apm, aqm, adm = r2.guest_masks(NESTED)
        return apm & g1m[0], aqm & g1m[1], adm & g1m[2]

    def check_reference(self) -> None:
        """After settling: every running guest's APCB against the reference model."""
        assert self.settled
        self.taint()
        for name, g in self.running().items():
            c = g.kvm.config
            got = (ids_of(c.apm), ids_of(c.aqm), ids_of(c.adm))
            want = self.expected_masks(name)
            # Settled: nothing outside the LPAR's configuration either.
            assert not (c.table & ~self.lpar.config.table).any(), f"{name} reaches APQNs outside the LPAR"
            got_apqns = {(a, q) for a in got[0] for q in got[1]}
            want_apqns = {(a, q) for a in want[0] for q in want[1]}
            assert got_apqns <= want_apqns and got[2] <= want[2], (
                f"{name}: apsim gives {_fmt(got)}, the reference model at most {_fmt(want)}")
            self.stats.subset_checks += 1
            if self.exact:
                assert got == want, f"{name}: apsim gives {_fmt(got)}, the reference model {_fmt(want)}"
                self.stats.exact_checks += 1


def _apqns(table: np.ndarray) -> list[str]:
    return [f"{int(k) >> 8:02x}.{int(k) & 0xFF:04x}" for k in np.flatnonzero(table)[:8]]


def _fmt(m: tuple[set[int], set[int], set[int]]) -> str:
    return f"APM {sorted(m[0])} AQM {sorted(m[1])} ADM {sorted(m[2])}"


def _diff(a: dict, b: dict) -> str:
    lines = []
    for k in sorted(set(a) | set(b), key=str):
        if a.get(k) != b.get(k):
            lines.append(f"  {k}: {a.get(k)!r} -> {b.get(k)!r}")
    return "\n".join(lines)
