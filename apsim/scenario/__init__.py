"""Scenario files: the YAML format (:mod:`.schema`, with the value types in
:mod:`.types`, timeline actions in :mod:`.actions`, workloads in :mod:`.workloads` and
timing in :mod:`.timing_spec`), its loader with line-numbered errors (:mod:`.loader`)
and the cross-reference checks (:mod:`.checks`).

``build`` and ``run`` (turning a scenario into a running simulation) live in this
package too but are not imported here, so loading and validating a scenario stays
cheap and free of the simulation layers.
"""

from apsim.scenario.actions import ACTION_NAMES, Action, ActionBase, InstructionExpect
from apsim.scenario.checks import check_scenario
from apsim.scenario.loader import load_scenario, parse_scenario
from apsim.scenario.schema import (API_VERSION, AdapterSpec, CpuSpec, GuestRef, GuestSpec, HostSpec,
                                   LparSpec, MachineSpec, MdevSpec, OtherLparSpec, Scenario,
                                   TimingSpec, WorkloadConfig, schema_json)

__all__ = [
    "API_VERSION", "ACTION_NAMES", "Action", "ActionBase", "InstructionExpect", "AdapterSpec",
    "CpuSpec", "GuestRef", "GuestSpec", "HostSpec", "LparSpec", "MachineSpec", "MdevSpec",
    "OtherLparSpec", "Scenario", "TimingSpec", "WorkloadConfig", "check_scenario", "load_scenario",
    "parse_scenario", "schema_json",
]
