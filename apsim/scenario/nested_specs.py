"""Scenario keys of a nested guest's SIE block as its guest-1 hypervisor fills it.

A guest-1 that runs its own KVM writes a CRYCB designation (address and format
bits) into each guest-2's SIE block; the hypervisor below reads it in vsie.c
``shadow_crycb``. Linux's KVM always writes a valid one, so the ``crycb:`` key of a
nested guest stands for another (or a broken) guest-1 hypervisor, to test what the
level below does with it: a validity intercept with its code, and a guest-2 that
never runs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, WithJsonSchema, field_validator

from apsim.kvm import crycb as cb
from apsim.scenario.base import StrictModel
from apsim.scenario.types import Address

__all__ = ["NestedCrycbSpec", "ValidityCode", "FORMAT_BITS"]

FORMAT_BITS: dict[int | str, int] = {0: 0b00, 1: 0b01, 2: 0b11, "undefined": 0b10}
"""CRYCBD low bits per ``format`` value (0b10 is not a defined format)."""


def _parse_code(value: Any) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip(), 0)
        except ValueError:
            raise ValueError(f"{value!r} is not a validity-intercept code (a number such as 0x0039)") from None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
        raise ValueError(f"{value!r} is not a validity-intercept code (0x0000..0xffff)")
    return value


ValidityCode = Annotated[
    int, BeforeValidator(_parse_code),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0, "maximum": 65535}, {"type": "string"}],
                    "description": "A SIE validity-intercept code (VIR), e.g. 0x0039."}),
]
"""A 16-bit validity-intercept reason code (accepts ``0x0039`` or 57)."""


class NestedCrycbSpec(StrictModel):
    """The CRYCB designation a guest-1 hypervisor writes into this nested guest's SIE block."""

    address: Address | None = None
    """CRYCB origin in guest-1 memory (31 bits; vsie.c masks it with 0x7ffffff8). Unset: where
    guest-1's KVM puts it (page aligned)."""
    format: Literal[0, 1, 2, "undefined"] | None = None
    """Format bits of the designation: 0, 1, 2 or ``undefined`` (0b10). Unset: the format
    guest-1's KVM picks for the guest's CPU model. The CRYCB's contents stay in the layout
    of that format, as guest-1's KVM writes them."""
    expect_validity: ValidityCode | None = None
    """The guest's start is expected to end in this validity intercept (e.g. 0x0039);
    unset: the start must succeed."""

    @field_validator("address")
    @classmethod
    def _address_31_bits(cls, v: int | None) -> int | None:
        if v is not None and v > 0x7FFFFFFF:
            raise ValueError(f"CRYCB address {v:#x} does not fit the 31-bit origin of a CRYCB "
                             f"designation (at most 0x7fffffff)")
        return v

    def format_bits(self) -> int | None:
        """The CRYCBD format bits to write, or None for KVM's own."""
        return None if self.format is None else FORMAT_BITS[self.format] & cb.CRYCB_FORMAT_MASK

    def expected_outcome(self) -> str:
        """What the guest's start must report: ``ok`` or ``validity 0x0039``."""
        return "ok" if self.expect_validity is None else validity_outcome(self.expect_validity)


def validity_outcome(code: int) -> str:
    """The timeline outcome of a start stopped by a validity intercept."""
    return f"validity 0x{code:04x}"
