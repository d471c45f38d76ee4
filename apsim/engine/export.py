"""Engine state as plain data, for the bulk mode (apsim/bulk/).

A bulk window computes whole stretches of a workload at once and hands the result
back to the event engine. It reads the state it needs through :func:`export_state`
and writes back through the ``import_*`` and ``add_*`` functions here, so that the
engine's private fields are named inside the engine only
(tests/unit/engine/test_private_fields.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from heapq import heapify
from typing import Any, Callable

from apsim.engine.adapter import Adapter, _Rearm
from apsim.engine.calendar import calendar
from apsim.engine.core import _NOOP
from apsim.engine.queue import APQueue
from apsim.engine.request import ITSELF, PLANNED, REPLY, Request
from apsim.engine.targets import Target
from apsim.engine.simpy_internals import heap
from apsim.engine.workload import Workload

DRAW_KINDS = ("types", "uni", "gaps")
"""The blocks of pre-drawn randomness a workload keeps: request types, uniforms
(random target selection) and inter-arrival gaps."""


@dataclass(frozen=True)
class WorkloadState:
    """What a bulk window reads of a workload (a snapshot; the lists are the engine's own)."""

    targets: list[Target]  # the active targets, in selection order
    held: bool  # a request waits in the driver on some target
    link_cfg: Any  # the configuration whose queue links NQAP/DQAP reach (None: the port has none)
    always_ready: bool  # the port's vCPUs never block
    arrival: Any  # the pending-arrival hook (its callbacks are None while none is pending)
    mix: list[int]  # request-type indices of the mix
    lengths: dict[int, int]  # message length per request type
    unit_weights: bool  # every zcrypt weight of the mix is 1
    draws: dict[str, tuple[Any, int]]  # kind -> (current block, next position in it)


def export_state(wl: Workload) -> WorkloadState:
    """The state of *wl* a bulk window starts from."""
    return WorkloadState(
        targets=wl._active, held=any(t.held for t in wl._tgt.values()), link_cfg=wl._link_cfg,
        always_ready=bool(wl._always_ready), arrival=wl._arr, mix=wl._mix_idx.tolist(),
        lengths=wl._lengths, unit_weights=bool(wl._w1),
        draws={"types": (wl._types, wl._ti), "uni": (wl._uni, wl._ui), "gaps": (wl._gaps, wl._gi)})


def import_draws(wl: Workload, kind: str, block: Any, pos: int) -> None:
    """Make *block* (from ``as_block``) the workload's current block of *kind*, next at *pos*."""
    if kind == "types":
        wl._types, wl._ti = block, pos
    elif kind == "uni":
        wl._uni, wl._ui = block, pos
    elif kind == "gaps":
        wl._gaps, wl._gi = block, pos
    else:
        raise ValueError(f"unknown draw kind {kind!r}; one of {', '.join(DRAW_KINDS)}")


@dataclass(frozen=True)
class QueueState:
    """What a bulk window reads of a queue."""

    gate: int  # instructions are refused until this time (reset, association, busy, configure off)
    sink: Any  # where the queue's interruptions go (a workload's target, or None)


def queue_state(q: APQueue) -> QueueState:
    """The state of *q* a bulk window checks."""
    return QueueState(gate=q._gate, sink=q._sink)


def add_queue_occupancy(q: APQueue, ns_requests: int) -> None:
    """Add *ns_requests* (requests × ns spent in the queue) to the queue's occupancy integral."""
    q._occ_sum += ns_requests


def add_interruptions(q: APQueue, n: int) -> None:
    """Count *n* more interruptions raised by *q* (replies the bulk window posted)."""
    q._irq_count += n


def add_adapter_service(ad: Adapter, accepted: int, service_ns: int) -> None:
    """Count *accepted* more requests and *service_ns* more engine time on *ad*."""
    ad._order += accepted
    ad._svc_sum += service_ns


def disarm_arrival(wl: Workload) -> None:
    """Take the workload's pending arrival off (the bulk window generates arrivals itself)."""
    wl._arr.callbacks = None


def rearm_arrival(wl: Workload, at: int) -> None:
    """Make the workload's arrival hook fire its arrival again once pushed on the calendar at *at*."""
    wl._next_at = at
    wl._arr.callbacks = wl._arr_cbs


def request_state(req: Request) -> int:
    """Where *req* is (``apsim.engine.request``: QUEUED, PLANNED, SERVICE, REPLY, DONE, DROPPED)."""
    return req._state


def take_requests(q: APQueue) -> list[Request]:
    """Every request on *q*, planned first then replies, each in order; *q* is left empty."""
    reqs = list(q._plan) + list(q._replies)
    q._take_all()
    return reqs


def restore_request(q: APQueue, req: Request, *, settled: bool) -> None:
    """Put *req* back on *q*, as a waiting reply (*settled*) or a planned request, with its
    completion event armed as the adapter arms it."""
    if settled:
        req._state = REPLY
        q._append_reply(req)
    else:
        req._state = PLANNED
        q._append_plan(req)
    req.hook = ITSELF
    req.callbacks = q.adapter._reply_cbs


def sort_replies(q: APQueue) -> None:
    """Order *q*'s waiting replies by completion time, then acceptance order."""
    q._set_replies(sorted(q._replies, key=lambda r: (r.t_done, r.order)))


@dataclass(frozen=True)
class AdapterState:
    """What a bulk window reads of an adapter."""

    free_at: list[int]  # when each engine is next free (a copy)
    order: int  # requests accepted so far (the acceptance counter)


def adapter_state(ad: Adapter) -> AdapterState:
    """The state of *ad* a bulk window starts from."""
    return AdapterState(free_at=list(ad._free_at), order=ad._order)


def import_free_at(ad: Adapter, free_at: list[int]) -> None:
    """Set when each engine of *ad* is next free."""
    ad._free_at = sorted(free_at)


# --- scheduled events ----------------------------------------------------------------------
def is_disarmed(ev: Any) -> bool:
    """Whether *ev* is a hook that :func:`apsim.engine.core.disarm` made fire as a no-op."""
    return getattr(ev, "callbacks", None) is _NOOP


def replanned_request(ev: Any) -> Request | None:
    """The request whose completion *ev* fires, when *ev* is the event an adapter armed for
    it on a re-plan (the request's own event went stale then); else None."""
    return ev.req if isinstance(ev, _Rearm) else None


def remove_pending(env: Any, drop: Callable[[Any], bool]) -> None:
    """Take every scheduled event *ev* with ``drop(ev)`` off *env*: SimPy's heap entries and
    the calendar's firings (:func:`apsim.engine.calendar.pending` lists both)."""
    cal = calendar(env)
    h = heap(env)
    h[:] = [e for e in h if e[3] is cal or not drop(e[3])]
    heapify(h)
    cal.remove(drop)
