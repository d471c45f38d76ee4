"""The scenario format (``apiVersion: apsim/v1``) as pydantic v2 models.

A scenario describes a machine (model, adapters), the host LPAR's crypto
activation profile (and optionally other LPARs sharing the adapters), the host
Linux (apmask/aqmask, AP bus timing), the vfio_ap mediated devices, the guests
(CPU features, workload, nested hosts/mdevs/guests) and a timeline of admin
actions with expectations. It is design contract 7 plus the keys listed in
``docs/scenarios.md``; every model refuses unknown keys.

After validation every duration is an ``int`` of nanoseconds, every id an ``int``
and every APQN an ``int`` (``APID << 8 | APQI``); ``model_dump(mode="json")``
prints APQNs back as ``"05.0004"``. Cross-references (guest → mdev, timeline →
guest, ids within the machine's maxima, ...) are checked by
:func:`apsim.scenario.checks.check_scenario` after the shapes are valid.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (ConfigDict, Field, PrivateAttr, ValidationInfo, WithJsonSchema, field_validator,
                      model_validator)

from apsim.guest.boot import DEFAULT_BOOT_NS
from apsim.guest.qemu import NEWEST_QEMU, parse_qemu_version
from apsim.hw.cards import CardSpec, CardType, Mode, check_serialnr
from apsim.hw.machine import MODELS
from apsim.hw.timing import TimingProfile
from apsim.kernel import NEWEST, KernelProfile, check_fixes, parse_version
from apsim.linux.mdevctl import ATTRS as MDEV_ATTRS
from apsim.scenario.actions import Action, ActionBase
from apsim.scenario.base import StrictModel
from apsim.scenario.ecosystem_specs import CexContainerSpec, CexPluginSpec, LibvirtImport
from apsim.scenario.nested_specs import NestedCrycbSpec
from apsim.scenario.hypervisor_specs import ZvmSpec
from apsim.scenario.timing_spec import TimingSpec
from apsim.scenario.types import Duration, Id, MaskString, Name, Uuid
from apsim.scenario.workloads import WorkloadConfig, read_arrival_trace

__all__ = [
    "API_VERSION", "Scenario", "MachineSpec", "AdapterSpec", "LparSpec", "OtherLparSpec",
    "HostSpec", "MdevSpec", "CpuSpec", "GuestSpec", "WorkloadConfig", "TimingSpec", "GuestRef",
    "read_arrival_trace", "schema_json",
]

API_VERSION = "apsim/v1"


IdList = list[Id]


# --------------------------------------------------------------------------------------
# machine
# --------------------------------------------------------------------------------------
def _card_type(value: Any) -> Any:
    if isinstance(value, str):
        return CardType.parse(value).name
    return value


def _mode_optional_in_schema(schema: dict[str, Any]) -> None:
    # `type: CEX5C` implies the mode, so editors must not demand `mode`.
    schema["required"] = [k for k in schema.get("required", []) if k != "mode"]


class AdapterSpec(StrictModel):
    """One installed Crypto Express adapter.

    ``type`` may carry the mode letter (``CEX5C``); then ``mode`` may be left out,
    and if given must agree.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True,
                              json_schema_extra=_mode_optional_in_schema)

    id: Id
    type: Annotated[Literal["CEX2", "CEX3", "CEX4", "CEX5", "CEX6", "CEX7", "CEX8"],
                    WithJsonSchema({"type": "string", "pattern": "^[Cc][Ee][Xx][2-8][AaCcPpSs]?$",
                                    "description": "CEX2..CEX8, optionally with the mode letter "
                                                   "(CEX3C, CEX5C, CEX7A, CEX8P); CEX2/CEX3 get no "
                                                   "card device (the AP bus supports CEX4 and newer)."})]
    mode: Literal["accelerator", "cca", "ep11"]
    """accelerator, cca or ep11 (may be left out when type ends in A, C or P)."""
    engines: Annotated[int, Field(ge=1, le=5)] = 4
    """Parallel engines (coprocessor threads) of the adapter."""
    queue_depth: Annotated[int, Field(ge=1, le=16)] = 8
    """Firmware request slots per APQN."""
    ml: Annotated[int, Field(ge=0, le=15)] = 0
    """TAPQ ml: max message length in 4 KiB units (0 = the kernel's 12 KiB default)."""
    serialnr: str | None = None
    """Serial number the card's firmware reports (digits and upper-case letters; CCA: 8
    characters, EP11: up to 16, blank-padded to 16); the card's sysfs ``serialnr`` and
    ``lszcrypt -s`` (its first 8 characters) show it.
    Without it the card reports none (an empty ``serialnr``, ``-`` in lszcrypt -s)."""

    @model_validator(mode="before")
    @classmethod
    def _mode_from_type_letter(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return data
        text = data["type"].strip().upper()
        letters = {"A": "accelerator", "C": "cca", "P": "ep11"}
        if len(text) == 5 and text[:4] in CardType.__members__ and text[4] in letters:
            mode = letters[text[4]]
            given = data.get("mode")
            if given is not None:
                try:
                    given_mode = Mode.parse(str(given)).value
                except ValueError:
                    given_mode = given
                if given_mode != mode:
                    raise ValueError(f"type {data['type']} is a {mode} adapter but mode is {given!r}")
            data = {**data, "type": text[:4], "mode": mode}
        return data

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        return _card_type(value)

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        return Mode.parse(value).value if isinstance(value, str) else value

    @field_validator("serialnr")
    @classmethod
    def _serialnr(cls, value: str | None, info: ValidationInfo) -> str | None:
        mode = info.data.get("mode")
        return value if value is None or mode is None else check_serialnr(Mode(mode), value)

    @model_validator(mode="after")
    def _generation_rules(self) -> AdapterSpec:
        try:
            self.card_spec()
        except ValueError as e:
            raise ValueError(str(e)) from None
        return self

    def card_spec(self) -> CardSpec:
        """The hardware description the machine installs."""
        return CardSpec(CardType[self.type], Mode(self.mode), engines=self.engines,
                        queue_depth=self.queue_depth, ml=self.ml, serialnr=self.serialnr)

    @property
    def type_name(self) -> str:
        """The card's sysfs ``type``, e.g. ``CEX5C``."""
        return self.card_spec().type_name


class MachineSpec(StrictModel):
    """The CEC: model (sets Na/Nd), AP extended addressing, adapters."""

    model: Literal["z13", "z14", "z15", "z16", "z17"] = "z15"
    apxa: bool = True
    """AP extended addressing (QCI Na/Nd up to 255); with msax3 picks CRYCB format 2."""
    max_adapter_id: Id | None = None
    """Override of the model's Na (the host's ap_max_adapter_id)."""
    max_domain_id: Id | None = None
    """Override of the model's Nd (the host's ap_max_domain_id)."""
    arbitration: Literal["fifo", "round_robin"] = "fifo"
    """How an adapter's engines pick the next request among its queues."""
    adapters: list[AdapterSpec] = []

    @field_validator("model", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def na(self) -> int:
        """The effective maximum adapter id."""
        return MODELS[self.model].max_adapter_id if self.max_adapter_id is None else self.max_adapter_id

    @property
    def nd(self) -> int:
        """The effective maximum domain id."""
        return MODELS[self.model].max_domain_id if self.max_domain_id is None else self.max_domain_id

    def adapter(self, apid: int) -> AdapterSpec | None:
        """The adapter installed at *apid*, if any."""
        return next((a for a in self.adapters if a.id == apid), None)


# --------------------------------------------------------------------------------------
# LPARs, host, mdevs
# --------------------------------------------------------------------------------------
class LparSpec(StrictModel):
    """The host LPAR's crypto activation profile.

    ``control_domains`` defaults to ``usage_domains``: on the HMC a usage domain is
    always also a control domain ("Control and Usage").
    """

    name: Name = "lpar1"
    adapters: IdList = []
    """Assigned and configured on at start."""
    standby: IdList = []
    """Assigned but configured off at start."""
    usage_domains: IdList = []
    control_domains: IdList | None = None

    @model_validator(mode="after")
    def _default_control(self) -> LparSpec:
        if self.control_domains is None:
            object.__setattr__(self, "control_domains", list(self.usage_domains))
        return self


class OtherLparSpec(StrictModel):
    """Another LPAR on the same machine, for cross-LPAR contention on shared adapters."""

    name: Name
    adapters: IdList = []
    usage_domains: IdList = []
    control_domains: IdList | None = None
    workload: WorkloadConfig | None = None
    """Its own load on its usage domains (issued by its Linux, zcrypt-like)."""

    @model_validator(mode="after")
    def _default_control(self) -> OtherLparSpec:
        if self.control_domains is None:
            object.__setattr__(self, "control_domains", list(self.usage_domains))
        return self


class HostSpec(StrictModel):
    """A Linux that owns AP queues: the LPAR's host, or a guest that runs its own vfio_ap."""

    apmask: MaskString | None = None
    """Written to /sys/bus/ap/apmask at start (default: left all ones)."""
    aqmask: MaskString | None = None
    """Written to /sys/bus/ap/aqmask at start."""
    config_time: Duration = 30 * 1_000_000_000
    """Period of the AP bus's configuration rescan (the kernel's ap_config_time)."""
    poll: Literal["lpar", "zvm"] = "lpar"
    """AP bus polling period preset: 250 us in an LPAR, 1.5 ms under z/VM."""
    cmdline: Annotated[str, Field(max_length=4096)] = ""
    """Kernel parameters at boot: ap.apmask=, ap.aqmask= (the mask starts empty, then the
    string applies, as ap_perms_init does), ap.domain=; at most s390's 4096 bytes."""
    hypervisor: Literal["lpar", "zvm"] = "lpar"
    """What the scenario's host Linux runs in: the LPAR, or z/VM (the LPAR's crypto dedicated
    to this z/VM guest; no KVM guests: z/VM offers no SIE to it)."""
    zvm: ZvmSpec | None = None
    """The AP facilities z/VM offers (hypervisor: zvm only): qci, ap_interrupts."""
    workload: WorkloadConfig | None = None
    """Requests of processes on the scenario's host Linux, through its zcrypt to the queues it
    owns (apmask/aqmask): the host's own request path."""

    @model_validator(mode="after")
    def _zvm_poll(self) -> HostSpec:
        if self.hypervisor == "zvm" and "poll" not in self.model_fields_set:
            object.__setattr__(self, "poll", "zvm")  # ap_module_init: MACHINE_IS_VM
        return self


class MdevSpec(StrictModel):
    """A vfio_ap mediated device, created and assigned (in this order) at start.

    With ``start`` it is an mdevctl definition instead: ``auto`` ones are started by
    mdevctl at boot (after ap-check's start checks), ``manual`` ones only by a
    ``mdevctl.start`` action. ``attrs`` (mdevctl's ordered attribute writes) may
    replace the ``assign_*`` lists.
    """

    uuid: Uuid
    assign_adapter: IdList = []
    assign_domain: IdList = []
    assign_control_domain: IdList = []
    start: Literal["auto", "manual"] | None = None
    """mdevctl's start mode (auto | manual); unset: created through sysfs at start, not by mdevctl."""
    attrs: list[dict[str, str]] | None = None
    """mdevctl's attribute writes in order, e.g. [{assign_adapter: "0x05"}, {assign_domain: "4"}]."""

    @model_validator(mode="after")
    def _attrs_shape(self) -> MdevSpec:
        if self.attrs is None:
            return self
        if self.assign_adapter or self.assign_domain or self.assign_control_domain:
            raise ValueError("give attrs (mdevctl's ordered writes) or the assign_* lists, not both")
        for i, item in enumerate(self.attrs):
            if len(item) != 1:
                raise ValueError(f"attrs[{i}] must hold exactly one attribute (one write)")
            (key, _), = item.items()
            if key not in MDEV_ATTRS:
                raise ValueError(f"attrs[{i}]: {key!r} is not a vfio_ap mdev attribute "
                                 f"({', '.join(MDEV_ATTRS)})")
        return self

    def writes(self) -> list[tuple[str, str]]:
        """The sysfs writes that configure the mdev, in order: (attribute, text)."""
        if self.attrs is not None:
            return [next(iter(item.items())) for item in self.attrs]
        return [(attr, f"{v:#x}\n") for attr, ids in (
            ("assign_adapter", self.assign_adapter), ("assign_domain", self.assign_domain),
            ("assign_control_domain", self.assign_control_domain)) for v in ids]


# --------------------------------------------------------------------------------------
# guests
# --------------------------------------------------------------------------------------
class CpuSpec(StrictModel):
    """The guest's CPU model features (QEMU ``-cpu host,ap=on,apft=on,...``)."""

    ap: bool = True
    apft: bool = True
    apqci: bool = True
    apqi: bool = True
    msax3: bool = True


class GuestSpec(StrictModel):
    """A KVM guest: CPU features, its vfio-ap device (an mdev at its level), a workload.

    A guest with ``host``/``mdevs``/``guests`` runs its own AP bus and vfio_ap over
    the AP configuration its APCB gives it, and its ``guests`` are nested (guest-2).
    """

    name: Name
    mdev: Uuid | None = None
    """UUID of the mdev (listed at the same level) passed to the guest; none = no AP device."""
    cpu: CpuSpec = CpuSpec()
    vcpus: Annotated[int, Field(ge=1, le=256)] = 2
    start: Duration = 0
    stop: Duration | None = None
    workload: WorkloadConfig | None = None
    host: HostSpec | None = None
    mdevs: list[MdevSpec] = []
    guests: list[GuestSpec] = []
    secure: bool = False
    """A Secure Execution (protected virtualization) guest: binds its AP queues (se_bind)."""
    crycb: NestedCrycbSpec | None = None
    """A nested guest only: the CRYCB designation its guest-1 hypervisor writes (to test the
    validity intercepts of vsie.c's shadow_crycb); unset: what guest-1's KVM writes."""
    boot: Duration = DEFAULT_BOOT_NS
    """From the end of QEMU's machine reset (VFIO_DEVICE_RESET, waited for) to the guest
    kernel's AP bus init (docs/host-kernel.md, Guest boot)."""


@dataclass(frozen=True)
class GuestRef:
    """A guest found by :meth:`Scenario.walk_guests`, with where it sits."""

    spec: GuestSpec
    parent: GuestSpec | None
    """The guest it runs in (None: a guest of the LPAR's host)."""
    depth: int
    """1 for guests of the LPAR's host, 2 for their guests, ..."""
    loc: tuple[str | int, ...]
    """Its path in the scenario, e.g. ``("guests", 0, "guests", 1)``."""


# --------------------------------------------------------------------------------------
# the scenario
# --------------------------------------------------------------------------------------
class Scenario(StrictModel):
    """A whole scenario file (design contract 7 plus apsim's extra keys).

    Durations are ns; ``timeline`` holds the actions in file order (use
    :meth:`ordered_timeline` for execution order).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              use_attribute_docstrings=True)

    api_version: Literal["apsim/v1"] = Field(API_VERSION, alias="apiVersion")
    name: Name
    description: str = ""
    seed: Annotated[int, Field(ge=0, lt=1 << 63)] = 1
    duration: Duration
    warmup: Duration = 0
    """Requests submitted before this time are left out of the statistics."""
    replications: Annotated[int, Field(ge=1, le=10_000)] = 1
    mode: Literal["full", "bulk"] = "full"
    """full: every instruction simulated; bulk: the fast request path for long runs."""
    timing: TimingSpec = Field(default_factory=TimingSpec)  # type: ignore[valid-type]
    kernel: str = "{0}.{1}".format(*NEWEST)
    """The Linux release of the host and the guests (MAJOR.MINOR, 5.15..newest); every
    version-dependent behaviour follows it (docs/host-kernel.md, Kernel versions)."""
    fixes: list[str] = []
    """Named deviations from mainline to switch on, for testing a patch (apsim.kernel.FIXES)."""
    qemu: str = "{0}.{1}".format(*NEWEST_QEMU)
    """The QEMU release of every guest (MAJOR.MINOR): from 10.1 QEMU relays vfio_ap's
    config-change eventfd to the guest as a CHSC event; before, the guest waits for its scan."""
    """Named deviations from mainline to switch on, for testing a patch (apsim.kernel.FIXES)."""
    machine: MachineSpec
    lpar: LparSpec = LparSpec()
    other_lpars: list[OtherLparSpec] = []
    host: HostSpec = HostSpec()
    mdevs: list[MdevSpec] = []
    guests: list[GuestSpec] = []
    timeline: list[Action] = []
    mdevctl: list[str] | None = None
    """mdevctl definitions imported into ``mdevs``: paths (relative to the scenario) of
    /etc/mdevctl.d folders, matrix folders or ``mdevctl list --dumpjson`` files."""
    chzdev: str | None = None
    """chzdev's persistent AP masks (/etc/udev/rules.d/41-ap.rules), imported into ``host``."""
    libvirt: LibvirtImport | None = None
    """libvirt node-device and domain XML, imported into ``mdevs`` and ``guests``."""
    cex_plugin: CexPluginSpec | None = None
    """The Kubernetes CEX device plugin on the host and the containers using it."""
    _source: str | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _cross_references(self, info: ValidationInfo) -> Scenario:
        # The loader defers these checks so it can point each one at its own line.
        if (info.context or {}).get("defer_checks"):
            return self
        from apsim.scenario.checks import check_scenario, format_loc

        problems = check_scenario(self)
        if problems:
            loc, msg = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ValueError(f"{format_loc(loc)}: {msg}{more}")
        return self

    # --- helpers for the builder and the reports -------------------------------------------
    @property
    def source(self) -> str | None:
        """The file the scenario was loaded from (set by the loader)."""
        return self._source

    def walk_guests(self) -> Iterator[GuestRef]:
        """Every guest at every level, parents before their guests, in file order."""
        def walk(guests: list[GuestSpec], parent: GuestSpec | None, depth: int,
                 loc: tuple[str | int, ...]) -> Iterator[GuestRef]:
            for i, g in enumerate(guests):
                gloc = (*loc, "guests", i)
                yield GuestRef(g, parent, depth, gloc)
                yield from walk(g.guests, g, depth + 1, gloc)
        yield from walk(self.guests, None, 1, ())

    def guest(self, name: str) -> GuestSpec:
        """The guest called *name* (at any level); KeyError if there is none."""
        for ref in self.walk_guests():
            if ref.spec.name == name:
                return ref.spec
        raise KeyError(name)

    def mdev_of(self, guest: GuestSpec) -> MdevSpec | None:
        """The mdev a guest uses (looked up at the guest's own level)."""
        if guest.mdev is None:
            return None
        parent = next(r.parent for r in self.walk_guests() if r.spec is guest)
        mdevs = self.mdevs if parent is None else parent.mdevs
        return next((m for m in mdevs if m.uuid == guest.mdev), None)

    def ordered_timeline(self) -> list[ActionBase]:
        """The actions in execution order: by ``at``, ties in file order."""
        return sorted(self.timeline, key=lambda a: a.at)  # sorted() is stable

    @field_validator("kernel")
    @classmethod
    def _kernel_version(cls, v: str) -> str:
        parse_version(v)
        return v

    @field_validator("qemu")
    @classmethod
    def _qemu_version(cls, v: str) -> str:
        parse_qemu_version(v)
        return v

    @field_validator("fixes")
    @classmethod
    def _known_fixes(cls, v: list[str]) -> list[str]:
        check_fixes(v)
        return v

    def kernel_profile(self) -> KernelProfile:
        """The kernel profile the hosts and guests of this scenario run."""
        return KernelProfile.of(self.kernel, self.fixes)

    def timing_profile(self) -> TimingProfile:
        """The resolved timing profile."""
        return self.timing.resolve()


OtherLparSpec.model_rebuild()
GuestSpec.model_rebuild()
Scenario.model_rebuild()


def schema_json() -> str:
    """The JSON Schema of the scenario format, as ``apsim schema`` prints it."""
    from apsim.scenario.expand import extend_schema

    schema = extend_schema(Scenario.model_json_schema())
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://apsim.dev/schema/apsim-v1.json"
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
