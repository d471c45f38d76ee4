"""The port of the host Linux's own zcrypt users (apsim.guest.host_port.HostPort): targets
are the queues the host's zcrypt may use, replies come by the bus's interruptions when it
has them, and a refusal puts the host's queue device into the error state."""

from __future__ import annotations

from apsim.guest.host_port import HostPort
from apsim.linux.devices import DevState
from apsim.linux.queue_sm import POLL_LOW_NS
from tests.unit.linux_support import BUS, doc_host, run


def _settled(**kw):  # noqa: ANN003, ANN202
    env, m, lp, host = doc_host(**kw)
    run(env, 2 * POLL_LOW_NS + 1)  # every queue past its reset and interruption enablement
    return env, m, lp, host


def test_targets_are_the_queues_bound_to_the_hosts_zcrypt_drivers():
    env, m, lp, host = _settled()
    host.echo("-6", f"{BUS}/apmask")  # adapter 6 goes to vfio_ap
    run(env, 2 * POLL_LOW_NS)
    port = HostPort(m, host)
    assert port.targets() and all(q >> 8 == 5 for q in port.targets())
    assert port.name == host.name


def test_replies_come_by_the_buses_interruptions_when_it_uses_them():
    env, m, lp, host = _settled()
    port = HostPort(m, host)
    q = port.targets()[0]
    assert port.enable_irq(q, lambda apqn: None)
    env, m, lp, host = _settled(cmdline="ap.useirq=0")
    port = HostPort(m, host)
    assert not port.enable_irq(port.targets()[0], lambda apqn: None)  # the workload polls


def test_a_queue_refusal_puts_the_hosts_queue_device_into_the_error_state():
    env, m, lp, host = _settled()
    port = HostPort(m, host)
    port.queue_error(0x0504, 0x05, "ap_sm_write")
    assert host.bus.queues[0x0504].dev_state == DevState.ERROR
    assert 0x0504 not in port.targets()


def test_the_poll_period_is_the_lpar_one_on_an_lpar():
    env, m, lp, host = _settled()
    assert HostPort(m, host).poll_ns() == m.profile.poll_lpar_ns
