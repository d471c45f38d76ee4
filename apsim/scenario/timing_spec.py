"""The ``timing:`` block: a named :class:`~apsim.hw.timing.TimingProfile` plus overrides.

The model is generated from TimingProfile's fields, so every field the timing model
has (now or later) can be overridden from a scenario, and nothing else: unknown
keys are refused like everywhere in the format.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

from pydantic import (BeforeValidator, Field, PrivateAttr, ValidationError, WithJsonSchema, create_model,
                      field_validator, model_validator)

from apsim.hw.timing import TimingProfile, get_profile
from apsim.scenario.base import StrictModel

__all__ = ["TimingSpec"]


_DURATION_JSON = {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}],
                  "description": "Duration: with a unit (5us) or bare integer nanoseconds."}


def _timing_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {
        "profile": (str, Field("default", description="A built-in profile name (default, "
                               "exponential, deterministic, lognormal).")),
    }
    for name, info in TimingProfile.model_fields.items():
        if name == "name":
            continue
        ann: Any = info.rebuild_annotation()
        if info.annotation is int and any(isinstance(m, BeforeValidator) for m in info.metadata):
            ann = Annotated[ann, WithJsonSchema(_DURATION_JSON)]
        fields[name] = (Optional[ann], Field(None, description=info.description))
    return fields


class _TimingBase(StrictModel):
    _profile: TimingProfile | None = PrivateAttr(None)

    @field_validator("profile", check_fields=False)
    @classmethod
    def _known_profile(cls, value: str) -> str:
        get_profile(value)
        return value

    @model_validator(mode="after")
    def _resolve(self) -> _TimingBase:
        overrides = self.model_dump(exclude={"profile"}, exclude_none=True)
        try:
            self._profile = get_profile(self.profile).with_overrides(overrides)  # type: ignore[attr-defined]
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            raise ValueError(f"{where}: {msg}" if where else msg) from None
        return self

    def resolve(self) -> TimingProfile:
        """The timing profile: the named one with the given fields overridden."""
        assert self._profile is not None
        return self._profile


TimingSpec: type[_TimingBase] = create_model(  # type: ignore[call-overload]
    "TimingSpec", __base__=_TimingBase, __module__=__name__,
    __doc__="Timing: a named profile plus overrides of any TimingProfile field.",
    **_timing_fields())


