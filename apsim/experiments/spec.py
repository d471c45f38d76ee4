"""The sweep file: pydantic models, a loader with ``file:line: key: rule`` errors, its JSON Schema.

A sweep names a ``base`` scenario, the ``parameters`` to vary (dotted paths mapped
to a list of values or an integer range), the ``design`` that picks points, how many
``replications`` each point gets, the root ``seed``, the ``metrics`` to collect from
each run's JSON report and, optionally, a ``search`` for the largest (or smallest)
value of one integer parameter whose metric meets a bound. docs/sweeps.md describes
the format.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError, \
    field_validator, model_validator

from apsim.errors import ScenarioError
from apsim.experiments.paths import PathError, parse_path
from apsim.scenario.base import StrictModel
from apsim.scenario.checks import format_loc
from apsim.scenario.loader import locate, plain, read_yaml

__all__ = ["IntRange", "SearchSpec", "SweepSpec", "load_sweep", "sweep_schema_json", "MAX_POINTS", "MAX_RUNS"]

MAX_POINTS = 10_000
"""The most points one sweep may have (each is validated and held as a scenario)."""

MAX_RUNS = 1_000_000
"""The most runs (points × replications) one sweep may ask for."""

Scalar = StrictBool | StrictInt | StrictFloat | StrictStr


class IntRange(StrictModel):
    """The integers ``from``, ``from + step``, ... up to and including ``to``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True)

    start: StrictInt = Field(alias="from")
    to: StrictInt
    step: Annotated[StrictInt, Field(ge=1)] = 1

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.to < self.start:
            raise ValueError(f"to ({self.to}) is below from ({self.start})")
        if (self.to - self.start) // self.step + 1 > MAX_RUNS:
            raise ValueError(f"the range holds more than {MAX_RUNS} values")
        return self

    def values(self) -> list[int]:
        """The range's values in order."""
        return list(range(self.start, self.to + 1, self.step))


Values = Annotated[list[Scalar], Field(min_length=1)] | IntRange


class SearchSpec(StrictModel):
    """Find the largest (or smallest) value of one integer parameter whose metric meets a bound.

    A value meets the bound when the upper end of the 95 % confidence interval of the
    metric's mean over the replications is at most the bound. ``max_ratio_to_first``
    sets the bound to that many times the mean at the range's first value (e.g. 2 for
    "twice the single-guest p99").
    """

    parameter: StrictStr
    """The parameter searched; it must be an integer range in parameters."""
    metric: StrictStr
    """One column of the report (no ``*``), e.g. latency.p99_us."""
    max: StrictFloat | StrictInt | None = None
    """The metric's bound."""
    max_ratio_to_first: Annotated[StrictFloat | StrictInt, Field(gt=0)] | None = None
    """The bound as a multiple of the metric's mean at the range's first value."""
    direction: Literal["largest", "smallest"] = "largest"
    """largest: the metric grows with the parameter; smallest: it shrinks."""

    @model_validator(mode="after")
    def _one_bound(self) -> SearchSpec:
        if (self.max is None) == (self.max_ratio_to_first is None):
            raise ValueError("give exactly one bound: max or max_ratio_to_first")
        if "*" in self.metric:
            raise ValueError(f"the searched metric is one column, not a pattern ({self.metric!r})")
        return self


class SweepSpec(StrictModel):
    """A whole sweep file."""

    description: str = ""
    base: StrictStr
    """The scenario file the points vary (relative to the sweep file)."""
    parameters: dict[str, Values] = {}
    """Dotted paths into the scenario file → a list of values or {from, to, step}."""
    design: Literal["grid", "random", "lhs"] = "grid"
    """grid: every combination; random / lhs (Latin hypercube): ``samples`` points."""
    samples: Annotated[int, Field(ge=1, le=MAX_POINTS)] | None = None
    replications: Annotated[int, Field(ge=1, le=10_000)] = 1
    seed: Annotated[int, Field(ge=0, lt=1 << 63)] = 0
    """Root of numpy's SeedSequence; run (point, replication) gets the child spawned at that key."""
    metrics: Annotated[list[StrictStr], Field(min_length=1)]
    """Paths into the run's JSON report; ``*`` stands for every key (guests.*.p99_us)."""
    search: SearchSpec | None = None

    @field_validator("parameters")
    @classmethod
    def _paths(cls, value: dict[str, Any]) -> dict[str, Any]:
        for path in value:
            try:
                parse_path(path)
            except PathError as e:
                raise ValueError(str(e)) from None
        return value

    @model_validator(mode="after")
    def _design(self) -> SweepSpec:
        if self.design == "grid" and self.samples is not None:
            raise ValueError("samples applies to design random or lhs, not grid")
        if self.design != "grid" and self.samples is None:
            raise ValueError(f"design {self.design} needs samples (how many points)")
        sizes = [len(self.values(p)) for p in self.parameters]
        n = self.samples if self.design != "grid" else math.prod(sizes)
        if self.search is None and n > MAX_POINTS:
            raise ValueError(f"the {self.design} has {n} points; at most {MAX_POINTS} per sweep (split it)")
        if self.search is None and n * self.replications > MAX_RUNS:
            raise ValueError(f"{n} points x {self.replications} replications is more than {MAX_RUNS} runs")
        if self.search is not None:
            s = self.search
            if self.design != "grid":
                raise ValueError("a search picks its own points; leave design at grid")
            if s.parameter not in self.parameters or not isinstance(self.parameters[s.parameter], IntRange):
                raise ValueError(f"search.parameter {s.parameter!r} must be a parameter with an integer "
                                 f"range ({{from: 1, to: 64}})")
            if len(self.values(s.parameter)) > MAX_POINTS:
                raise ValueError(f"the searched range has more than {MAX_POINTS} values")
            others = [p for p, v in self.parameters.items() if p != s.parameter and len(_values(v)) != 1]
            if others:
                raise ValueError(f"a search varies one parameter; give {others[0]!r} a single value")
        return self

    def values(self, path: str) -> list[Any]:
        """The values of parameter *path*."""
        return _values(self.parameters[path])


def _values(v: Any) -> list[Any]:
    return v.values() if isinstance(v, IntRange) else list(v)


def load_sweep(path: str | Path) -> tuple[SweepSpec, Any]:
    """Load the sweep file at *path*: the validated spec and its YAML tree (for error lines)."""
    root = read_yaml(path)
    file = str(path)
    data = plain(root)
    if not isinstance(data, dict):
        raise ScenarioError("a sweep file is a mapping (base:, parameters:, metrics:, ...)", file=file, line=1)
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        # Of a union's branches, the one whose shape the input has tells what is wrong.
        first = next((x for x in errors if not (x["type"].endswith("_type") and any(map(_union_branch, x["loc"])))),
                     errors[0])
        line, loc = locate(root, tuple(p for p in first["loc"] if not _union_branch(p)))
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            msg = f"unknown key {loc[-1]!r}"
        elif first["type"] == "missing":
            msg = f"required key {loc[-1]!r} is missing"
        elif first["type"] in ("value_error", "assertion_error"):
            msg = msg.split(", ", 1)[1] if ", " in msg else msg
        elif not isinstance(first.get("input"), dict | list):
            msg += f" (got {first.get('input')!r})"
        raise ScenarioError(msg, file=file, line=line, key=format_loc(loc)) from None
    return spec, root


def _union_branch(part: Any) -> bool:
    """A union branch name pydantic puts into an error's loc (not a key of the file)."""
    return isinstance(part, str) and (part in ("IntRange", "bool", "int", "float", "str")
                                      or part.startswith(("list[", "function-")))


def sweep_schema_json() -> str:
    """The JSON Schema of the sweep file format."""
    schema = SweepSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://apsim.dev/schema/apsim-sweep-v1.json"
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
