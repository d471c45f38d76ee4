"""The reference port: the engine's Port protocol on the reference firmware."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

from apsim.engine.port import LparPort, Port
from apsim.engine.reference.firmware import RefRequest
from apsim.engine.reference.port import RefPort
from tests.unit.engine.reference.machine import ACCEPTED, build


def test_the_port_has_every_method_of_the_engine_port_protocol_with_its_parameters():
    for name, fn in inspect.getmembers(Port, inspect.isfunction):
        if name.startswith("_"):
            continue
        want = list(inspect.signature(fn).parameters)
        assert list(inspect.signature(getattr(RefPort, name)).parameters) == want, name
    assert list(inspect.signature(RefPort.tapq).parameters) == list(inspect.signature(LparPort.tapq).parameters)
    _env, m, _cpu = build([10])
    m.profile = SimpleNamespace(poll_lpar_ns=250_000, poll_zvm_ns=1_500_000)
    port = RefPort(m, "l", name="guest1", poll="zvm")
    assert (port.name, port.env, port.profile, port.always_ready) == ("guest1", m.env, m.profile, True)
    assert (port.poll_ns(), RefPort(m, "l").poll_ns()) == (1_500_000, 250_000)


def test_the_port_reaches_the_lpar_configuration_and_routes_interruptions_by_apqn():
    env, m, _cpu = build([10])
    port = RefPort(m, "l")
    seen = []
    assert port.targets() == [0x101, 0x102]
    assert port.queue_depth(0x101) == 4 and port.queue_depth(0x0301) == 8
    assert port.enable_irq(0x101, seen.append)
    req = RefRequest(9, 0, 100)
    assert port.nqap(0x101, req) == ACCEPTED
    env.run(until=20)
    assert seen == [0x101]
    assert port.dqap(0x101) == (ACCEPTED, req) and req.t_done == 10
