"""The port a workload reaches AP queues through (apsim.engine.port.LparPort): which APQNs
are targets, the queue depth TAPQ reports, and how interruptions are wired."""

from __future__ import annotations

from apsim.engine.codes import RC
from apsim.engine.core import new_env
from apsim.engine.port import LparPort
from apsim.engine.request import Request
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.machine import Machine
from apsim.hw.timing import request_type
from apsim.ids import apqn

RSA = request_type("rsa2048").index


def _port(poll: str = "lpar"):  # noqa: ANN202
    """CEX7 accelerators at 2 and 4 online, one at 3 in standby, a CEX3 at 1; domains 5 and 6."""
    env = new_env()
    m = Machine(env, model="z15", seed=3, max_domain_id=255)
    m.install_adapter(1, CardSpec(CardType.CEX3, Mode.ACCELERATOR, engines=1))
    for a in (2, 3, 4):
        m.install_adapter(a, CardSpec(CardType.CEX7, Mode.ACCELERATOR, engines=1))
    lp = m.add_lpar("l", adapters=[1, 2, 4], standby=[3], usage_domains=[6, 5], control_domains=[5])
    return env, m, lp, LparPort(m, lp.config, name="host", poll=poll)


def test_targets_are_the_configurations_online_cex4_or_later_apqns_sorted():
    env, m, lp, port = _port()
    assert port.targets() == [apqn(2, 5), apqn(2, 6), apqn(4, 5), apqn(4, 6)]


def test_a_queue_that_goes_offline_stops_being_a_target():
    env, m, lp, port = _port()
    m.checkstop(4)
    assert port.targets() == [apqn(2, 5), apqn(2, 6)]
    m.checkstop(4, on=False)
    assert apqn(4, 5) in port.targets()


def test_queue_depth_is_tapqs_gr2_depth_field_plus_one():
    env, m, lp, port = _port()
    q = lp.config.lpar.queues[apqn(2, 5)]
    info = port.cpu.tapq(apqn(2, 5), t=True)
    assert port.queue_depth(apqn(2, 5)) == (info.gr2 & 0xF) + 1 == q.depth


def test_tapq_gives_the_response_code_of_the_queues_state():
    env, m, lp, port = _port()
    assert port.tapq(apqn(2, 5)) == 0
    assert port.tapq(apqn(3, 5)) == RC.DECONFIGURED
    port.cpu.rapq(apqn(2, 5))
    assert port.tapq(apqn(2, 5)) == RC.RESET_IN_PROGRESS


def test_link_is_the_physical_queue_of_an_apqn_in_the_configuration_or_none():
    env, m, lp, port = _port()
    assert port.link(apqn(2, 5)) is m.adapters[2].queues[5]
    assert port.link(apqn(2, 7)) is None


def test_nqap_and_dqap_go_straight_to_the_configurations_queues():
    env, m, lp, port = _port()
    assert port.nqap(apqn(2, 5), Request(7, RSA, 256)) == 0
    assert port.nqap(apqn(2, 7), Request(8, RSA, 256)) == RC.Q_NOT_AVAIL
    env.run(until=10**9)
    rc, req = port.dqap(apqn(2, 5))
    assert rc == 0 and req.psmid == 7


def test_a_plain_handler_is_called_with_the_apqn_through_the_ports_interruption_router():
    env, m, lp, port = _port()
    seen = []
    assert port.enable_irq(apqn(2, 5), seen.append)
    q = lp.config.lpar.queues[apqn(2, 5)]
    assert q.irq and q.isc == 3 and q.nib == 0x1000 + apqn(2, 5)
    assert q.irq_target != seen.append  # not deferrable: the port routes it
    port.nqap(apqn(2, 5), Request(1, RSA, 256))
    env.run(until=10**9)
    assert seen == [apqn(2, 5)]


class _Pickup:
    """A deferrable interruption target (apsim.engine.queue.deferrable)."""

    pickup_ns = 500

    def __init__(self) -> None:
        self.calls: list = []

    def __call__(self, q: object) -> None:
        self.calls.append(q)

    def pickup(self, q: object) -> None:
        self.calls.append(("pickup", q))


def test_a_deferrable_handler_is_wired_straight_into_the_queue():
    env, m, lp, port = _port()
    h = _Pickup()
    assert port.enable_irq(apqn(2, 5), h)
    assert lp.config.lpar.queues[apqn(2, 5)].irq_target is h


def test_enabling_interruptions_twice_still_counts_as_enabled():
    env, m, lp, port = _port()
    assert port.enable_irq(apqn(2, 5), _Pickup())
    assert port.enable_irq(apqn(2, 5), _Pickup())  # AQIC answers 0x07: already on


def test_enabling_interruptions_on_a_standby_queue_fails():
    env, m, lp, port = _port()
    assert not port.enable_irq(apqn(3, 5), _Pickup())


def test_the_poll_period_is_the_lpar_or_zvm_one_of_the_profile():
    for poll, field in (("lpar", "poll_lpar_ns"), ("zvm", "poll_zvm_ns")):
        env, m, lp, port = _port(poll)
        assert port.poll_ns() == getattr(m.profile, field)
    assert m.profile.poll_lpar_ns != m.profile.poll_zvm_ns


def test_an_lpar_port_is_always_ready_and_marks_no_queue_error():
    env, m, lp, port = _port()
    assert port.always_ready and port.ready_at(1234) == 1234
    port.queue_error(apqn(2, 5), 0x05, "ap_sm_write")
    assert port.targets() == [apqn(2, 5), apqn(2, 6), apqn(4, 5), apqn(4, 6)]
