"""The scenario keys that bring in the ecosystem's configuration: libvirt XML and the
k8s CEX device plugin with its containers (docs/ecosystem.md)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from apsim.linux.cexplugin import CryptoConfigSet
from apsim.scenario.base import StrictModel
from apsim.scenario.types import Duration, Name
from apsim.scenario.workloads import WorkloadConfig

__all__ = ["LibvirtImport", "CexContainerSpec", "CexPluginSpec"]

class LibvirtImport(StrictModel):
    """libvirt XML imported into the scenario (paths relative to the scenario file)."""

    nodedevs: list[str] = []
    """Node-device XML files or folders of them: vfio-ap mdevs become ``mdevs``; ap_card and
    ap_queue devices must exist in the scenario's host LPAR."""
    domains: list[str] = []
    """Domain XML files: each domain's vfio-ap hostdev and AP CPU features go to the guest
    of the same name (added when the scenario has none)."""


class CexContainerSpec(StrictModel):
    """Pods of the k8s CEX device plugin: each container asks for one device of ``setname``."""

    name: Name
    setname: str
    replicas: Annotated[int, Field(ge=1, le=1000)] = 1
    """Containers of this kind; they are called NAME-0, NAME-1, ... when more than one."""
    start: Duration = 0
    stop: Duration | None = None
    workload: WorkloadConfig

    def container_names(self) -> list[str]:
        """The names of the replicas."""
        return [self.name] if self.replicas == 1 else [f"{self.name}-{i}" for i in range(self.replicas)]


class CexPluginSpec(StrictModel):
    """The k8s CEX device plugin on the host, its ConfigMap and the containers it serves."""

    configmap: str | None = None
    """cex_resources.json (relative to the scenario), imported into ``cryptoconfigsets``."""
    cryptoconfigsets: list[dict[str, Any]] = []
    """The ConfigMap's config sets (checked with the plugin's rules)."""
    machineid: str = ""
    """This node's machine id (Manufacturer-Type-SequenceCode); '' matches only APQNs without one."""
    overcommit_limit: Annotated[int, Field(ge=1, le=100)] = 1
    """APQN_OVERCOMMIT_LIMIT: plugin devices per APQN for sets without ``overcommit``."""
    check_interval: Duration = 30 * 1_000_000_000
    """APQN_CHECK_INTERVAL: how often the plugin rescans the node's APQNs."""
    metrics_poll: Duration = 15 * 1_000_000_000
    """METRICS_POLL_INTERVAL: how often the plugin's metrics collector reads the counters."""
    containers: list[CexContainerSpec] = []

    @field_validator("cryptoconfigsets")
    @classmethod
    def _plugin_rules(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from apsim.interop.cex_plugin import parse_configmap
        from apsim.errors import ScenarioError

        try:
            parse_configmap({"cryptoconfigsets": value}, file="cryptoconfigsets")
        except ScenarioError as e:
            raise ValueError(f"{e.key}: {e.rule}") from None
        return value

    @model_validator(mode="after")
    def _positive_intervals(self) -> CexPluginSpec:
        if self.check_interval <= 0 or self.metrics_poll <= 0:
            raise ValueError("check_interval and metrics_poll must be more than 0")
        return self

    def sets(self) -> list[CryptoConfigSet]:
        """The config sets as the plugin reads them."""
        from apsim.interop.cex_plugin import parse_configmap

        return parse_configmap({"cryptoconfigsets": self.cryptoconfigsets}, file="cryptoconfigsets")
