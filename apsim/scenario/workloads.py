"""The ``workload:`` block: what requests a guest (or another LPAR) issues.

Open loop (Poisson ``rate`` or the arrival times of a ``trace`` file) or closed loop
(``concurrency`` outstanding, ``think`` between reply and next request), a request
``mix``, the ``targets`` and how the zcrypt-like dispatcher picks among them.
:meth:`WorkloadConfig.to_runtime` gives the :class:`apsim.engine.workload_spec.WorkloadSpec`
the guest layer runs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (Field, PlainSerializer, PlainValidator, PrivateAttr, ValidationInfo, WithJsonSchema,
                      field_validator, model_validator)

from apsim.hw.timing import request_type
from apsim.ids import format_apqn
from apsim.errors import ScenarioError
from apsim.scenario.base import StrictModel
from apsim.scenario.limits import MAX_RATE, MAX_TRACE_BYTES, read_bounded
from apsim.scenario.types import Duration, parse_apqn_value
from apsim.units import parse_duration

__all__ = ["WorkloadConfig", "read_arrival_trace"]


def read_arrival_trace(path: str | Path) -> list[int]:
    """Read an open-loop arrival trace: one arrival time per line, non-decreasing.

    Times are durations since the start (``1.5ms``); a bare integer is nanoseconds.
    Blank lines and ``#`` comments are skipped. Raises ValueError (with the line
    number) on a bad line or a file over :data:`~apsim.scenario.limits.MAX_TRACE_BYTES`
    (a device such as ``/dev/zero`` stops there), OSError when it cannot be read.
    """
    try:
        text = read_bounded(path, MAX_TRACE_BYTES, "the trace file")
    except ScenarioError as e:  # the caller words it under the scenario's key
        raise ValueError(f"{path}: {e.rule}") from None
    times: list[int] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            t = parse_duration(int(line) if line.isdigit() else line, allow_bare_int=line.isdigit())
        except ValueError as e:
            raise ValueError(f"{path}:{n}: {e}") from None
        if times and t < times[-1]:
            raise ValueError(f"{path}:{n}: arrival {line} is earlier than the one before it "
                             f"(times must not decrease)")
        times.append(t)
    if not times:
        raise ValueError(f"{path}: the trace has no arrival times")
    return times


def _targets(value: Any) -> str | list[int]:
    # One validator for both forms, so a bad entry gives one error, not one per union branch.
    if value == "all":
        return "all"
    if isinstance(value, list) and value:
        out: list[int] = []
        for i, item in enumerate(value):
            try:
                out.append(parse_apqn_value(item))
            except ValueError as e:
                raise ValueError(f"item {i}: {e}") from None
        return out
    raise ValueError(f"targets is \"all\" or a non-empty list of APQNs such as [\"05.0004\"], "
                     f"not {value!r}")


def _dump_targets(value: str | list[int]) -> str | list[str]:
    return value if isinstance(value, str) else [format_apqn(q) for q in value]


Targets = Annotated[
    str | list[int], PlainValidator(_targets), PlainSerializer(_dump_targets),
    WithJsonSchema({"anyOf": [{"const": "all"}, {"type": "array", "minItems": 1, "items": {
        "type": "string", "pattern": r"^\s*[0-9a-fA-F]{1,2}\.[0-9a-fA-F]{1,4}\s*$"}}],
        "description": "all, or a list of APQNs (AA.QQQQ)."}),
]


class WorkloadConfig(StrictModel):
    """The requests a guest (or another LPAR) issues.

    ``open`` loop: Poisson arrivals at ``rate`` per second, or the arrival times of
    a ``trace`` file. ``closed`` loop: ``concurrency`` requests outstanding per guest
    (or per APQN), each re-issued ``think`` after its reply. ``none``: no requests.
    """

    kind: Literal["open", "closed", "none"] = "closed"
    rate: Annotated[float, Field(gt=0, le=MAX_RATE, allow_inf_nan=False)] | None = None
    trace: str | None = None
    """Arrival-time file (relative to the scenario file)."""
    concurrency: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    per: Literal["guest", "apqn"] | None = None
    think: Duration | None = None
    mix: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = {"rsa2048_crt": 1.0}
    """Request type → relative weight."""
    targets: Targets = "all"
    select: Literal["round_robin", "least_loaded", "random"] = "least_loaded"
    """least_loaded: zcrypt's weight balancing (queue load × request weight)."""
    reply: Literal["interrupt", "poll"] = "interrupt"
    length: Annotated[int, Field(ge=1, le=1 << 31)] | None = None
    """Request message length in bytes (default: each type's own size)."""
    _trace_ns: list[int] | None = PrivateAttr(None)

    @field_validator("mix", mode="before")
    @classmethod
    def _canonical_mix(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for name, weight in value.items():
            canon = request_type(str(name)).name
            if canon in out:
                raise ValueError(f"request type {canon!r} is listed twice (as {name!r} too)")
            out[canon] = weight
        if not out:
            raise ValueError("the mix needs at least one request type")
        return out

    @field_validator("mix")
    @classmethod
    def _positive_mix(cls, value: dict[str, float]) -> dict[str, float]:
        if not math.fsum(value.values()) > 0:
            raise ValueError("the mix needs at least one positive weight")
        return value

    @field_validator("trace")
    @classmethod
    def _read_trace(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        base = (info.context or {}).get("base_dir")
        path = Path(value).expanduser()
        if base is not None and not path.is_absolute():
            path = Path(base) / path
        try:
            read_arrival_trace(path)  # checked now so the error points at this key
        except OSError as e:
            raise ValueError(f"cannot read trace file {str(path)!r}: {e.strerror or e}") from None
        return str(path)

    @model_validator(mode="after")
    def _kind_operands(self) -> WorkloadConfig:
        open_keys = {"rate": self.rate, "trace": self.trace}
        closed_keys = {"concurrency": self.concurrency, "per": self.per, "think": self.think}
        if self.kind == "open":
            if (self.rate is None) == (self.trace is None):
                raise ValueError("an open-loop workload needs exactly one of rate (requests/s) "
                                 "or trace (a file of arrival times)")
            bad = [k for k, v in closed_keys.items() if v is not None]
            if bad:
                raise ValueError(f"{', '.join(bad)} applies to closed-loop workloads, not kind open")
        elif self.kind == "closed":
            bad = [k for k, v in open_keys.items() if v is not None]
            if bad:
                raise ValueError(f"{', '.join(bad)} applies to open-loop workloads, not kind closed")
        if self.trace is not None:
            self._trace_ns = read_arrival_trace(self.trace)
        return self

    @property
    def trace_ns(self) -> list[int] | None:
        """The trace's arrival times in ns (read at validation), or None."""
        return self._trace_ns

    def to_runtime(self) -> Any:
        """This workload as :class:`apsim.engine.workload_spec.WorkloadSpec` (times in ns)."""
        from apsim.engine.workload_spec import WorkloadSpec

        return WorkloadSpec(
            kind=self.kind, rate=self.rate or 0.0, trace=self._trace_ns,
            concurrency=self.concurrency or 1, per=self.per or "guest", think_ns=self.think or 0,
            mix=dict(self.mix), targets=self.targets if self.targets == "all" else list(self.targets),
            select=self.select, reply=self.reply, length=self.length)


