"""A vfio_ap mediated device and its sysfs attributes.

Modelled on the attribute handlers of drivers/s390/crypto/vfio_ap_ops.c and the
mdev core's ``remove`` (drivers/vfio/mdev/mdev_sysfs.c), reference §11.2/§11.3.
Checks run in the kernel's order and fail with its errno:

* ``assign_adapter`` / ``assign_domain``: ``kstrtoul`` (``EINVAL``, ``ERANGE``); id
  above the maximum → ``ENODEV``; already assigned → success, nothing else; set the
  bit and validate the whole matrix: an APQN reserved for the host's default
  drivers → ``EADDRNOTAVAIL``; an APQN assigned to another mdev → ``EADDRINUSE``
  with one kernel warning per shared APQN; on error the bit is cleared again.
  Then link bound queues, filter, push a changed guest APCB, reset lost adapters.
* ``unassign_adapter`` / ``unassign_domain``: parse, maximum (``ENODEV``), not
  assigned → success; else hot unplug.
* ``assign_control_domain`` / ``unassign_control_domain``: parse, maximum; no
  ownership or sharing checks; the guest's ADM is the assignment ∩ host ADM.
* ``ap_config`` (``AMASK,DMASK,CMASK``): all or nothing; a missing field or a bad
  hex mask → ``EINVAL``; ownership/sharing as above; a bit above a maximum →
  ``ENODEV``.
* ``remove``: ``kstrtoul`` failing → ``EINVAL``; 0 → nothing; else remove the mdev
  (while a guest has it open, the VFIO core asks the VMM to release it first).

Read formats: ``matrix`` and ``guest_matrix`` (``AA.QQQQ`` lines), ``control_domains``
(``%04x`` lines), ``ap_config`` (three ``0x`` + 64-digit masks).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from apsim.errors import SysfsError
from apsim.linux.maskparse import kstrtoul, parse_hex_mask
from apsim.linux.vfio_ap import ops
from apsim.linux.vfio_ap.filter import filter_cdoms, filter_matrix
from apsim.linux.vfio_ap.matrix import APMatrix, ap_config_show, control_domains_show, matrix_show
from apsim.masks import Mask

if TYPE_CHECKING:
    from apsim.linux.vfio_ap.ioctl import EventFd
    from apsim.linux.vfio_ap.matrix_dev import VfioAp
    from apsim.linux.vfio_ap.queue import VfioQueue

AP_CONFIG_STRLEN = 3 * (256 // 4 + 3)
"""``ap_config`` input is cut to this many characters (three full masks with 0x and separators)."""

MDEV_ATTRS = ("assign_adapter", "unassign_adapter", "assign_domain", "unassign_domain",
              "assign_control_domain", "unassign_control_domain", "ap_config", "control_domains",
              "matrix", "guest_matrix", "remove")


class MatrixMdev:
    """``struct ap_matrix_mdev``: the assignment, the guest's shadow APCB, its KVM."""

    def __init__(self, vfio: VfioAp, uuid: str) -> None:
        self.vfio = vfio
        self.uuid = uuid
        self.path = f"/sys/devices/vfio_ap/matrix/{uuid}"
        self.matrix = APMatrix()
        self.matrix.init_max(vfio.info)
        self.shadow = APMatrix()
        self.shadow.init_max(vfio.info)
        self.qtable: dict[int, VfioQueue] = {}
        self.apm_add = Mask.empty()
        self.aqm_add = Mask.empty()
        self.adm_add = Mask.empty()
        self.kvm: object | None = None
        self.is_open = False
        self.open_kvm: object | None = None
        self.remove_pending = False
        self.request_count = 0
        self.hook = None
        self.req_trigger: EventFd | None = None
        """The eventfd VFIO_DEVICE_SET_IRQS registered for IRQ index 0 (device request)."""
        self.cfg_chg_trigger: EventFd | None = None
        """The eventfd registered for IRQ index 1 (guest AP configuration changed, ≥ 6.15)."""

    def __repr__(self) -> str:
        return f"MatrixMdev({self.uuid})"

    # --- sysfs --------------------------------------------------------------------------
    def add_attrs(self) -> None:
        """Create the mdev's attribute files."""
        fs = self.vfio.sysfs
        p = self.path
        fs.add(f"{p}/assign_adapter", write=self._assign_adapter)
        fs.add(f"{p}/unassign_adapter", write=self._unassign_adapter)
        fs.add(f"{p}/assign_domain", write=self._assign_domain)
        fs.add(f"{p}/unassign_domain", write=self._unassign_domain)
        fs.add(f"{p}/assign_control_domain", write=self._assign_control_domain)
        fs.add(f"{p}/unassign_control_domain", write=self._unassign_control_domain)
        fs.add(f"{p}/ap_config", read=lambda: ap_config_show(self.matrix), write=self._ap_config)
        fs.add(f"{p}/control_domains", read=lambda: control_domains_show(self.matrix))
        fs.add(f"{p}/matrix", read=lambda: matrix_show(self.matrix))
        fs.add(f"{p}/guest_matrix", read=lambda: matrix_show(self.shadow))
        fs.add(f"{p}/remove", write=self._remove)
        fs.link(f"{p}/mdev_type", "/sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough")

    def _id(self, attr: str, text: str, maximum: int, what: str) -> int:
        path = f"{self.path}/{attr}"
        value = kstrtoul(text, path=path, what=what)
        if value > maximum:
            raise SysfsError(errno.ENODEV, path, f"{what} {value} exceeds the maximum {maximum}")
        return value

    # --- adapters -----------------------------------------------------------------------
    def _assign_adapter(self, text: str) -> None:
        apid = self._id("assign_adapter", text, self.matrix.apm_max, "adapter id")
        if apid in self.matrix.apm:
            return
        self.matrix.apm = self.matrix.apm.with_id(apid)
        rc, rule = ops.validate_masks(self.vfio, self)
        if rc:
            self.matrix.apm = self.matrix.apm.without_id(apid)
            raise SysfsError(rc, f"{self.path}/assign_adapter", f"adapter {apid}: {rule}")
        ops.link_adapter(self.vfio, self, apid)
        ops.refilter(self.vfio, self)

    def _unassign_adapter(self, text: str) -> None:
        apid = self._id("unassign_adapter", text, self.matrix.apm_max, "adapter id")
        if apid not in self.matrix.apm:
            return
        self.matrix.apm = self.matrix.apm.without_id(apid)
        ops.hot_unplug_adapters(self.vfio, self, Mask.from_ids([apid]))

    # --- usage domains ------------------------------------------------------------------
    def _assign_domain(self, text: str) -> None:
        apqi = self._id("assign_domain", text, self.matrix.aqm_max, "domain")
        if apqi in self.matrix.aqm:
            return
        self.matrix.aqm = self.matrix.aqm.with_id(apqi)
        rc, rule = ops.validate_masks(self.vfio, self)
        if rc:
            self.matrix.aqm = self.matrix.aqm.without_id(apqi)
            raise SysfsError(rc, f"{self.path}/assign_domain", f"domain {apqi}: {rule}")
        ops.link_domain(self.vfio, self, apqi)
        ops.refilter(self.vfio, self)

    def _unassign_domain(self, text: str) -> None:
        apqi = self._id("unassign_domain", text, self.matrix.aqm_max, "domain")
        if apqi not in self.matrix.aqm:
            return
        self.matrix.aqm = self.matrix.aqm.without_id(apqi)
        ops.hot_unplug_domains(self.vfio, self, Mask.from_ids([apqi]))

    # --- control domains ----------------------------------------------------------------
    def _assign_control_domain(self, text: str) -> None:
        d = self._id("assign_control_domain", text, self.matrix.adm_max, "control domain")
        if d in self.matrix.adm:
            return
        self.matrix.adm = self.matrix.adm.with_id(d)
        if filter_cdoms(self, self.vfio.info):
            ops.update_guest_apcb(self.vfio, self)

    def _unassign_control_domain(self, text: str) -> None:
        d = self._id("unassign_control_domain", text, self.matrix.adm_max, "control domain")
        if d not in self.matrix.adm:
            return
        self.matrix.adm = self.matrix.adm.without_id(d)
        if d in self.shadow.adm:
            self.shadow.adm = self.shadow.adm.without_id(d)
            ops.update_guest_apcb(self.vfio, self)

    # --- ap_config ----------------------------------------------------------------------
    def _ap_config(self, text: str) -> None:
        path = f"{self.path}/ap_config"
        rest: str | None = text[:AP_CONFIG_STRLEN]
        fields: list[Mask] = []
        for what in ("adapter mask", "domain mask", "control domain mask"):
            if rest is None:
                raise SysfsError(errno.EINVAL, path, f"the {what} is missing (write AMASK,DMASK,CMASK)")
            cut = min((i for i in (rest.find(","), rest.find("\n")) if i >= 0), default=-1)
            token, rest = (rest, None) if cut < 0 else (rest[:cut], rest[cut + 1:])
            try:
                fields.append(parse_hex_mask(token, path=path))
            except SysfsError as e:
                raise SysfsError(errno.EINVAL, path, f"{what}: {e.rule}") from None
        new = APMatrix(*fields)
        old = self.matrix.copy()
        self.matrix.set_masks(new)
        rc, rule = ops.validate_masks(self.vfio, self)
        if rc:
            self.matrix.set_masks(old)
            raise SysfsError(rc, path, rule)
        for attr, limit, what in (("apm", self.matrix.apm_max, "adapter"),
                                  ("aqm", self.matrix.aqm_max, "domain"),
                                  ("adm", self.matrix.adm_max, "control domain")):
            over = [i for i in getattr(self.matrix, attr) if i > limit]
            if over:
                self.matrix.set_masks(old)
                raise SysfsError(errno.ENODEV, path, f"{what} {over[0]} exceeds the maximum {limit}")
        removed_apm, removed_aqm = old.apm - new.apm, old.aqm - new.aqm
        added_apm, added_aqm = new.apm - old.apm, new.aqm - old.aqm
        self.matrix.set_masks(old)
        ops.hot_unplug_adapters(self.vfio, self, removed_apm)
        ops.hot_unplug_domains(self.vfio, self, removed_aqm)
        self.matrix.set_masks(new)
        for apid in added_apm:
            ops.link_adapter(self.vfio, self, apid)
        for apqi in added_aqm:
            ops.link_domain(self.vfio, self, apqi)
        changed, filtered = filter_matrix(self, self.vfio.info)
        changed = filter_cdoms(self, self.vfio.info) or changed
        if changed:
            ops.update_guest_apcb(self.vfio, self)
            ops.reset_queues_for_apids(self.vfio, self, filtered)

    # --- remove -------------------------------------------------------------------------
    def _remove(self, text: str) -> None:
        path = f"{self.path}/remove"
        try:
            val = kstrtoul(text, path=path)
        except SysfsError as e:
            raise SysfsError(errno.EINVAL, path, e.rule) from None
        if val:
            self.vfio.remove_mdev(self)
