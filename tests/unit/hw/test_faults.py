"""The machine's fault table (apsim.hw.faults): windows, counts, the queue hook, and what
each instruction path does with an injected response code."""

from __future__ import annotations

from apsim.engine.core import new_env
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.engine.codes import RC
from apsim.hw.faults import KEPT_FIRINGS, Fault, table_of
from apsim.engine.firmware import dqap_queue, nqap_queue
from apsim.engine.instructions import Executor
from apsim.hw.machine import SCLP_CMD_CONFIGURE_AP, SCLP_CMD_DECONFIGURE_AP, Machine
from apsim.engine.queue import _FOREVER
from apsim.engine.request import Request
from apsim.hw.timing import get_profile, request_type

RSA = request_type("rsa2048").index
MS = 1_000_000


def _setup():
    env = new_env()
    prof = get_profile("default").with_overrides({"distribution": "deterministic"})
    m = Machine(env, model="z16", seed=1, max_domain_id=255, profile=prof)
    m.install_adapter(3, CardSpec(CardType.CEX8, Mode.ACCELERATOR))
    lp = m.add_lpar("l", adapters=[3], usage_domains=[7, 8], control_domains=[7, 8])
    return env, m, lp


def _req(psmid: int) -> Request:
    return Request(psmid, RSA, 256, 0, 0, -1)


def _arm(m, q, **kw) -> Fault:
    f = Fault(id=1, kind="response", start=m.env.now, **kw)
    table_of(m).arm(f, [q])
    return f


def test_a_machine_without_faults_has_no_table_and_open_gates():
    """Nothing armed: machine.faults is None and no queue leaves the fast lane."""
    _, m, lp = _setup()
    assert m.faults is None
    assert all(q._fault is None and q._gate == 0 for q in lp.queues.values())


def test_an_nqap_fault_rejects_counts_and_keeps_the_books():
    """An injected NQAP code refuses the request and counts it as rejected with that code."""
    env, m, lp = _setup()
    q = lp.queues[0x0307]
    f = _arm(m, q, code=RC.CHECKSTOPPED, instructions=frozenset({"NQAP"}))
    assert q._gate == _FOREVER
    assert nqap_queue(lp.config, q, _req(1)) == RC.CHECKSTOPPED
    assert m.ledger.rejected[RC.CHECKSTOPPED] == 1 and q.count == 0
    assert (f.fired, f.firings[0]["what"], f.firings[0]["where"]) == (1, "NQAP", "03.0007")


def test_a_dqap_fault_leaves_the_reply_on_the_queue():
    """A DQAP answered by a fault dequeues nothing; after the window the reply comes."""
    env, m, lp = _setup()
    q = lp.queues[0x0307]
    assert nqap_queue(lp.config, q, _req(1)) == 0
    env.run(until=10 * MS)
    _arm(m, q, code=RC.BUSY, instructions=frozenset({"DQAP"}), end=env.now + MS)
    assert dqap_queue(q) == (RC.BUSY, None)
    assert q.count == 1
    env.run(until=env.now + 2 * MS)
    assert q._fault is None and q._gate < env.now                 # unhooked at the window's end
    rc, req = dqap_queue(q)
    assert rc == 0 and req.psmid == 1


def test_count_limits_the_firings_and_then_unhooks_the_queue():
    """``count: N`` answers the first N matching instructions, then the queue is plain again."""
    _, m, lp = _setup()
    q = lp.queues[0x0307]
    f = _arm(m, q, code=RC.DECONFIGURED, instructions=frozenset({"NQAP"}), count=2)
    rcs = [nqap_queue(lp.config, q, _req(i)) for i in range(3)]
    assert rcs == [RC.DECONFIGURED, RC.DECONFIGURED, 0]
    assert f.fired == 2 and q._fault is None


def test_a_fault_answers_only_its_instructions_and_its_queues():
    """Another instruction, or another APQN, is executed as without the fault."""
    _, m, lp = _setup()
    q7, q8 = lp.queues[0x0307], lp.queues[0x0308]
    _arm(m, q7, code=RC.Q_NOT_AVAIL, instructions=frozenset({"TAPQ"}))
    cpu = Executor(m, lp.config)
    assert cpu.tapq(0x0307).rc == RC.Q_NOT_AVAIL
    assert cpu.tapq(0x0308).rc == 0
    assert nqap_queue(lp.config, q7, _req(1)) == 0
    assert q8._fault is None


def test_pqap_faults_stop_the_reset_and_the_aqic_from_acting():
    """An injected RAPQ/ZAPQ/AQIC code leaves the queue as it was (no reset, no IRQ)."""
    env, m, lp = _setup()
    q = lp.queues[0x0307]
    assert nqap_queue(lp.config, q, _req(1)) == 0
    _arm(m, q, code=RC.BUSY, instructions=frozenset({"RAPQ", "ZAPQ", "AQIC"}))
    cpu = Executor(m, lp.config)
    assert cpu.zapq(0x0307).rc == RC.BUSY and q.count == 1
    assert cpu.aqic(0x0307, enable=True, nib=0x1000).rc == RC.BUSY and not q.irq


def test_an_issuer_filter_spares_other_configurations():
    """A fault for one issuer (configuration name) lets others through."""
    _, m, lp = _setup()
    q = lp.queues[0x0307]
    _arm(m, q, code=RC.BUSY, instructions=frozenset({"TAPQ"}), issuer="guest:g1")
    assert Executor(m, lp.config).tapq(0x0307).rc == 0


def test_an_sclp_fault_answers_its_response_and_changes_nothing():
    """Machine.sclp_command returns the injected SCCB code and leaves the adapter alone."""
    _, m, lp = _setup()
    f = Fault(id=1, kind="sclp", start=0, code=0x05F0, commands=frozenset({"deconfigure"}))
    table_of(m).arm(f)
    assert m.sclp_command(lp, SCLP_CMD_DECONFIGURE_AP | (3 << 8)) == 0x05F0
    assert 3 in lp.online
    assert m.sclp_command(lp, SCLP_CMD_CONFIGURE_AP | (3 << 8)) == 0x0120   # already on
    assert f.fired == 1


def test_chsc_delays_add_up_for_their_target():
    """Every live chsc_delay for a target adds its delay; no target means every guest."""
    env, m, _ = _setup()
    t = table_of(m)
    t.arm(Fault(id=1, kind="chsc_delay", start=0, delay_ns=5))
    t.arm(Fault(id=2, kind="chsc_delay", start=0, delay_ns=7, issuer="guest:g1"))
    t.arm(Fault(id=3, kind="chsc_delay", start=0, delay_ns=11, issuer="host"))
    assert (t.event_delay("guest:g1"), t.event_delay("guest:g2"), t.event_delay("host")) == (12, 5, 11)


def test_firings_beyond_the_kept_ones_are_counted():
    """A hot fault keeps KEPT_FIRINGS firings in full and counts the rest."""
    f = Fault(id=1, kind="busy", start=0)
    for i in range(KEPT_FIRINGS + 5):
        f.fire(i, "NQAP", "03.0007")
    s = f.summary()
    assert (s["fired"], len(s["firings"]), s["firings_left_out"]) == (KEPT_FIRINGS + 5, KEPT_FIRINGS, 5)


def test_a_queue_a_configuration_change_brings_in_gets_the_live_faults_that_cover_it():
    """An adapter fault also covers a usage domain added to the LPAR while it is armed."""
    env, m, lp = _setup()
    f = Fault(id=1, kind="busy", start=0, code=RC.BUSY, instructions=frozenset({"NQAP"}),
              adapters=frozenset({3}), end=10 * MS)
    table_of(m).arm(f, lp.queues.values())
    m.se_configure(lp, [3], False)
    m.se_change_lpar_crypto(lp, add_usage_domains=[9])
    m.se_configure(lp, [3], True)
    q9 = lp.queues[0x0309]
    assert q9._fault is not None and f in q9._fault.faults
    assert nqap_queue(lp.config, q9, _req(1)) == RC.BUSY
    env.run(until=11 * MS)
    assert all(q._fault is None for q in lp.queues.values())
