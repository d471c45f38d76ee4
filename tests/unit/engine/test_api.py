"""The engine's classes offer the calls apsim/engine/api.py documents, with the same parameters."""

from __future__ import annotations

import inspect

import pytest

from apsim.engine import api
from apsim.engine.adapter import Adapter
from apsim.engine.calendar import Calendar
from apsim.engine.queue import APQueue
from apsim.engine.request import Ledger
from apsim.engine.workload import Workload
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.machine import Machine
from apsim.hw.sampler import ServiceSampler
from apsim.hw.timing import TimingProfile

PAIRS = [(api.QueueCalls, APQueue), (api.AdapterCalls, Adapter), (api.WorkloadCalls, Workload),
         (api.LedgerCalls, Ledger), (api.CalendarCalls, Calendar),
         (api.Profile, TimingProfile), (api.Sampler, ServiceSampler)]


def _methods(proto: type) -> dict[str, inspect.Signature]:
    return {n: inspect.signature(f) for n, f in vars(proto).items()
            if inspect.isfunction(f) and not n.startswith("_")}


def _params(sig: inspect.Signature) -> list[tuple[str, object]]:
    return [(p.name, p.kind) for p in sig.parameters.values()]


@pytest.mark.parametrize(("proto", "cls"), PAIRS, ids=lambda x: x.__name__)
def test_the_engine_class_has_every_documented_call_with_the_documented_parameters(proto, cls):
    for name, sig in _methods(proto).items():
        impl = getattr(cls, name, None)
        assert impl is not None, f"{cls.__name__} has no {name} ({proto.__name__} documents it)"
        if isinstance(impl, staticmethod) or isinstance(inspect.getattr_static(cls, name), staticmethod):
            assert _params(inspect.signature(impl)) == _params(sig)[1:], f"{cls.__name__}.{name}"
        else:
            assert _params(inspect.signature(impl)) == _params(sig), f"{cls.__name__}.{name}"


def test_the_hw_objects_handed_to_the_engine_have_the_documented_attributes():
    from apsim.engine.core import new_env
    m = Machine(new_env(), model="z15", seed=1)
    spec = CardSpec(CardType.CEX7, Mode.ACCELERATOR, engines=2)
    smp = ServiceSampler(spec, m.profile, m.streams.get("test"))
    for proto, obj in ((api.CardShape, spec), (api.MachineView, m), (api.Profile, m.profile),
                       (api.Sampler, smp)):
        for attr in getattr(proto, "__annotations__", {}):
            assert hasattr(obj, attr), f"{type(obj).__name__} lacks {attr} ({proto.__name__})"
