"""The operands of the ``fault.inject`` timeline action and their rules.

The action itself (:class:`apsim.scenario.actions.FaultInject`) adds ``at`` and
``do``; the window starts at ``at`` and lasts ``duration`` (or runs ``until`` a
time; neither: to the end of the run), optionally only for the first ``count``
firings. Each kind takes its own operands and refuses the others, so a typo or a
misplaced key is a located error, never a fault that silently does nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from apsim.hw.faults import INSTRUCTIONS, KINDS
from apsim.hw.machine import SCLP_SUCCESS_CODES
from apsim.scenario.base import StrictModel
from apsim.scenario.types import Apqn, Duration, ErrnoName, Id, ResponseCode

__all__ = ["FaultInjectSpec", "KIND_OPERANDS"]

Instruction = Literal["TAPQ", "NQAP", "DQAP", "AQIC", "RAPQ", "ZAPQ"]
assert set(Instruction.__args__) == set(INSTRUCTIONS)  # type: ignore[attr-defined]

# Operands each kind accepts beyond the window (duration/until/count).
KIND_OPERANDS: dict[str, frozenset[str]] = {
    "response": frozenset({"apqns", "adapters", "instructions", "rc", "guest"}),
    "busy": frozenset({"apqns", "adapters", "instructions", "guest"}),
    "sclp": frozenset({"adapters", "command", "response"}),
    "nib_pin": frozenset({"apqns", "adapters", "guest", "errno"}),
    "gisc": frozenset({"apqns", "adapters", "guest", "errno"}),
    "chsc_delay": frozenset({"guest", "host", "delay"}),
}
assert set(KIND_OPERANDS) == set(KINDS)
_OPTIONAL = ("apqns", "adapters", "instructions", "rc", "guest", "command", "response", "errno",
             "host", "delay")


class FaultInjectSpec(StrictModel):
    """Operands of ``fault.inject`` (see docs/scenarios.md, "Fault injection")."""

    kind: Literal["response", "busy", "sclp", "nib_pin", "gisc", "chsc_delay"] = "response"
    """What fails: ``response`` (APQNs answer ``rc`` to ``instructions``), ``busy`` (RC 0x05
    to NQAP/DQAP), ``sclp`` (the SCLP (de)configure-AP command answers ``response``),
    ``nib_pin`` / ``gisc`` (vfio_ap's AQIC enable: pinning the NIB page or registering the
    guest ISC fails with ``errno``), ``chsc_delay`` (configuration-change events arrive
    ``delay`` later)."""
    apqns: Annotated[list[Apqn], Field(min_length=1, max_length=4096)] | None = None
    """The APQNs that fail (``"05.0004"``); with ``adapters``, APQNs of those adapters only."""
    adapters: Annotated[list[Id], Field(min_length=1)] | None = None
    """Every queue of these adapters fails (``sclp``: the commands for these adapters)."""
    instructions: Annotated[list[Instruction], Field(min_length=1)] | None = None
    """The AP instructions answered (``response``: required; ``busy``: default NQAP, DQAP)."""
    rc: ResponseCode | None = None
    """The response code answered (``response``; not 0x00)."""
    guest: str | None = None
    """Only instructions this guest issues (``response``/``busy``, not DQAP), only this
    guest's AQICs (``nib_pin``/``gisc``), only events relayed to this guest (``chsc_delay``)."""
    command: Literal["configure", "deconfigure"] | None = None
    """``sclp``: only this command (default both)."""
    response: Annotated[int, Field(ge=0, le=0xFFFF)] | None = None
    """``sclp``: the SCCB response code (e.g. 0x05F0); not one the kernel takes as success."""
    errno: ErrnoName | None = None
    """``nib_pin`` (default EFAULT) / ``gisc`` (default ENODEV): what the failing call returns."""
    host: bool | None = None
    """``chsc_delay``: delay the host LPAR's own CHSC event instead of the guests' relayed ones."""
    delay: Duration | None = None
    """``chsc_delay``: how much later the event arrives."""
    duration: Duration | None = None
    """How long the window lasts (default: to the end of the run)."""
    until: Duration | None = None
    """When the window ends (instead of ``duration``)."""
    count: Annotated[int, Field(ge=1, le=1 << 40)] | None = None
    """Fire only the first N times."""

    @field_validator("instructions", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [v.strip().upper() if isinstance(v, str) else v for v in value]
        return value

    @field_validator("response", mode="before")
    @classmethod
    def _number_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return int(value.strip(), 0)
            except ValueError:
                raise ValueError(f"{value!r} is not an SCCB response code (a number, e.g. 0x05f0)") from None
        return value

    @field_validator("response")
    @classmethod
    def _not_success(cls, value: int | None) -> int | None:
        if value is not None and value in SCLP_SUCCESS_CODES:
            raise ValueError(f"SCCB response {value:#06x} is one the kernel takes as success "
                             f"({', '.join(f'{c:#06x}' for c in sorted(SCLP_SUCCESS_CODES))}); "
                             f"a failure needs another code, e.g. 0x05f0")
        return value

    @model_validator(mode="after")
    def _operands_fit_kind(self) -> FaultInjectSpec:
        allowed = KIND_OPERANDS[self.kind]
        for name in _OPTIONAL:
            if getattr(self, name) is not None and name not in allowed:
                users = [k for k, ops in KIND_OPERANDS.items() if name in ops]
                raise ValueError(f"operand {name!r} applies only to kind {', '.join(users)}, "
                                 f"not {self.kind}")
        if self.kind in ("response", "busy") and self.apqns is None and self.adapters is None:
            raise ValueError(f"kind {self.kind} needs apqns or adapters (the queues that fail)")
        if self.kind == "response":
            if self.instructions is None:
                raise ValueError("kind response needs instructions (TAPQ, NQAP, DQAP, AQIC, RAPQ, ZAPQ)")
            if self.rc is None or self.rc == 0:
                raise ValueError("kind response needs rc, a non-zero response code (e.g. 0x04 or CHECKSTOPPED)")
        if self.kind == "sclp" and self.response is None:
            raise ValueError("kind sclp needs response, the SCCB response code (e.g. 0x05f0)")
        if self.kind == "chsc_delay":
            if not self.delay:
                raise ValueError("kind chsc_delay needs delay (e.g. 2s), how much later the event arrives")
            if self.host and self.guest is not None:
                raise ValueError("chsc_delay: give host: true (the host's event) or guest, not both")
        if self.duration is not None and self.until is not None:
            raise ValueError("give duration or until, not both")
        if self.duration == 0:
            raise ValueError("duration must be positive")
        at = getattr(self, "at", 0)
        if self.until is not None and self.until <= at:
            raise ValueError(f"until ({self.until} ns) must come after at ({at} ns)")
        return self

    def window_end(self, start: int) -> int | None:
        """The end of the window of a fault armed at *start* (None: the end of the run)."""
        if self.duration is not None:
            return start + self.duration
        return self.until
