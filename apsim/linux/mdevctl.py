"""mdevctl on a Linux host: persistent vfio_ap mdev definitions, started and stopped.

A definition (``/etc/mdevctl.d/matrix/<uuid>``) holds the mdev type, ``start``
(``auto``: started when the parent ``matrix`` registers at boot; ``manual``: only
by ``mdevctl start``) and the ordered ``attrs``. Starting one runs the ap-check
callout's start checks (:mod:`apsim.linux.apcheck`), writes the UUID to the type's
``create`` and then each attribute to the mdev's sysfs file in order; when a write
fails mdevctl removes the half-configured device again and reports the write's
error. Stopping writes ``1`` to the mdev's ``remove``.

At boot mdevctl starts the ``auto`` definitions in the order ``read_dir`` returns
the files, which the filesystem decides; apsim uses the definitions' order
(imported definitions are sorted by file name), so runs are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apsim.ids import UUID_RE
from apsim.errors import ApsimError, SysfsError
from apsim.linux.apcheck import MDEV_TYPE, check_start, device_from_attrs, parse_matrix_text
from apsim.linux.maskparse import parse_hex_mask
from apsim.masks import Mask

__all__ = ["Definition", "Mdevctl", "MdevctlError", "MATRIX", "CREATE", "ATTRS"]

MATRIX = "/sys/devices/vfio_ap/matrix"
CREATE = f"{MATRIX}/mdev_supported_types/{MDEV_TYPE}/create"
ATTRS = ("assign_adapter", "assign_domain", "assign_control_domain", "unassign_adapter",
         "unassign_domain", "unassign_control_domain", "ap_config")
"""The vfio_ap mdev attributes a definition may write."""


@dataclass(frozen=True)
class Definition:
    """One persistent mdev definition as mdevctl stores it."""

    uuid: str
    start: str = "auto"
    """``auto`` or ``manual``."""
    attrs: tuple[tuple[str, str], ...] = ()
    """The sysfs writes, in order: (attribute, text)."""
    mdev_type: str = MDEV_TYPE
    parent: str = "matrix"

    @property
    def autostart(self) -> bool:
        """Started at boot."""
        return self.start == "auto"


class MdevctlError(ApsimError):
    """mdevctl refused or failed; ``reasons`` are the lines it (or its callout) printed."""

    def __init__(self, uuid: str, reasons: list[str], errno_name: str | None = None) -> None:
        self.uuid = uuid
        self.reasons = reasons
        self.errno_name = errno_name
        super().__init__(f"mdevctl: {uuid}: " + "; ".join(reasons))


@dataclass
class Mdevctl:
    """mdevctl and its definitions on one Linux (``host``: an :class:`apsim.linux.host.Host`)."""

    host: object
    definitions: dict[str, Definition] = field(default_factory=dict)

    def define(self, d: Definition) -> None:
        """Add a definition (already vetted by ap-check's define rules)."""
        self.definitions[d.uuid] = d

    def active(self) -> dict[str, object]:
        """UUID -> the ap-check view of every running vfio_ap mdev."""
        fs = self.host.sysfs  # type: ignore[attr-defined]
        out = {}
        # ap-check takes the matrix device's UUID-named entries as the active mdevs;
        # the others (driver, subsystem, mdev_supported_types, ...) are the kernel's.
        for name in sorted(fs.listdir(MATRIX)) if fs.is_dir(MATRIX) else []:
            if UUID_RE.match(name) and fs.exists(f"{MATRIX}/{name}/matrix"):
                out[name] = parse_matrix_text(fs.read(f"{MATRIX}/{name}/matrix"))
        return out

    def _active_masks(self) -> tuple[Mask, Mask]:
        fs = self.host.sysfs  # type: ignore[attr-defined]
        return (parse_hex_mask(fs.read("/sys/bus/ap/apmask")),
                parse_hex_mask(fs.read("/sys/bus/ap/aqmask")))

    def start(self, uuid: str) -> None:
        """``mdevctl start -u UUID``; raises :class:`MdevctlError` with the reasons."""
        d = self.definitions.get(uuid)
        if d is None:
            raise MdevctlError(uuid, ["device is not defined"])
        if not self.host.sysfs.exists(CREATE):  # type: ignore[attr-defined]
            raise MdevctlError(uuid, ["vfio_ap module is not loaded"])
        active = self.active()
        if uuid in active:
            raise MdevctlError(uuid, ["Device already exists"])
        problems = check_start(device_from_attrs(d.attrs), active=active,
                               active_masks=self._active_masks())
        if problems:
            raise MdevctlError(uuid, problems)
        host = self.host
        try:
            host.write(CREATE, uuid + "\n")  # type: ignore[attr-defined]
        except SysfsError as e:
            raise MdevctlError(uuid, [f"Failed to create mdev: {e}"], e.errno_name) from None
        for attr, value in d.attrs:
            try:
                host.write(f"{MATRIX}/{uuid}/{attr}", value)  # type: ignore[attr-defined]
            except SysfsError as e:
                host.write(f"{MATRIX}/{uuid}/remove", "1\n")  # type: ignore[attr-defined]
                raise MdevctlError(uuid, [f"Failed to write {value!r} to attribute {attr}: {e}",
                                          "removing device"], e.errno_name) from None

    def stop(self, uuid: str) -> None:
        """``mdevctl stop -u UUID``: remove the running mdev."""
        if uuid not in self.active():
            raise MdevctlError(uuid, ["device is not active"])
        try:
            self.host.write(f"{MATRIX}/{uuid}/remove", "1\n")  # type: ignore[attr-defined]
        except SysfsError as e:
            raise MdevctlError(uuid, [f"Failed to remove mdev: {e}"], e.errno_name) from None

    def boot(self) -> list[tuple[str, MdevctlError | None]]:
        """``mdevctl start-parent-mdevs matrix``: start every ``auto`` definition, in order."""
        out: list[tuple[str, MdevctlError | None]] = []
        for d in self.definitions.values():
            if d.autostart:
                try:
                    self.start(d.uuid)
                    out.append((d.uuid, None))
                except MdevctlError as e:
                    out.append((d.uuid, e))
        return out
