"""The base of every scenario model: unknown keys are errors, instances are immutable,
and attribute docstrings become descriptions in the generated JSON Schema."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["StrictModel"]


class StrictModel(BaseModel):
    """A scenario model: ``extra="forbid"``, frozen, attribute docstrings as descriptions."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
