"""The engine's interface with the model, both ways, as structural types.

The engine sits below the model layers (``hw`` façades, ``kvm``, ``linux``, ``guest``,
``bulk``, ``scenario``): they build it and call into it, and it reaches back only
through the objects they hand it.

* What the engine needs from the model: :class:`Profile`, :class:`CardShape`,
  :class:`Sampler`, :class:`MachineView` (:mod:`apsim.hw` provides ``TimingProfile``,
  ``CardSpec``, ``ServiceSampler`` and ``Machine``).
* What the model calls on the engine's objects besides building them and the
  instruction executor's surface (``Executor``, ``nqap_fast``/``dqap_fast``, in
  docs/architecture.md): :class:`QueueCalls`, :class:`AdapterCalls`,
  :class:`WorkloadCalls`, :class:`LedgerCalls`, :class:`CalendarCalls`; the bulk
  mode's state moves through :mod:`apsim.engine.export`.
  tests/unit/engine/test_api.py checks that the engine's classes have these methods
  with these parameters.
* Which names a module outside the engine may import from it: :data:`INTERFACE`
  (tests/unit/engine/test_interface.py fails on an import it does not list).
"""

from __future__ import annotations

from typing import Any, Protocol

PUBLIC = frozenset({"*"})
"""An :data:`INTERFACE` entry: every public (not ``_``-prefixed) name of the module."""

INTERFACE: dict[str, frozenset[str]] = {
    # Modules a model imports whole (``from apsim.engine import codes``).
    "apsim.engine": frozenset({"codes", "seq"}),
    # Building the engine and scheduling on it.
    "apsim.engine.core": frozenset({"Streams", "VcpuGate", "call_at", "disarm", "new_env"}),
    "apsim.engine.calendar": frozenset({"calendar", "pending"}),
    "apsim.engine.adapter": frozenset({"Adapter"}),
    "apsim.engine.queue": frozenset({"APQueue", "deferrable"}),
    "apsim.engine.config": frozenset({"APConfiguration", "Facilities", "parse_qci"}),
    "apsim.engine.request": frozenset({"DONE", "DROPPED", "REPLY", "Ledger", "Request", "new_request"}),
    "apsim.engine.secure": frozenset({"AP_PV_MODELS", "UNPACK_MODELS"}),
    # The architecture's constants (response codes, function codes, status bits, GR0 layout).
    "apsim.engine.codes": PUBLIC,
    # Instructions: the register-level executor and the firmware's NQAP/DQAP.
    "apsim.engine.firmware": frozenset({"dqap_fast", "nqap_fast"}),
    "apsim.engine.instructions": frozenset({"APResult", "Executor", "aqic_gr1", "gr0_for"}),
    # Workloads, their ports and what they record.
    "apsim.engine.workload": frozenset({"Workload"}),
    "apsim.engine.workload_spec": frozenset({"WorkloadSpec"}),
    "apsim.engine.port": frozenset({"LparPort"}),
    "apsim.engine.recorder": frozenset({"RequestRecorder", "Timeline", "TimelineEntry"}),
    # The bulk mode: engine state as data, the random streams it replays, the FIFO kernel.
    "apsim.engine.export": PUBLIC,
    "apsim.engine.draws": frozenset({"BLOCK"}),
    "apsim.engine.targets": frozenset({"Target", "as_block"}),
    "apsim.engine.seq": frozenset({"compiled", "fifo_multi"}),
}
"""The engine's interface as imports: engine module -> the names a module outside
``apsim/engine`` may import from it (or read from it when it imports the module
whole). Everything else is the engine's own; a model that needs more adds the name
here, where the interface is reviewed, rather than reaching past it."""


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
    ap_type: int
    """The AP type number (CEX4 = 10 ... CEX8 = 14; older adapters below 10)."""


class Sampler(Protocol):
    """Service times of one adapter: the mean per request type and one draw at a time.

    The block state: a sampler that pre-draws its service times in blocks shows the
    current block as ``pos``, ``n`` and ``rows``, so that NQAP takes a draw without a
    call (``Adapter._draw``). The rule both sides keep: while ``pos < n`` and
    ``rows[rt]`` is not None, ``draw(rt)`` returns ``rows[rt][pos]`` and advances
    ``pos`` by one, and the engine does exactly that itself; in every other case it
    calls ``draw(rt)``, which may start a new block, fill ``rows[rt]`` or return a value
    from outside the rows. A sampler without blocks leaves the three out (or keeps
    ``n == 0``): every draw is then a call.
    """

    mean_ns: list[int]
    pos: int
    """The next position in the current block."""
    n: int
    """How many draws the current block holds (0: none yet)."""
    rows: list[Any]
    """Per request type: None, or the current block's service times in ns for that type
    (an ``array('q')`` of at least ``n`` values, read as a C array when compiled)."""

    def draw(self, rt_index: int) -> int:
        """One service time in ns for a request of type *rt_index*."""
        ...


class MachineView(Protocol):
    """What the instruction executor needs of the machine it runs on."""

    env: Any  # the simpy.Environment
    profile: Profile
    gisas: dict[int, Any]  # GISA origin -> interruption target


class QueueCalls(Protocol):
    """What the model calls on an AP queue (:class:`apsim.engine.queue.APQueue`)."""

    apqn: int
    count: int  # entries on the queue (requests and replies)
    touched: int  # instructions that reached it (isolation checks)

    def reset(self, *, zeroize: bool, cause: str | None = None, unbind: bool = False) -> int:
        """RAPQ / ZAPQ: drop every request (each accounted with *cause*), start the reset period."""
        ...

    def set_config_rc(self, rc: int, cause: str) -> int:
        """Enter or leave standby (0x03) / checkstop (0x04); entering drops every request."""
        ...

    def flush(self, cause: str) -> int:
        """Drop every request the queue holds, accounting each with *cause*."""
        ...

    def live_count(self) -> int:
        """Requests accepted and not yet dequeued or dropped."""
        ...

    def mean_occupancy(self, now: int) -> float:
        """Time-average number of entries from 0 to *now*."""
        ...


class AdapterCalls(Protocol):
    """What the model calls on an adapter (:class:`apsim.engine.adapter.Adapter`)."""

    apid: int

    def queue(self, apqi: int, owner_lpar: object) -> QueueCalls:
        """The queue of usage domain *apqi*, created on first use for *owner_lpar*."""
        ...

    def set_checkstop(self, on: bool, lpar_rc: dict[object, int]) -> int:
        """Checkstop (or recover) the adapter; *lpar_rc*: each LPAR's config rc on recovery."""
        ...

    def utilization(self, now: int) -> float:
        """Fraction of engine capacity used from 0 to *now*."""
        ...


class WorkloadCalls(Protocol):
    """What the model calls on a workload (:class:`apsim.engine.workload.Workload`)."""

    completed: int
    dropped: int
    rejected: int

    def start(self) -> None:
        """Begin issuing requests."""
        ...

    def stop(self) -> None:
        """Stop creating requests (outstanding ones finish or are dropped by resets)."""
        ...

    def refresh_targets(self) -> None:
        """Re-read the usable APQNs (after a hot plug or unplug seen by the AP bus)."""
        ...

    def on_dropped(self, req: Any, cause: str) -> None:
        """The hardware dropped one of this workload's requests."""
        ...

    def in_software_queues(self) -> int:
        """Requests the driver holds that were never NQAP'd."""
        ...


class LedgerCalls(Protocol):
    """What the model reads of the request ledger (:class:`apsim.engine.request.Ledger`)."""

    submitted: int
    completed: int

    def check(self, in_flight_actual: int | None = None) -> None:
        """Raise AccountingError unless the books balance (and match the live count)."""
        ...

    def summary(self) -> dict:
        """The report's ``requests`` block."""
        ...


class CalendarCalls(Protocol):
    """What the model calls on the calendar (:class:`apsim.engine.calendar.Calendar`)."""

    def push(self, at: int, hook: Any, priority: int = ...) -> None:
        """Fire *hook* (its ``callbacks`` set) at absolute time *at*."""
        ...

    def remove(self, drop: Any) -> list[tuple[int, int, int, Any]]:
        """Take out every pending firing whose hook satisfies ``drop(hook)``; return them."""
        ...
