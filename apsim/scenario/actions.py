"""Timeline actions of a scenario: one pydantic model per ``do:`` value.

The ``timeline:`` list is a union discriminated on ``do``; each model carries
exactly the operands of its action (design contract 7) and refuses any other key.
Times (``at``) are integer nanoseconds after validation. The order of execution is
by ``at``; actions at the same time run in file order.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from apsim.hw.timing import request_type
from apsim.scenario.action_base import ActionBase, LogExpect, parse_register
from apsim.scenario.base import StrictModel
from apsim.scenario.device_actions import (KvmMasks, QemuLogExpect, VfioGetInfo, VfioGetIrqInfo, VfioIoctl,
                                           VfioOpen, VfioReset, VfioSetIrqs)
from apsim.scenario.fault_spec import FaultInjectSpec
from apsim.scenario.types import Address, Apqn, Duration, ErrnoName, Id, ResponseCode, Uuid

__all__ = ["ActionBase", "Action", "ACTION_MODELS", "ACTION_NAMES", "InstructionExpect"]


IdList = list[Id]


class _OnLpar(ActionBase):
    lpar: str | None = None
    """The LPAR acted on (default: the host's LPAR; or one of ``other_lpars``)."""


# --- Support Element -----------------------------------------------------------------------
class SeConfigureOn(_OnLpar):
    """SE "configure on" of adapters for an LPAR (standby → online)."""

    do: Literal["se.configure_on"]
    adapters: Annotated[IdList, Field(min_length=1)]


class SeConfigureOff(_OnLpar):
    """SE "configure off" of adapters for an LPAR (online → standby)."""

    do: Literal["se.configure_off"]
    adapters: Annotated[IdList, Field(min_length=1)]


class SeChangeLparCrypto(_OnLpar):
    """SE "Change LPAR Cryptographic Controls"; refused while the LPAR has online adapters."""

    do: Literal["se.change_lpar_crypto"]
    add_adapters: IdList = []
    remove_adapters: IdList = []
    add_usage_domains: IdList = []
    remove_usage_domains: IdList = []
    add_control_domains: IdList = []
    remove_control_domains: IdList = []
    expect: Literal["ok", "refused"] | None = None
    """Optional check of the outcome: ``ok`` (applied) or ``refused``."""

    @model_validator(mode="after")
    def _something(self) -> SeChangeLparCrypto:
        if not any((self.add_adapters, self.remove_adapters, self.add_usage_domains,
                    self.remove_usage_domains, self.add_control_domains, self.remove_control_domains)):
            raise ValueError("se.change_lpar_crypto needs at least one of add_adapters, "
                             "remove_adapters, add_usage_domains, remove_usage_domains, "
                             "add_control_domains, remove_control_domains")
        return self


# --- SCLP ------------------------------------------------------------------------------------
class SclpConfigureAp(_OnLpar):
    """SCLP "Configure Adjunct Processor" for one adapter."""

    do: Literal["sclp.configure_ap"]
    adapter: Id


class SclpDeconfigureAp(_OnLpar):
    """SCLP "Deconfigure Adjunct Processor" for one adapter."""

    do: Literal["sclp.deconfigure_ap"]
    adapter: Id


# --- sysfs -----------------------------------------------------------------------------------
def _sysfs_path(value: Any) -> Any:
    if isinstance(value, str) and not value.startswith("/sys/"):
        raise ValueError(f"{value!r} is not a sysfs path (it must start with /sys/)")
    return value


class SysfsWrite(ActionBase):
    """Write *value* to a sysfs attribute of the host (or of ``guest``'s own Linux).

    Without ``expect_errno`` the write must succeed (that is an expectation too).
    """

    do: Literal["sysfs.write"]
    path: str
    value: str
    guest: str | None = None
    """Write in this guest's own sysfs (a guest that runs its own vfio_ap); default the host."""
    expect_errno: ErrnoName | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _sysfs_path(value)

    @field_validator("value", mode="before")
    @classmethod
    def _value_text(cls, value: Any, info: ValidationInfo) -> Any:
        # `echo 5 > assign_adapter` is what users mean by `value: 5`; the kernel parses
        # the text with base 0, so decimal text keeps the meaning. Masks are refused
        # below: an unquoted 0xff00 loses its width.
        if isinstance(value, bool):
            raise ValueError(f"write the value in quotes: {value!r} is a YAML boolean")
        if isinstance(value, int):
            path = info.data.get("path", "")
            if isinstance(path, str) and path.rstrip("/").endswith(("apmask", "aqmask")):
                raise ValueError(f"write the mask in quotes (e.g. \"0xffff\"): unquoted, YAML "
                                 f"reads it as the number {value} and its width is lost")
            return str(value)
        if isinstance(value, float):
            raise ValueError(f"write the value in quotes: unquoted, YAML reads it as the "
                             f"number {value}")
        return value


class SysfsRead(ActionBase):
    """Read a sysfs attribute; ``expect`` compares the exact text (newlines included)."""

    do: Literal["sysfs.read"]
    path: str
    guest: str | None = None
    expect: str | None = None
    expect_errno: ErrnoName | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _sysfs_path(value)

    @model_validator(mode="after")
    def _one_expectation(self) -> SysfsRead:
        if self.expect is not None and self.expect_errno is not None:
            raise ValueError("give expect (the text) or expect_errno (a failing read), not both")
        return self


# --- guests ----------------------------------------------------------------------------------
class GuestStart(ActionBase):
    """Start a guest (QEMU opens its vfio-ap device; its workload starts)."""

    do: Literal["guest.start"]
    guest: str


class GuestStop(ActionBase):
    """Stop a guest (its mdev is released; outstanding requests are reset away)."""

    do: Literal["guest.stop"]
    guest: str


class GuestReset(ActionBase):
    """Reset a guest (subsystem reset: its AP queues are reset, the guest keeps running)."""

    do: Literal["guest.reset"]
    guest: str


class QemuDeviceAdd(ActionBase):
    """QEMU ``device_add vfio-ap,sysfsdev=…/UUID,id=ID`` in a running guest (hot plug).

    vfio_ap opens the mdev for the guest's KVM (its refusals: EBUSY for an mdev in
    use, ...); a guest that already has a vfio-ap device is refused with QEMU's
    text (the AP bus holds one device). The guest sees its queues at once with
    QEMU ≥ 10.1, else at its AP bus's next periodic scan.
    """

    do: Literal["qemu.device_add"]
    guest: str
    mdev: Uuid
    id: str | None = None
    """The device's qdev id (default ``hostdev0``, libvirt's first hostdev alias)."""
    expect: Literal["ok", "refused"] | None = None


class QemuDeviceDel(ActionBase):
    """QEMU ``device_del ID``: unplug the guest's vfio-ap device.

    vfio_ap clears the guest's APCB and resets its queues (drop cause
    ``hot_unplug``); the guest's AP bus loses the devices. Refused with QEMU's
    text when the guest has no vfio-ap device (or none with this id).
    """

    do: Literal["qemu.device_del"]
    guest: str
    id: str | None = None
    """The device's qdev id; default the guest's vfio-ap device."""
    expect: Literal["ok", "refused"] | None = None


class QemuMigrate(ActionBase):
    """QEMU ``migrate``: refused while the guest has a vfio-ap device (its vmstate is
    unmigratable); otherwise ok, with no effect beyond the timeline entry (apsim has
    no destination host)."""

    do: Literal["qemu.migrate"]
    guest: str
    expect: Literal["ok", "refused"] | None = None


class InstructionExpect(StrictModel):
    """What a ``guest.instruction`` must give: cc, rc, status bits, or a program exception."""

    cc: Annotated[int, Field(ge=0, le=3)] | None = None
    rc: ResponseCode | None = None
    queue_empty: bool | None = None
    replies_waiting: bool | None = None
    queue_full: bool | None = None
    irq_enabled: bool | None = None
    exception: Literal["operation", "specification", "privileged-operation", "addressing"] | None = None
    bs: Annotated[int, Field(ge=0, le=3)] | None = None
    """TAPQ (``t: true``) GR2's SE bind state: 0 usable, 1 bound, 2 unbound, 3 unusable."""
    gr2: Address | None = None
    """GR2 after the instruction (TAPQ with the T bit: the facility word), compared under ``gr2_mask``."""
    gr2_mask: Address | None = None
    """The GR2 bits compared (default all 64)."""

    @model_validator(mode="after")
    def _consistent(self) -> InstructionExpect:
        given = self.model_dump(exclude_none=True)
        if not given:
            raise ValueError("expect needs at least one of cc, rc, queue_empty, replies_waiting, "
                             "queue_full, irq_enabled, gr2, exception")
        if self.exception is not None and len(given) > 1:
            raise ValueError("an expected program exception ends the instruction: give "
                             "exception alone, without cc, rc or status bits")
        if self.gr2_mask is not None and self.gr2 is None:
            raise ValueError("gr2_mask selects the bits of gr2 to compare: give gr2 too")
        return self


_PQAP_BITS = frozenset({"t", "f"})
_OP_OPERANDS: dict[str, frozenset[str]] = {
    "NQAP": frozenset({"request", "length", "r1", "r2"}),
    "DQAP": frozenset({"length", "r1", "r2"}),
    "TAPQ": _PQAP_BITS,
    "RAPQ": _PQAP_BITS,
    "ZAPQ": _PQAP_BITS,
    "AQIC": _PQAP_BITS | {"enable", "isc", "nib"},
    "QCI": _PQAP_BITS | {"address"},
    "BAPQ": _PQAP_BITS,
    "AAPQ": _PQAP_BITS | {"secret_index"},
    "PQAP": frozenset({"gr1", "gr2"}),
}
_OPTIONAL_OPERANDS = ("t", "f", "enable", "isc", "nib", "request", "length", "r1", "r2", "address",
                      "gr1", "gr2", "secret_index")
PQAP_FC = {"TAPQ": 0x00, "RAPQ": 0x01, "ZAPQ": 0x02, "AQIC": 0x03, "QCI": 0x04, "BAPQ": 0x07, "AAPQ": 0x08}
"""The function code (GR0 bits 32-39) of each PQAP op; ``PQAP`` takes it from ``gr0``."""
_Register = Annotated[int, BeforeValidator(parse_register), Field(ge=0, le=(1 << 64) - 1)]


class GuestInstruction(ActionBase):
    """One AP instruction executed on a guest vCPU, checked against ``expect``.

    Operands by op: NQAP ``request`` (a request type, default rsa2048) and ``length``
    (bytes, default the type's size); DQAP ``length`` (the reply buffer); NQAP/DQAP
    ``r1``/``r2`` (register numbers of the instruction, default 2 and 4); the PQAP
    ops' ``t`` and ``f`` (GR0 bits 40 and 41); AQIC ``enable`` (required), ``isc``
    (0..7, default 0) and ``nib`` (the notification indicator address; default a
    valid address the guest owns, 0 is invalid); QCI ``address`` (GR2, the block
    address, default 0); AAPQ ``secret_index`` (required); BAPQ none (both are for
    Secure Execution guests). Every op may carry ``problem_state`` and a raw ``gr0``
    (then without ``apqn``, ``t``, ``f``: the register says it all); op ``PQAP``
    takes any function code from ``gr0`` with raw ``gr1``/``gr2``. Every other op
    but QCI needs ``apqn``.
    """

    do: Literal["guest.instruction"]
    guest: str
    op: Literal["NQAP", "DQAP", "TAPQ", "RAPQ", "ZAPQ", "AQIC", "QCI", "BAPQ", "AAPQ", "PQAP"]
    apqn: Apqn | None = None
    gr0: _Register | None = None
    """GR0 exactly as the program loads it (function code, T/F bits, reserved bits, APQN)."""
    problem_state: bool | None = None
    """Issue the instruction in problem state (PSW bit 15): a privileged-operation exception."""
    t: bool | None = None
    f: bool | None = None
    enable: bool | None = None
    isc: Annotated[int, Field(ge=0, le=7)] | None = None
    nib: Address | None = None
    address: Address | None = None
    request: str | None = None
    length: _Register | None = None
    r1: Annotated[int, Field(ge=0, le=15)] | None = None
    r2: Annotated[int, Field(ge=0, le=15)] | None = None
    gr1: _Register | None = None
    gr2: _Register | None = None
    secret_index: Annotated[int, Field(ge=0, le=0xFFFFFFFF)] | None = None
    """AAPQ's association secret index (GR2), as ``se_associate`` takes it."""
    expect: InstructionExpect | None = None


    @field_validator("op", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("request")
    @classmethod
    def _request_type(cls, value: str | None) -> str | None:
        return None if value is None else request_type(value).name

    @model_validator(mode="after")
    def _operands_fit_op(self) -> GuestInstruction:
        allowed = _OP_OPERANDS[self.op]
        for name in _OPTIONAL_OPERANDS:
            if getattr(self, name) is not None and name not in allowed:
                users = [op for op, ops in _OP_OPERANDS.items() if name in ops]
                raise ValueError(f"operand {name!r} applies only to {', '.join(users)}, not {self.op}")
        if self.gr0 is not None:
            self._raw_gr0_fits()
        elif self.op == "PQAP":
            raise ValueError("PQAP needs gr0 (the function code in bits 32-39, e.g. \"0x2a000000\")")
        elif self.op == "QCI":
            if self.apqn is not None:
                raise ValueError("QCI takes no apqn")
        elif self.apqn is None:
            raise ValueError(f"{self.op} needs an apqn (\"AA.QQQQ\") or a raw gr0")
        if self.expect is not None and self.expect.bs is not None and not (self.op == "TAPQ" and self.t):
            raise ValueError("expect.bs is TAPQ's GR2 bind state: it needs op: TAPQ with t: true")
        if self.op == "AAPQ" and self.secret_index is None:
            raise ValueError("AAPQ needs secret_index (the association secret's index)")
        if self.op == "AQIC" and self.enable is None:
            raise ValueError("AQIC needs enable: true (enable interruptions) or false (disable)")
        return self

    def _raw_gr0_fits(self) -> None:
        assert self.gr0 is not None
        if self.apqn is not None or self.t is not None or self.f is not None:
            raise ValueError("a raw gr0 holds the APQN and the T and F bits: give apqn, t and f "
                             "only without gr0")
        want = PQAP_FC.get(self.op)
        fc = (self.gr0 >> 24) & 0xFF
        if want is not None and fc != want:
            raise ValueError(f"gr0 {self.gr0:#x} has function code {fc:#04x}, {self.op} is "
                             f"{want:#04x}: use op: PQAP for another function code")


class GuestLszcrypt(ActionBase):
    """Run lszcrypt in a guest; ``expect`` rows are compared column by column, in order."""

    do: Literal["guest.lszcrypt"]
    guest: str
    verbose: bool = False
    expect: list[str] | None = None


class HostLszcrypt(ActionBase):
    """Run lszcrypt on the host; ``expect`` as for ``guest.lszcrypt``."""

    do: Literal["host.lszcrypt"]
    verbose: bool = False
    expect: list[str] | None = None


# --- mdevctl ---------------------------------------------------------------------------------
class MdevctlStart(ActionBase):
    """``mdevctl start -u UUID`` of a defined mdev (ap-check's start checks, then the writes).

    Without ``expect`` the start must succeed (that is an expectation too).
    """

    do: Literal["mdevctl.start"]
    uuid: Uuid
    guest: str | None = None
    """Run mdevctl in this guest (one that runs its own vfio_ap); default the host."""
    expect: Literal["ok", "refused"] | None = None


class MdevctlStop(ActionBase):
    """``mdevctl stop -u UUID``: remove the running mdev (its guest loses the device)."""

    do: Literal["mdevctl.stop"]
    uuid: Uuid
    guest: str | None = None
    expect: Literal["ok", "refused"] | None = None


# --- kernel log and uevents ------------------------------------------------------------------------
class HostDmesg(LogExpect):
    """The host kernel's log (what ``dmesg`` prints; ``dbf: true`` adds s390dbf records)."""

    do: Literal["host.dmesg"]
    dbf: bool = False


class GuestDmesg(LogExpect):
    """A guest kernel's log."""

    do: Literal["guest.dmesg"]
    guest: str
    dbf: bool = False


class Uevents(LogExpect):
    """The uevents a Linux's AP bus sent so far, one line each: ``DEVPATH ENV`` (e.g.
    ``/sys/devices/ap/card05 ONLINE=0``); ``guest`` for a guest's own, default the host."""

    do: Literal["uevents"]
    guest: str | None = None


# --- faults ------------------------------------------------------------------------------------
class FaultCheckstop(ActionBase):
    """Checkstop an adapter: its queues answer 0x04 and lose what they held."""

    do: Literal["fault.checkstop"]
    adapter: Id


class FaultClear(ActionBase):
    """Recover a checkstopped adapter."""

    do: Literal["fault.clear"]
    adapter: Id


class FaultInject(ActionBase, FaultInjectSpec):
    """Arm a fault at ``at``: APQNs answering response codes, busy windows, SCLP failures,
    vfio_ap NIB-pin / GISC-registration failures, delayed CHSC events (:mod:`apsim.hw.faults`)."""

    do: Literal["fault.inject"]


ACTION_MODELS: tuple[type[ActionBase], ...] = (
    SeConfigureOn, SeConfigureOff, SeChangeLparCrypto, SclpConfigureAp, SclpDeconfigureAp,
    SysfsWrite, SysfsRead, GuestStart, GuestStop, GuestReset, GuestInstruction, GuestLszcrypt,
    HostLszcrypt, HostDmesg, GuestDmesg, Uevents, FaultCheckstop, FaultClear, MdevctlStart, MdevctlStop,
    QemuDeviceAdd, QemuDeviceDel, QemuMigrate, FaultInject, KvmMasks,
    VfioOpen, VfioGetInfo, VfioGetIrqInfo, VfioSetIrqs, VfioReset, VfioIoctl, QemuLogExpect,
)
ACTION_NAMES: tuple[str, ...] = tuple(m.model_fields["do"].annotation.__args__[0]  # type: ignore[union-attr]
                                      for m in ACTION_MODELS)
"""Every ``do:`` value, in documentation order."""

Action = Annotated[
    SeConfigureOn | SeConfigureOff | SeChangeLparCrypto | SclpConfigureAp | SclpDeconfigureAp
    | SysfsWrite | SysfsRead | GuestStart | GuestStop | GuestReset | GuestInstruction
    | GuestLszcrypt | HostLszcrypt | HostDmesg | GuestDmesg | Uevents | FaultCheckstop | FaultClear
    | MdevctlStart | MdevctlStop | QemuDeviceAdd | QemuDeviceDel | QemuMigrate | FaultInject | KvmMasks
    | VfioOpen | VfioGetInfo | VfioGetIrqInfo | VfioSetIrqs | VfioReset | VfioIoctl | QemuLogExpect,
    Field(discriminator="do"),
]
"""One timeline entry (a union discriminated on ``do``)."""
