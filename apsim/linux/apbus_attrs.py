"""The AP bus's sysfs attributes: /sys/bus/ap's files and the card and queue device
attributes whose stores act on the bus (reset, config, apmask/aqmask, ...).

A mixin of :class:`apsim.linux.apbus.APBus`; split out of apbus.py to keep each
module to one concern.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING

from apsim.errors import SysfsError
from apsim.hw.machine import SCLP_CMD_CONFIGURE_AP, SCLP_CMD_DECONFIGURE_AP, SCLP_SUCCESS_CODES
from apsim.linux import override, queue_sm
from apsim.linux.devices import CardDevice, QueueDevice, SMState
from apsim.linux.maskparse import format_mask, kstrtobool, kstrtoul, parse_mask, scanf_int
from apsim.masks import Mask

if TYPE_CHECKING:
    from apsim.linux.apbus import QciInfo

POLL_TIMEOUT_MAX_NS = 120_000_000_000
BUS = "/sys/bus/ap"


class BusAttributes:
    """The show/store functions behind /sys/bus/ap, for :class:`~apsim.linux.apbus.APBus`."""

    def _add_bus_attrs(self) -> None:
        fs = self.sysfs
        # The root device and the bus's device list exist before (and without) any device.
        fs.mkdir("/sys/devices/ap")
        fs.mkdir(f"{BUS}/devices")

        def qci_mask(get: Callable[[QciInfo], Mask]) -> Callable[[], str]:
            return lambda: (get(self.qci).hex_words() + "\n") if self.qci.flags else "not supported\n"

        fs.add(f"{BUS}/ap_domain", read=lambda: f"{self.domain_index}\n", write=self._ap_domain_store)
        fs.add(f"{BUS}/ap_control_domain_mask", read=qci_mask(lambda i: i.adm))
        fs.add(f"{BUS}/ap_usage_domain_mask", read=qci_mask(lambda i: i.aqm))
        fs.add(f"{BUS}/ap_adapter_mask", read=qci_mask(lambda i: i.apm))
        fs.add(f"{BUS}/config_time", read=lambda: f"{self.config_time_s or 0}\n",
               write=self._config_time_store)
        fs.add(f"{BUS}/poll_thread", read=lambda: f"{1 if self.poll_thread else 0}\n",
               write=self._poll_thread_store)
        fs.add(f"{BUS}/ap_interrupts", read=lambda: f"{1 if self.irq_flag else 0}\n")
        fs.add(f"{BUS}/poll_timeout", read=lambda: f"{self.poll_timeout_ns}\n", write=self._poll_timeout_store)
        fs.add(f"{BUS}/ap_max_domain_id", read=lambda: f"{self.max_domain_id}\n")
        fs.add(f"{BUS}/ap_max_adapter_id", read=lambda: f"{self.max_adapter_id}\n")
        fs.add(f"{BUS}/apmask", read=lambda: format_mask(self.apmask), write=self._apmask_store)
        fs.add(f"{BUS}/aqmask", read=lambda: format_mask(self.aqmask), write=self._aqmask_store)
        fs.add(f"{BUS}/scans", read=lambda: f"{self.scan_count}\n", write=lambda _t: self._scans_store())
        fs.add(f"{BUS}/bindings", read=self._bindings_show)
        fs.add(f"{BUS}/bindings_complete_count", read=lambda: f"{self.bindings_complete_count}\n")
        fs.add(f"{BUS}/features", read=self._features_show)

    def _ap_domain_store(self, text: str) -> None:
        path = f"{BUS}/ap_domain"
        dom = scanf_int(text, base=0)
        if dom is None or dom < 0 or dom > self.max_domain_id:
            raise SysfsError(errno.EINVAL, path, f"{text.strip()!r} is not a domain 0..{self.max_domain_id}")
        if dom not in self.aqmask:
            raise SysfsError(errno.EINVAL, path, f"domain {dom} is not in aqmask")
        self.domain_index = dom

    def _config_time_store(self, text: str) -> None:
        path = f"{BUS}/config_time"
        t = scanf_int(text)
        if t is None or t < 5 or t > 120:
            raise SysfsError(errno.EINVAL, path, f"{text.strip()!r}: the scan interval is 5..120 seconds")
        was_running = self.config_time_s is not None
        self.config_time_s = t
        if not was_running:
            self._timer = self.env.process(self._timer_loop())
        self._rearm()

    def _poll_thread_store(self, text: str) -> None:
        v = kstrtobool(text)
        if v is None:
            raise SysfsError(errno.EINVAL, f"{BUS}/poll_thread", f"{text.strip()!r} is not a boolean")
        self.poll_thread = v and not self.irq_flag

    def _poll_timeout_store(self, text: str) -> None:
        path = f"{BUS}/poll_timeout"
        v = kstrtoul(text, path=path, what="poll period in ns")
        if v > POLL_TIMEOUT_MAX_NS:
            raise SysfsError(errno.EINVAL, path, f"{v} ns exceeds the 120 s maximum poll period")
        self.poll_timeout_ns = v

    def _scans_store(self) -> None:
        self.klog.dbf("scans_store force AP bus rescan")
        self.force_rescan()

    def _bindings_show(self) -> str:
        total = len(self.queues)
        bound = sum(1 for q in self.queues.values() if q.driver is not None)
        if self.scan_count >= 1 and bound == total:
            return f"{bound}/{total} (complete)\n"
        return f"{bound}/{total}\n"

    def _features_show(self) -> str:
        i = self.qci
        if not i.flags:
            return "-\n"
        names = [n for n, on in (("APSC", i.apsc), ("APXA", i.apxa), ("QACT", i.qact),
                                 ("RC8A", i.rc8a), ("APSB", i.apsb)) if on]
        return " ".join(names) + "\n"

    def _mask_store(self, which: str, text: str) -> None:
        path = f"{BUS}/{which}"
        cur = self.apmask if which == "apmask" else self.aqmask
        override.mask_store_refused(self, path)
        new = parse_mask(text, cur, path=path)
        if new == cur:
            return
        reserved = new - cur
        if reserved:
            apm, aqm = override.reservation_masks(self, which, reserved)
            for drv in list(self.drivers):
                if drv.in_use(apm, aqm):
                    raise SysfsError(errno.EBUSY, path,
                                     f"taking ids {reserved.ids()} back for the host would take queues "
                                     f"from a {drv.name} mediated device (see the kernel log)")
        if which == "apmask":
            self.apmask = new
        else:
            self.aqmask = new
        self.revise_bindings()
        self.uevent("/sys/devices/ap", f"{which.upper()}={new.sysfs()}")

    def _apmask_store(self, text: str) -> None:
        self._mask_store("apmask", text)

    def _aqmask_store(self, text: str) -> None:
        self._mask_store("aqmask", text)

    # --- device attribute actions -------------------------------------------------------------
    def queue_reset_store(self, q: QueueDevice) -> None:
        """A write to a queue's ``reset``: flush and restart the state machine."""
        q.flush()
        q.sm_state = SMState.RESET_START
        queue_sm.ap_wait(self, queue_sm.sm_event(self, q))
        self.klog.dbf(f"reset_store reset queue={q.name} triggered by user")

    def card_config_store(self, card: CardDevice, text: str) -> None:
        """A write to a card's ``config``: SCLP (de)configure AP, then the card flag."""
        path = card.attr("config")
        cfg = scanf_int(text)
        if cfg is None or cfg < 0 or cfg > 1:
            raise SysfsError(errno.EINVAL, path, f"{text.strip()!r}: write 0 (deconfigure) or 1 (configure)")
        if cfg and not card.config:
            self._sclp(card, SCLP_CMD_CONFIGURE_AP, path)
        elif not cfg and card.config:
            self._sclp(card, SCLP_CMD_DECONFIGURE_AP, path)
        card.config = bool(cfg)
        self.uevent(card.devpath, f"CONFIG={cfg}")

    def _sclp(self, card: CardDevice, base: int, path: str) -> None:
        lpar = self.host.lpar
        if lpar is None:
            raise SysfsError(errno.EOPNOTSUPP, path,
                             "SCLP AP reconfiguration is only available to a Linux running in an LPAR")
        cmd = base | ((card.apid & 0xFF) << 8)
        rc = self.host.machine.sclp_command(lpar, cmd)
        if rc not in SCLP_SUCCESS_CODES:
            verb = "configure" if base == SCLP_CMD_CONFIGURE_AP else "deconfigure"
            # sclp_ap.c do_ap_configure logs the same text for both commands.
            self.klog.warn(f"sclp_cmd: configure AP adapter {card.apid} failed: cmd=0x{cmd:08x} "
                           f"response=0x{rc:04x}")
            raise SysfsError(errno.EIO, path, f"SCLP {verb} of adapter {card.apid} answered 0x{rc:04x}")
