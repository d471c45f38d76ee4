"""What the engine needs from the model, as structural types (the engine imports no model module).

The engine sits below the model layers (``hw`` façades, ``kvm``, ``linux``, ``guest``,
``bulk``, ``scenario``): they build it and call into it, and it reaches back only
through the objects they hand it. These protocols say what those objects must offer;
:mod:`apsim.hw` provides the real ones (``CardSpec``, ``ServiceSampler``,
``TimingProfile``, ``Machine``).
"""

from __future__ import annotations

from typing import Any, Protocol


class RequestKind(Protocol):
    """One request type as the engine uses it: its table index and default message length."""

    index: int
    msg_len: int


class Profile(Protocol):
    """The timing profile: the durations the engine reads, and request types by name."""

    irq_latency_ns: int
    dqap_ns: int
    assoc_ns: int
    poll_lpar_ns: int
    poll_zvm_ns: int

    def request_type(self, name: str | int) -> RequestKind:
        """The request type called *name* (ValueError naming the valid ones otherwise)."""
        ...


class CardShape(Protocol):
    """What an adapter needs of its card's description."""

    engines: int
    max_msg_size: int
    type_name: str


class Sampler(Protocol):
    """Service times of one adapter: the mean per request type and one draw at a time."""

    mean_ns: list[int]

    def draw(self, rt_index: int) -> int:
        """One service time in ns for a request of type *rt_index*."""
        ...


class MachineView(Protocol):
    """What the instruction executor needs of the machine it runs on."""

    env: Any  # the simpy.Environment
    profile: Profile
    gisas: dict[int, Any]  # GISA origin -> interruption target
