"""What every timeline action shares: its time and name, and the pattern lists of log expectations.

Kept apart from :mod:`apsim.scenario.actions` so that the action families in other
modules (:mod:`apsim.scenario.device_actions`) build on the same base.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, PrivateAttr, field_validator

from apsim.scenario.base import StrictModel
from apsim.scenario.types import Duration

__all__ = ["ActionBase", "LogExpect", "parse_register"]


class ActionBase(StrictModel):
    """What every timeline action has: its time ``at`` (ns) and its name ``do``."""

    at: Duration
    """When the action happens (ns since the start of the run)."""
    _line: int | None = PrivateAttr(None)

    @property
    def line(self) -> int | None:
        """The scenario file line of this action (set by the loader), for reports."""
        return self._line

    def operands(self) -> dict[str, Any]:
        """The action's operands as JSON values (no ``at``/``do``; unset ones left out)."""
        return self.model_dump(mode="json", exclude={"at", "do"}, exclude_none=True)


def parse_register(value: Any) -> Any:
    """Register and ioctl values are written in hex more often than not (``"0x00800000"``)."""
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            raise ValueError(f"{value!r} is not a number (decimal or 0x hex)") from None
    return value


def _check_patterns(v: list[str]) -> list[str]:
    for p in v:
        try:
            re.compile(p)
        except re.error as e:
            raise ValueError(f"{p!r} is not a regular expression: {e}") from None
    return v


_Patterns = Annotated[list[Annotated[str, Field(max_length=512)]], Field(min_length=1, max_length=64)]


class LogExpect(ActionBase):
    """``expect``: regular expressions (Python ``re.search``) that must match log lines in
    this order, each a later line than the one before; ``absent``: ones no line may match."""

    expect: _Patterns | None = None
    absent: _Patterns | None = None

    @field_validator("expect", "absent")
    @classmethod
    def _regexes(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _check_patterns(v)
