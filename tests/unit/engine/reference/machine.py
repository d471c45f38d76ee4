"""A small reference machine for hand computation: one adapter (APID 1) with a card shape
and service times given by the test, LPAR "l" with usage domains 1 and 2, control
domain 1."""

from __future__ import annotations

from dataclasses import dataclass

import simpy

from apsim.engine.reference.firmware import RefCpu, RefMachine, RefRequest

ACCEPTED, RESET_IN_PROGRESS = 0, 0x02


@dataclass
class Card:
    """A card shape small enough to compute by hand."""

    engines: int = 2
    queue_depth: int = 4
    max_msg_size: int = 1000
    ap_type: int = 13


class Sampler:
    """Service times handed in as a list (a model input): type 0 runs, type 1 does not."""

    def __init__(self, times: list[int]) -> None:
        self.times = list(times)
        self.mean_ns = [10, 0]

    def draw(self, rt: int) -> int:
        return self.times.pop(0)


def build(times: list[int], *, engines: int = 2, arbitration: str = "fifo", depth: int = 4,
          reset_ns: int = 100) -> tuple[simpy.Environment, RefMachine, RefCpu]:
    """The machine, with *times* as the adapter's service times in acceptance order."""
    env = simpy.Environment(initial_time=0)
    m = RefMachine(env, reset_ns=reset_ns)
    m.install_adapter(1, Card(engines=engines, queue_depth=depth), Sampler(times), arbitration=arbitration)
    lp = m.add_lpar("l", adapters=[1], usage_domains=[1, 2], control_domains=[1])
    return env, m, RefCpu(m, lp)


def send(cpu: RefCpu, apqn: int, psmid: int, **kw) -> int:  # noqa: ANN003
    """NQAP a type-0 (or ``rtype``) request of 100 (or ``length``) bytes; its response code."""
    return cpu.nqap(apqn, RefRequest(psmid, kw.pop("rtype", 0), kw.pop("length", 100), t_submit=cpu.env.now,
                                     **kw)).rc
