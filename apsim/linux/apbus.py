"""The Linux AP bus: configuration scans, card and queue devices, ownership masks.

Modelled on drivers/s390/crypto/ap_bus.c (newest upstream behaviour, ≥ v6.19 where
it matters) and ap_card.c's ``config`` store:

* **QCI.** The bus keeps the current and previous QCI block (when the apqci
  facility is installed) and adopts Na/Nd as ``ap_max_adapter_id`` /
  ``ap_max_domain_id`` at start-up only when APXA is reported and the value is not
  zero (else 63/15).
* **Scan** (:meth:`APBus.scan`), exactly in the kernel's order: fetch QCI; if it
  changed, every driver's ``on_config_changed(cur, prev)``; choose a default
  domain; for APID 0..max the adapter/domain walk that creates, rebuilds and
  removes card and queue devices (driver probes and removes run here); if it
  changed, every driver's ``on_scan_complete(cur, prev)``; count the scan;
  re-arm the periodic timer. Triggers: the periodic timer (``config_time``
  seconds), a forced rescan (CHSC configuration-change event via
  :meth:`force_rescan`, a write to ``scans``).
* **Ownership.** ``apmask``/``aqmask`` (256 bits each, all ones at boot): an APQN
  is host-owned iff its APID is in apmask and its APQI in aqmask. Default drivers
  may only bind host-owned queues, other drivers (vfio_ap) only the rest; cards are
  not subject to the masks. A mask write takes back IDs (bits newly set) only if no
  driver's ``in_use`` objects for ``new-bits × ALL`` (else ``EBUSY``, mask
  unchanged), then re-probes every queue whose driver class disagrees.
* **Binding** follows the driver core: a new device is offered to the drivers in
  registration order and binds to the first whose probe succeeds; driver ``bind``
  / ``unbind`` attributes attach or detach one device by name.

Device removal with a bound driver flushes the queue, calls the driver's
``remove``, then resets the queue with ZAPQ, as ``ap_device_remove`` does.

Simulator hooks (no kernel counterpart): ``scan_listeners`` are called without
arguments after every scan; ``ready_listeners`` are called with the queue device
when its state machine settles in IDLE/WORKING (the queue can carry requests).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING

import simpy

from apsim.errors import ProgramException, SysfsError
from apsim.engine.config import parse_qci
from apsim.ids import apqn as make_apqn
from apsim.linux import override, se_attrs
from apsim.linux.apbus_attrs import BUS, BusAttributes
from apsim.linux.apbus_scan import AP_DEVICE_TYPE_CEX4, AP_DEVICE_TYPE_CEX8, BusScan
from apsim.linux.devices import APDevice, CardDevice, DevState, QueueDevice, add_card_attrs, add_queue_attrs
from apsim.linux.maskparse import parse_mask, scanf_int
from apsim.masks import Mask

if TYPE_CHECKING:
    from apsim.linux.host import Host

SUPPORTED_TYPES = frozenset(range(AP_DEVICE_TYPE_CEX4, AP_DEVICE_TYPE_CEX8 + 1))
NO_QCI_MAX_APID = 63
NO_QCI_MAX_APQI = 15


def parse_cmdline(cmdline: str) -> dict[str, str]:
    """The ``ap.*`` kernel parameters of a command line (``ap.apmask=0xffff ap.domain=5``)."""
    params: dict[str, str] = {}
    for word in cmdline.split():
        key, sep, value = word.partition("=")
        if sep and key.startswith("ap."):
            params[key[3:]] = value
    return params


@dataclass(frozen=True)
class QciInfo:
    """A QCI information block as the bus keeps it (``struct ap_config_info``)."""

    raw: bytes
    flags: int
    apsc: bool
    apxa: bool
    qact: bool
    rc8a: bool
    apsb: bool
    na: int
    nd: int
    apm: Mask
    aqm: Mask
    adm: Mask

    @classmethod
    def from_block(cls, block: bytes) -> QciInfo:
        """Decode the 128-byte block stored by PQAP(QCI)."""
        d = parse_qci(block)
        return cls(raw=bytes(block), flags=int.from_bytes(block[0:4], "big"), apsc=d["apsc"],
                   apxa=d["apxa"], qact=d["qact"], rc8a=d["rc8a"], apsb=d["apsb"], na=d["na"],
                   nd=d["nd"], apm=d["apm"], aqm=d["aqm"], adm=d["adm"])

    @classmethod
    def none(cls) -> QciInfo:
        """The all-zero block the bus keeps when QCI is not available."""
        return cls.from_block(bytes(128))


class APDriver:
    """An AP device driver (``struct ap_driver``): subclasses override the callbacks."""

    name = "driver"
    default = False
    """``AP_DRIVER_FLAG_DEFAULT``: may bind host-owned queues only."""
    card_types: frozenset[int] = frozenset()
    queue_types: frozenset[int] = frozenset()

    def matches(self, dev: APDevice) -> bool:
        """``ap_bus_match``: the device's type is in the driver's id table."""
        types = self.card_types if dev.kind == "card" else self.queue_types
        return dev.device_type in types

    def probe(self, dev: APDevice) -> int:
        """Bind *dev*; return 0 or a positive errno (the probe refused the device)."""
        return 0

    def remove(self, dev: APDevice) -> None:
        """Unbind *dev*."""

    def in_use(self, apm: Mask, aqm: Mask) -> bool:
        """Whether any APQN of apm × aqm is in use by this driver (mask write check)."""
        return False

    def on_config_changed(self, cur: QciInfo, prev: QciInfo) -> None:
        """A scan found a new QCI (called before devices are added or removed)."""

    def on_scan_complete(self, cur: QciInfo, prev: QciInfo) -> None:
        """A scan that found a new QCI has finished adding and removing devices."""


class APBus(BusScan, BusAttributes):
    """The AP bus of one Linux: devices, drivers, masks, scans and /sys/bus/ap."""

    def __init__(self, host: Host, *, config_time_s: int | None = 30, cmdline: str = "") -> None:
        self.host = host
        self.env: simpy.Environment = host.env
        self.cpu = host.cpu
        self.sysfs = host.sysfs
        self.klog = host.klog
        fac = host.facilities
        self.apft = bool(fac.apft)
        params = parse_cmdline(cmdline)
        # ap_module_init: interrupts when facility 65 is installed and ap.useirq is not 0.
        self.irq_flag = bool(fac.apqi) and scanf_int(params.get("useirq", "1"), base=0) != 0
        self.qci_available = bool(fac.apqci)
        self.apmask = Mask.full()
        self.aqmask = Mask.full()
        self.domain_index = -1
        self.max_adapter_id = NO_QCI_MAX_APID
        self.max_domain_id = NO_QCI_MAX_APQI
        self.qci = QciInfo.none()
        self.qci_old = QciInfo.none()
        self.config_time_s = config_time_s
        # ap_module_init: under z/VM (MACHINE_IS_VM) the high poll rate is z/VM's 1.5 ms.
        profile = host.machine.profile
        self.poll_timeout_ns = int(profile.poll_zvm_ns if host.zvm else profile.poll_lpar_ns)
        # ap.poll_thread=1 starts the poll thread, which ap_poll_thread_start refuses
        # (quietly) when interrupts are in use.
        self.poll_thread = (scanf_int(params.get("poll_thread", "0"), base=0) or 0) != 0 and not self.irq_flag
        self.poll_armed = False
        self.detached = False
        self.scan_count = 0
        self.bindings_complete = False
        self.bindings_complete_count = 0
        self.cards: dict[int, CardDevice] = {}
        self.queues: dict[int, QueueDevice] = {}
        self.drivers: list[APDriver] = []
        self.uevents: list[tuple[int, str, str]] = []
        # Called after every scan: zcrypt users (workloads) re-read the usable queues.
        self.scan_listeners: list = []
        # Called when a queue's state machine settles (IDLE): it can carry requests.
        self.ready_listeners: list = []
        self._scanning = False
        self._next_scan_at: int | None = None
        self._timer_wake_at: int | None = None
        self._timer: simpy.Process | None = None
        self._perms_init(params)
        self._init_qci()
        self._domain_param(params)
        self._add_bus_attrs()

    # --- kernel parameters -------------------------------------------------------------
    def _perms_init(self, params: dict[str, str]) -> None:
        """``ap_perms_init``: ``ap.apmask=`` / ``ap.aqmask=`` start from zero, then the parser."""
        for key, attr in (("apmask", "apmask"), ("aqmask", "aqmask")):
            if key not in params:
                continue
            try:
                mask = parse_mask(params[key], Mask.empty(), path=f"ap.{key}")
            except SysfsError:
                mask = Mask.empty()  # a bad string leaves the cleared mask
            setattr(self, attr, mask)

    def _domain_param(self, params: dict[str, str]) -> None:
        if "domain" not in params:
            return
        value = scanf_int(params["domain"], base=0)
        dom = -1 if value is None else value
        if dom < -1 or dom > self.max_domain_id or (dom >= 0 and dom not in self.aqmask):
            self.klog.warn(f"ap: {dom} is not a valid cryptographic domain")
            dom = -1
        self.domain_index = dom

    # --- QCI -----------------------------------------------------------------------------
    def _fetch_qci(self) -> QciInfo | None:
        if not self.qci_available:
            return None
        try:
            res = self.cpu.qci()
        except ProgramException:
            return None
        return QciInfo.from_block(res.qci) if res.qci is not None else None

    def _init_qci(self) -> None:
        info = self._fetch_qci()
        if info is None:
            self.klog.dbf("ap_init_qci_info QCI not supported")
            return
        self.qci = self.qci_old = info
        if info.apxa:
            if info.na:
                self.max_adapter_id = info.na
            if info.nd:
                self.max_domain_id = info.nd

    def test_config_card_id(self, apid: int) -> bool:
        """``ap_test_config_card_id``: APID within the maximum and in the QCI APM."""
        if apid > self.max_adapter_id:
            return False
        return apid in self.qci.apm if self.qci.flags else True

    def test_config_usage_domain(self, apqi: int) -> bool:
        """``ap_test_config_usage_domain``: APQI within the maximum and in the QCI AQM."""
        if apqi > self.max_domain_id:
            return False
        return apqi in self.qci.aqm if self.qci.flags else True

    def owned_by_default(self, apid: int, apqi: int) -> bool:
        """``ap_owned_by_def_drv``: the APQN is reserved for the default drivers.

        A queue with a driver_override (≥ 6.19) is the host's when a default driver has it.
        """
        q = self.queues.get(make_apqn(apid, apqi))
        if q is not None and getattr(q, "driver_override", None):
            return q.driver is not None and q.driver.default
        return apid in self.apmask and apqi in self.aqmask

    def apqn_in_matrix_owned_by_def_drv(self, apm: Mask, aqm: Mask) -> int | None:
        """The first APQN of apm × aqm reserved for the default drivers, or None."""
        if override.override_count(self):
            return next((make_apqn(i, j) for i in apm for j in aqm if self.owned_by_default(i, j)), None)
        a = apm & self.apmask
        q = aqm & self.aqmask
        if a and q:
            return make_apqn(a.first(), q.first())
        return None

    # --- devices -----------------------------------------------------------------------------
    def sorted_queues(self) -> list[QueueDevice]:
        """Queue devices in APQN order."""
        return [self.queues[k] for k in sorted(self.queues)]

    def find_device(self, name: str) -> APDevice | None:
        """A device by its sysfs name (``card05`` or ``05.0004``)."""
        for c in self.cards.values():
            if c.name == name:
                return c
        for q in self.queues.values():
            if q.name == name:
                return q
        return None

    def queue_info(self, apqn: int) -> tuple[int, int, bool, bool]:
        """``ap_queue_info``: (1 info, 0 no info, -1 invalid), hwinfo, decfg, chkstop."""
        if (apqn >> 8) > self.max_adapter_id or (apqn & 0xFF) > self.max_domain_id:
            return -1, 0, False, False
        try:
            res = self.cpu.tapq(apqn, t=self.apft)
        except ProgramException:
            return -1, 0, False, False
        if res.rc not in (0x00, 0x02, 0x03, 0x04, 0x05) and not res.async_error:
            return -1, 0, False, False
        hw = res.gr2 or 0
        if not hw:
            return 0, 0, False, False
        return 1, hw, res.rc == 0x03, res.rc == 0x04

    def uevent(self, devpath: str, env: str) -> None:
        self.uevents.append((int(self.env.now), devpath, env))

    def _link_device(self, dev: APDevice) -> None:
        self.sysfs.link(f"{BUS}/devices/{dev.name}", dev.devpath)
        self.sysfs.link(f"{dev.devpath}/subsystem", BUS)

    def _bind_links(self, dev: APDevice, drv: APDriver) -> None:
        self.sysfs.link(f"{BUS}/drivers/{drv.name}/{dev.name}", dev.devpath)
        self.sysfs.link(f"{dev.devpath}/driver", f"{BUS}/drivers/{drv.name}")

    def _unbind_links(self, dev: APDevice, drv: APDriver) -> None:
        self.sysfs.unlink(f"{BUS}/drivers/{drv.name}/{dev.name}")
        self.sysfs.unlink(f"{dev.devpath}/driver")

    def _probe(self, drv: APDriver, dev: APDevice) -> int:
        """``ap_device_probe``: 0 when *drv* bound *dev*, else a positive errno."""
        if isinstance(dev, QueueDevice) and not override.probe_allowed(self, drv, dev):
            return errno.ENODEV
        self.bindings_complete = False
        rc = drv.probe(dev)
        if rc == 0:
            dev.driver = drv
            self._bind_links(dev, drv)
        return rc

    def _attach(self, dev: APDevice) -> bool:
        """Offer *dev* to the drivers in registration order; True when one bound it."""
        for drv in list(self.drivers):
            if drv.matches(dev) and self._probe(drv, dev) == 0:
                return True
        return False

    def _release(self, dev: APDevice) -> None:
        """``device_release_driver`` → ``ap_device_remove``."""
        drv = dev.driver
        if drv is None:
            return
        if isinstance(dev, QueueDevice):
            dev.flush()
            dev.dev_state = DevState.SHUTDOWN
        drv.remove(dev)
        if isinstance(dev, QueueDevice):
            try:
                self.cpu.zapq(dev.apqn)
            except ProgramException:
                pass
            dev.dev_state = DevState.UNINITIATED
        dev.driver = None
        dev.drvdata = None
        self._unbind_links(dev, drv)

    def _register_card(self, card: CardDevice) -> None:
        self.cards[card.apid] = card
        add_card_attrs(self, card)
        self._link_device(card)
        self._attach(card)

    def _register_queue(self, q: QueueDevice) -> None:
        self.queues[q.apqn] = q
        add_queue_attrs(self, q)
        se_attrs.add_se_attrs(self, q)
        override.add_attr(self, q)
        self._link_device(q)
        self._attach(q)

    def _unregister(self, dev: APDevice) -> None:
        """``device_unregister``: unbind, then remove the device and its attributes."""
        self._release(dev)
        self.sysfs.remove_tree(dev.devpath)
        self.sysfs.unlink(f"{BUS}/devices/{dev.name}")
        if isinstance(dev, QueueDevice):
            self.queues.pop(dev.apqn, None)
        elif isinstance(dev, CardDevice):
            self.cards.pop(dev.apid, None)

    def _remove_card_and_queues(self, card: CardDevice) -> None:
        for q in card.queues():
            self._unregister(q)
        self._unregister(card)

    # --- drivers ---------------------------------------------------------------------------
    def register_driver(self, drv: APDriver) -> None:
        """``ap_driver_register``: add the driver and offer it every unbound device."""
        self.drivers.append(drv)
        base = f"{BUS}/drivers/{drv.name}"
        self.sysfs.add(f"{base}/bind", write=lambda text: self._bind_store(drv, text))
        self.sysfs.add(f"{base}/unbind", write=lambda text: self._unbind_store(drv, text))
        for dev in [*[self.cards[k] for k in sorted(self.cards)], *self.sorted_queues()]:
            if dev.driver is None and drv.matches(dev):
                self._probe(drv, dev)
        self._check_bindings_complete()

    @staticmethod
    def _streq_name(text: str) -> str:
        # sysfs_streq: a trailing newline does not count.
        return text[:-1] if text.endswith("\n") else text

    def _bind_store(self, drv: APDriver, text: str) -> None:
        path = f"{BUS}/drivers/{drv.name}/bind"
        dev = self.find_device(self._streq_name(text))
        if dev is None or not drv.matches(dev):
            raise SysfsError(errno.ENODEV, path,
                             f"no device {text.strip()!r} of a type {drv.name} supports")
        if dev.driver is not None:
            raise SysfsError(errno.EBUSY, path, f"{dev.name} is already bound to {dev.driver.name}")
        rc = self._probe(drv, dev)
        if rc:
            rule = f"{drv.name} refused {dev.name}"
            if isinstance(dev, QueueDevice):
                owner = ("the default drivers" if self.owned_by_default(dev.apid, dev.apqi)
                         else "non-default drivers such as vfio_ap")
                rule += f": apmask/aqmask reserve it for {owner}"
            raise SysfsError(rc, path, rule)

    def _unbind_store(self, drv: APDriver, text: str) -> None:
        path = f"{BUS}/drivers/{drv.name}/unbind"
        dev = self.find_device(self._streq_name(text))
        if dev is None or dev.driver is not drv:
            raise SysfsError(errno.ENODEV, path, f"{text.strip()!r} is not bound to {drv.name}")
        self._release(dev)

    def revise_bindings(self) -> None:
        """``ap_bus_revise_bindings``: re-probe queues whose driver class is now wrong.

        An unbound queue is simply probed again (the kernel's loop would dereference
        its missing driver; reference §15 item 24).
        """
        for q in self.sorted_queues():
            devres = self.owned_by_default(q.apid, q.apqi)
            if q.driver is None:
                self._attach(q)
            elif q.driver.default != devres:
                self.klog.dbf(f"reprobing queue={q.name}")
                self._release(q)
                self._attach(q)

    def _check_bindings_complete(self) -> None:
        if self.scan_count < 1:
            return
        total = len(self.queues)
        bound = sum(1 for q in self.queues.values() if q.driver is not None)
        if bound == total and not self.bindings_complete:
            self.bindings_complete = True
            self.bindings_complete_count += 1
            self.uevent("/sys/devices/ap", f"BINDINGS=complete COMPLETECOUNT={self.bindings_complete_count}")
