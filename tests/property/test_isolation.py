"""Stateful proof of APQN isolation: a Hypothesis state machine over the whole stack.

The rules are everything that can happen to the system of
:class:`tests.property.test_isolation_world.World`: mdevs created and removed (also
while a guest uses them), adapters, domains and control domains assigned and
unassigned (valid, out of range, junk), ``ap_config`` and ``apmask``/``aqmask``
writes (absolute, relative, junk), SE configure on/off and LPAR crypto changes, SCLP
configure/deconfigure (the command and the card ``config`` attribute), checkstops,
guests started, stopped and reset, a nested guest with its own vfio_ap below guest
g1, AP instructions from every guest to any APQN, and time passing (short ticks and
a 60 ms settle). Queues also leave and join vfio_ap through the drivers' bind and
unbind files, and guests send PQAP(AQIC) to every queue linked to their mdev
(:mod:`tests.property.world_rules`).

After every step the invariants of :meth:`World.check` hold:

1. no APQN is in the APCB of two running guests, nor in an APCB while a zcrypt
   driver of the Linux below owns the queue;
2. an APCB ⊆ its mdev's assignment ∩ that Linux's configuration ∩ vfio_ap-bound queues;
3. an instruction for an APQN outside the issuer's APCB never reaches the queue
   (RC 0x01 or a program exception; ``APQueue.touched`` unchanged);
4. every reply a guest dequeues is one of its own outstanding requests (PSMIDs are
   tracked per guest; dropped requests leave the set); workloads see no foreign reply;
   and no request outlives its issuer's access to its queue;
5. a rejected sysfs write changes nothing (checked inside every write), and a write
   that unplugs queues from a guest resets none of the queues it keeps;
6. the request ledger balances and matches the requests the queues hold, and its
   rejections equal the NQAP rejections the checks and the workloads counted on
   their own;
7. the nested guest never reaches more than its guest-1;
8. a guest's system reset leaves none of its requests in its queues, each mdev's
   ``guest_matrix`` shows exactly its running guest's APCB, a queue interrupts only a
   running guest that has it, and PQAP(AQIC) answered 0x00 leaves the interruptions
   as asked, on to the guest's GISA (:mod:`tests.property.world_rules`);

and every write's outcome (errno) is the one the reference model predicts. After a
settle step every running guest's APCB equals what :mod:`tests.property.refmodel`
computes (or, once a queue was seen non-passable, is a subset of it).

Settings (docs/robustness.md): the ``ci`` profile runs 600 derandomized examples of
a boot step and up to 30 more steps, with no example database (about 25 s);
``HYPOTHESIS_PROFILE=soak`` (``make soak``) runs 2000 random examples of up to 60
steps and keeps failures in ``.hypothesis/``. A hang guard turns an endless loop
into a failure after 30 s.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.property import world_rules
from tests.property.test_isolation_world import (ADAPTER_IDS, ADAPTERS, DOMAIN_IDS, GUESTS, JUNK_AP_CONFIG,
                                                 JUNK_MASK, JUNK_ULONG, JUNK_UUID, MAX_A, MAX_D, NESTED,
                                                 NUUIDS, OVER_MAX, OVERFLOW, SETTLE_NS, SOAK, UUIDS,
                                                 HangGuard, World, apply_terms, int_text, mask_hex, phases,
                                                 relative_text)

ISOLATION_SETTINGS = settings(
    max_examples=2000 if SOAK else 600,
    stateful_step_count=60 if SOAK else 30,
    deadline=None,
    derandomize=not SOAK,
    database=settings.default.database if SOAK else None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    print_blob=SOAK,
    phases=phases(),
)

LEVEL = st.sampled_from(("host", "host", "host", "g1"))
SLOT = st.integers(0, 3)
ANY_GUEST = st.sampled_from((*GUESTS, NESTED))
OPS = st.sampled_from(("NQAP", "NQAP", "DQAP", "DQAP", "TAPQ", "TAPQ_T", "RAPQ", "ZAPQ", "AQIC_ON",
                       "AQIC_OFF"))
INSTALLED = sorted(ADAPTERS)
MASK_IDS = sorted(set(ADAPTER_IDS + DOMAIN_IDS + (128, 255)))


def id_value(pool: tuple[int, ...]) -> st.SearchStrategy:
    """(text, meaning): meaning is the int meant or the errno name a kernel gives."""
    good = st.tuples(st.sampled_from(pool), st.integers(0, 7)).map(lambda t: (int_text(t[0], t[1]), t[0]))
    return st.one_of(
        good, good, good,
        st.tuples(st.sampled_from(OVER_MAX), st.integers(0, 7)).map(lambda t: (int_text(t[0], t[1]), t[0])),
        st.sampled_from(JUNK_ULONG).map(lambda s: (s, "EINVAL")),
        st.sampled_from(OVERFLOW).map(lambda s: (s, "ERANGE")),
    )


ADAPTER_VALUE = id_value(ADAPTER_IDS)
DOMAIN_VALUE = id_value(DOMAIN_IDS)
MASK_WRITE = st.one_of(
    st.tuples(st.just("abs"), st.sets(st.sampled_from(MASK_IDS)), st.integers(0, 15)),
    st.tuples(st.just("rel"),
              st.lists(st.tuples(st.sampled_from("+-"), st.sampled_from(MASK_IDS), st.integers(0, 3)),
                       min_size=1, max_size=4),
              st.integers(0, 5)),
    st.tuples(st.just("full"), st.just(None), st.booleans()),
    st.tuples(st.just("junk"), st.sampled_from(JUNK_MASK), st.just(0)),
)
AP_CONFIG = st.one_of(
    st.tuples(st.sets(st.sampled_from(ADAPTER_IDS + (71, 200)), max_size=3),
              st.sets(st.sampled_from(DOMAIN_IDS + (21, 100)), max_size=3),
              st.sets(st.sampled_from(DOMAIN_IDS + (21,)), max_size=3),
              st.integers(0, 15)),
    st.sampled_from(JUNK_AP_CONFIG),
)


def uuid_at(level: str, i: int) -> str:
    return UUIDS[i] if level == "host" else NUUIDS[i % len(NUUIDS)]


class IsolationMachine(RuleBasedStateMachine):
    """Every admin action, fault, guest life-cycle event and instruction, in any order."""

    def __init__(self) -> None:
        super().__init__()
        self.guard = HangGuard(30.0)
        self.guard.arm()
        self.w = World()

    def teardown(self) -> None:
        self.guard.disarm()

    @initialize(data=st.data())
    def boot(self, data):  # noqa: ANN001
        """A typical start: adapters or domains released to vfio_ap, one to three mdevs
        (disjoint for the simplest draws, conflicting for others), guests running on
        them, maybe the nested guest."""
        w = self.w
        which = ("apmask", "aqmask")[data.draw(st.integers(0, 1), label="release by")]
        pool = INSTALLED if which == "apmask" else [3, 5, 7, 17]
        kept = data.draw(st.sets(st.sampled_from(pool), max_size=len(pool) - 1), label="kept for the host")
        ids = set(pool) - kept
        w.set_mask("host", which, relative_text([("-", i, i) for i in sorted(ids)], len(ids)),
                   set(range(256)) - ids)
        n = 3 - data.draw(st.integers(0, 2), label="fewer mdevs")
        for i in range(n):
            w.create_mdev("host", UUIDS[i] + "\n")
            # Each mdev draws from its own rotation of the pools, so the simplest draws
            # give disjoint matrices (01 × 3, 02 × 5, 03 × 7) rather than conflicts.
            for kind, pool, least in (("adapter", INSTALLED, 1), ("domain", (3, 5, 7, 17), 1),
                                      ("control_domain", (3, 5, 7, 17), 0)):
                pool = pool[i % len(pool):] + pool[:i % len(pool)]
                ids = data.draw(st.lists(st.sampled_from(pool), min_size=least, max_size=3, unique=True),
                                label=kind)
                for v in ids:
                    w.assign("host", kind, UUIDS[i], f"{v}\n", v)
        off = data.draw(st.integers(0, n - 1), label="mdev offset")
        for i, name in enumerate(GUESTS):
            if data.draw(st.integers(0, 3), label=f"{name} stays off") < 3:
                w.start(name, UUIDS[(i + off) % n])
        if w.linux("g1") is not None and data.draw(st.integers(0, 3), label="nested") == 3:
            g1 = w.guests["g1"].kvm.config
            a = data.draw(st.sets(st.sampled_from(sorted(g1.apm) or [1]), min_size=1), label="g1n adapters")
            d = data.draw(st.sets(st.sampled_from(sorted(g1.aqm) or [3]), min_size=1), label="g1n domains")
            w.setup_nested(sorted(a), sorted(d))

    def _level(self, level: str) -> bool:
        return self.w.linux(level) is not None

    # --- mdevs ----------------------------------------------------------------------------------
    @rule(level=LEVEL, i=SLOT, junk=st.one_of(st.none(), st.none(), st.sampled_from(JUNK_UUID)),
          style=st.integers(0, 2))
    def create_mdev(self, level, i, junk, style):  # noqa: ANN001
        if not self._level(level):
            return
        u = uuid_at(level, i)
        text = junk if junk is not None else (u, u + "\n", u.upper())[style]
        self.w.create_mdev(level, text)

    @rule(level=LEVEL, i=SLOT, text=st.sampled_from(("1\n", "1\n", "1", "0\n", "x\n", "2", "")))
    def remove_mdev(self, level, i, text):  # noqa: ANN001
        if self._level(level):
            self.w.remove_mdev(level, uuid_at(level, i), text)

    @rule(level=LEVEL, i=SLOT, kind=st.sampled_from(("adapter", "domain", "control_domain")),
          av=ADAPTER_VALUE, dv=DOMAIN_VALUE, unassign=st.booleans())
    def assign(self, level, i, kind, av, dv, unassign):  # noqa: ANN001
        if not self._level(level):
            return
        text, value = av if kind == "adapter" else dv
        self.w.assign(level, kind, uuid_at(level, i), text, value, unassign=unassign)

    @rule(i=SLOT, j=SLOT, kind=st.sampled_from(("adapter", "domain")), data=st.data())
    def move(self, i, j, kind, data):  # noqa: ANN001
        """Re-partitioning: an adapter or domain of mdev i goes to mdev j (which may be in use)."""
        w = self.w
        src = w.ref.mdevs.get(UUIDS[i])
        if src is None or i == j:
            return
        ids = sorted(src.apm if kind == "adapter" else src.aqm)
        if not ids:
            return
        v = data.draw(st.sampled_from(ids), label="id")
        w.assign("host", kind, UUIDS[i], f"{v}\n", v, unassign=True)
        w.assign("host", kind, UUIDS[j], f"{v:#x}\n", v)

    @rule(data=st.data(), by_domain=st.booleans())
    def handover(self, data, by_domain):  # noqa: ANN001
        """A queue with requests in flight changes hands: its adapter (or domain) moves from
        the sender's mdev to another running guest's mdev, and the new owner dequeues there."""
        w = self.w
        run = w.running()
        cands = sorted((n, w.psmid_apqn[p]) for n in GUESTS if n in run and run[n].kvm.mdev
                       for p in w.outstanding[n] if p in w.psmid_apqn)
        if not cands:  # put a request in flight first
            cands = [(n, k) for n in GUESTS if n in run and run[n].kvm.mdev
                     for k in self._apqns(run[n].kvm.config) if w.may_send(n, k)]
            if not cands:
                return
            owner, apqn = data.draw(st.sampled_from(cands), label="sender, apqn")
            w.instruction(owner, "NQAP", apqn)
        else:
            owner, apqn = data.draw(st.sampled_from(cands), label="sender, apqn")
        others = sorted(n for n in GUESTS if n in run and n != owner and run[n].kvm.mdev)
        if not others:
            return
        taker = data.draw(st.sampled_from(others), label="taker")
        src, dst = run[owner].kvm.mdev, run[taker].kvm.mdev
        a, q = apqn >> 8, apqn & 0xFF
        move, keep = (("domain", q), ("adapter", a)) if by_domain else (("adapter", a), ("domain", q))
        w.assign("host", move[0], src, f"{move[1]}\n", move[1], unassign=True)
        w.assign("host", keep[0], dst, f"{keep[1]}\n", keep[1])
        w.assign("host", move[0], dst, f"{move[1]}\n", move[1])
        w.tick(1_000_000)
        for _ in range(2):
            w.instruction(taker, "DQAP", apqn)

    @rule(level=LEVEL, i=SLOT, cfg=AP_CONFIG)
    def ap_config(self, level, i, cfg):  # noqa: ANN001
        if not self._level(level):
            return
        if isinstance(cfg, str):
            self.w.ap_config(level, uuid_at(level, i), None, cfg)
            return
        apm, aqm, adm, style = cfg
        text = ",".join(mask_hex(s, style) for s in (apm, aqm, adm)) + ("\n" if style >= 8 else "")
        self.w.ap_config(level, uuid_at(level, i), (apm, aqm, adm), text)

    @rule(level=LEVEL, which=st.sampled_from(("apmask", "aqmask")), m=MASK_WRITE)
    def set_mask(self, level, which, m):  # noqa: ANN001
        if not self._level(level):
            return
        kind, arg, style = m
        cur = getattr(self.w.refsys(level), which)
        if kind == "abs":
            text, new = mask_hex(arg, style) + ("\n" if style >= 8 else ""), set(arg)
        elif kind == "rel":
            terms = [(s, lo, min(255, lo + span)) for s, lo, span in arg]
            text, new = relative_text(terms, style), apply_terms(cur, terms)
        elif kind == "full":
            text, new = ("0x" + "f" * 64 + ("\n" if style else "")), set(range(256))
        else:
            text, new = arg, None
        self.w.set_mask(level, which, text, new)

    @rule(level=LEVEL)
    def rescan(self, level):  # noqa: ANN001
        if self._level(level):
            self.w.write(level, "/sys/bus/ap/scans", "1\n", "ok")
            self.w._gap()

    # --- hardware ----------------------------------------------------------------------------------
    @rule(apids=st.lists(st.sampled_from((*INSTALLED, 64)), min_size=1, max_size=3, unique=True),
          on=st.booleans())
    def se_configure(self, apids, on):  # noqa: ANN001
        self.w.se_configure(apids, on)

    @rule(add_a=st.sets(st.sampled_from((*INSTALLED, 64)), max_size=2),
          rem_a=st.sets(st.sampled_from(INSTALLED), max_size=2),
          add_u=st.sets(st.sampled_from((3, 5, 9, 17, 21)), max_size=2),
          rem_u=st.sets(st.sampled_from((3, 5, 9, 17)), max_size=2),
          add_c=st.sets(st.sampled_from((3, 7, 9, 17)), max_size=2),
          rem_c=st.sets(st.sampled_from((3, 5, 7, 17)), max_size=2))
    def se_change(self, add_a, rem_a, add_u, rem_u, add_c, rem_c):  # noqa: ANN001
        self.w.se_change(sorted(add_a), sorted(rem_a), sorted(add_u), sorted(rem_u), sorted(add_c),
                         sorted(rem_c))

    @rule(add_a=st.sets(st.sampled_from(INSTALLED), max_size=2),
          rem_a=st.sets(st.sampled_from(INSTALLED), max_size=1),
          add_u=st.sets(st.sampled_from((3, 5, 9, 17)), max_size=2),
          rem_u=st.sets(st.sampled_from((3, 5, 9, 17)), max_size=1),
          back_on=st.booleans())
    def se_change_procedure(self, add_a, rem_a, add_u, rem_u, back_on):  # noqa: ANN001
        """The SE's procedure: configure the LPAR's adapters off, change the controls, back on."""
        w = self.w
        online = sorted(w.lpar.online)
        if online:
            w.se_configure(online, False)
        w.se_change(sorted(add_a), sorted(rem_a), sorted(add_u), sorted(rem_u))
        if back_on:
            on = sorted(set(online) | set(add_a)) if add_a else online
            on = [a for a in on if a in w.lpar.candidates]
            if on:
                w.se_configure(on, True)

    @rule(apid=st.sampled_from((*INSTALLED, 64)), on=st.booleans())
    def sclp(self, apid, on):  # noqa: ANN001
        self.w.sclp(apid, on)

    @rule(apid=st.sampled_from(INSTALLED),
          text=st.sampled_from(("0", "1", "0\n", "1\n", "0\n", "1\n", "2", "-1", "x", "")))
    def card_config(self, apid, text):  # noqa: ANN001
        self.w.card_config(apid, text)

    @rule(apid=st.sampled_from((*INSTALLED, 64)), on=st.booleans())
    def checkstop(self, apid, on):  # noqa: ANN001
        self.w.checkstop(apid, on)

    # --- guests ----------------------------------------------------------------------------------------
    @rule(name=st.sampled_from(GUESTS), i=st.integers(0, 4))
    def start(self, name, i):  # noqa: ANN001
        self.w.start(name, UUIDS[i] if i < 4 else None)

    @rule(name=ANY_GUEST)
    def stop(self, name):  # noqa: ANN001
        self.w.stop(name)

    @rule(name=ANY_GUEST)
    def reset(self, name):  # noqa: ANN001
        self.w.reset(name)

    @precondition(lambda self: self.w.linux("g1") is not None and self.w.nested is None)
    @rule(adapters=st.sets(st.sampled_from((1, 2, 3, 65)), min_size=1, max_size=3),
          domains=st.sets(st.sampled_from((3, 5, 7, 17)), min_size=1, max_size=3))
    def nested_setup(self, adapters, domains):  # noqa: ANN001
        self.w.setup_nested(sorted(adapters), sorted(domains))

    @precondition(lambda self: self.w.linux("g1") is not None)
    @rule(i=st.integers(0, 2))
    def nested_start(self, i):  # noqa: ANN001
        self.w.start_nested(NUUIDS[i] if i < 2 else None)

    # --- instructions -------------------------------------------------------------------------------
    def _op(self, name: str, op: str, apqn: int) -> None:
        if op in ("NQAP", "DQAP") and not self.w.may_send(name, apqn):
            op = "TAPQ"
        self.w.instruction(name, op, apqn)

    @rule(name=ANY_GUEST, op=OPS, a=st.sampled_from((*ADAPTER_IDS, 255)),
          q=st.sampled_from((*DOMAIN_IDS, 255)))
    def instruction_any(self, name, op, a, q):  # noqa: ANN001
        self._op(name, op, (a << 8) | q)

    def _running(self, data) -> str | None:  # noqa: ANN001
        names = sorted(self.w.running())
        return data.draw(st.sampled_from(names), label="guest") if names else None

    @staticmethod
    def _apqns(cfg) -> list[int]:  # noqa: ANN001
        return sorted((a << 8) | q for a in cfg.apm for q in cfg.aqm)

    @rule(ops=st.lists(OPS, min_size=1, max_size=4), data=st.data())
    def instruction_own(self, ops, data):  # noqa: ANN001
        """A running guest uses its own queues."""
        name = self._running(data)
        apqns = self._apqns(self.w.guest(name).kvm.config) if name else []
        for op in ops if apqns else ():
            self._op(name, op, data.draw(st.sampled_from(apqns), label="apqn"))

    @rule(ops=st.lists(OPS, min_size=1, max_size=4), data=st.data())
    def instruction_foreign(self, ops, data):  # noqa: ANN001
        """A running guest tries queues of other guests, and ones the host's zcrypt owns."""
        name = self._running(data)
        if name is None:
            return
        apqns = {k for n, g in self.w.running().items() if n != name for k in self._apqns(g.kvm.config)}
        apqns |= {k for k, q in self.w.host.bus.queues.items() if q.driver is self.w.host.cex4queue}
        for op in ops if apqns else ():
            self._op(name, op, data.draw(st.sampled_from(sorted(apqns)), label="apqn"))

    @rule(data=st.data(), n=st.integers(1, 6))
    def nqap_burst(self, data, n):  # noqa: ANN001
        """A running guest sends a few requests to its own queues."""
        name = self._running(data)
        if name is None:
            return
        apqns = self._apqns(self.w.guest(name).kvm.config)
        for _ in range(n if apqns else 0):
            self._op(name, "NQAP", data.draw(st.sampled_from(apqns), label="apqn"))

    @rule(data=st.data())
    def dequeue_pending(self, data):  # noqa: ANN001
        """DQAP where some guest has requests outstanding, by a guest that can reach the queue
        now (its sender, or whoever got the queue since), else by any running guest."""
        w = self.w
        apqns = sorted(set(w.psmid_apqn.values()))
        if not apqns:
            return
        run = w.running()
        pairs = [(n, k) for k in apqns for n in sorted(run) if run[n].kvm.config.table[k]]
        if pairs:
            name, apqn = data.draw(st.sampled_from(pairs), label="guest, apqn")
        else:
            name = self._running(data)
            if name is None:
                return
            apqn = data.draw(st.sampled_from(apqns), label="apqn")
        self._op(name, "DQAP", apqn)

    @rule(data=st.data(), n=st.integers(1, 3))
    def dequeue_own(self, data, n):  # noqa: ANN001
        """A guest with requests outstanding collects replies where it sent them."""
        w = self.w
        names = sorted(g for g, ps in w.outstanding.items() if ps and g in w.running())
        if not names:
            return
        name = data.draw(st.sampled_from(names), label="guest")
        apqns = sorted({w.psmid_apqn[p] for p in w.outstanding[name] if p in w.psmid_apqn})
        if apqns:
            apqn = data.draw(st.sampled_from(apqns), label="apqn")
            for _ in range(n):
                self._op(name, "DQAP", apqn)

    # --- time ----------------------------------------------------------------------------------------
    @rule(level=LEVEL, data=st.data())
    def unbind_queue(self, level, data):  # noqa: ANN001
        """A queue of an (often assigned) APQN leaves vfio_ap through the driver's unbind."""
        pool = world_rules.vfio_queues(self.w, level)
        if pool:
            world_rules.unbind(self.w, level, data.draw(st.sampled_from(pool), label="apqn"))

    @rule(level=LEVEL, driver=st.sampled_from(("vfio_ap", "vfio_ap", "cex4queue")), data=st.data())
    def bind_queue(self, level, driver, data):  # noqa: ANN001
        pool = world_rules.unbound_queues(self.w, level)
        if pool:
            world_rules.bind(self.w, level, data.draw(st.sampled_from(pool), label="apqn"), driver)

    @rule(name=ANY_GUEST, on=st.booleans(), data=st.data())
    def aqic_linked(self, name, on, data):  # noqa: ANN001
        """PQAP(AQIC) to a queue linked to the guest's mdev, filtered out of its APCB or not."""
        pool = world_rules.linked_queues(self.w, name)
        if pool:
            self.w.instruction(name, "AQIC_ON" if on else "AQIC_OFF", data.draw(st.sampled_from(pool), label="apqn"))

    @rule(dt=st.sampled_from((SETTLE_NS, 10_000, 150_000, 1_000_000, 5_000_000, SETTLE_NS)))
    def tick(self, dt):  # noqa: ANN001
        """Time passes; a 60 ms step settles everything (then the reference model must agree)."""
        if dt == SETTLE_NS:
            self.w.settle()
        else:
            self.w.tick(dt)

    # --- invariants -----------------------------------------------------------------------------------
    @invariant()
    def isolation_holds(self):
        self.w.check()
        if self.w.settled:
            self.w.check_reference()


IsolationMachine.TestCase.settings = ISOLATION_SETTINGS
TestIsolation = IsolationMachine.TestCase

assert MAX_A == 70 and MAX_D == 20  # the pools above are drawn around these maxima
