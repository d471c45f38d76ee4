"""The AP bus's scans: ``ap_scan_bus``, the periodic rescan timer, and how each adapter
and domain found in the QCI becomes (or stops being) a card or queue device.

A mixin of :class:`apsim.linux.apbus.APBus` (the state it reads and writes is the
bus's own); split out of apbus.py to keep each module to one concern.
"""

from __future__ import annotations

import simpy

from apsim.engine.codes import AP_TYPE_CEX4
from apsim.errors import ProgramException
from apsim.ids import apqn as make_apqn
from apsim.ids import format_apqn
from apsim.linux import queue_sm
from apsim.linux.devices import CardDevice, DevState, QueueDevice, hwinfo_at, hwinfo_bs, hwinfo_fac
from apsim.units import S

AP_DEVICE_TYPE_CEX4 = AP_TYPE_CEX4
AP_DEVICE_TYPE_CEX8 = 14


class BusScan:
    """``ap_scan_bus`` and the rescan timer, for :class:`~apsim.linux.apbus.APBus`."""

    def start(self) -> None:
        """Module init: the initial scan now and the periodic timer after it."""
        self.scan()
        if self.config_time_s is not None:
            self._timer = self.env.process(self._timer_loop())

    def force_rescan(self) -> bool:
        """``ap_bus_force_rescan``: a synchronous scan (after the initial one only)."""
        if self.scan_count <= 0 or self._scanning or self.detached:
            return False
        return self.scan()

    def scan(self) -> bool:
        """``ap_scan_bus``: one full scan; returns whether the QCI changed."""
        if self._scanning:
            return False
        self._scanning = True
        try:
            changed = self._get_configuration()
            if changed:
                new_aps = bool(self.qci.apm - self.qci_old.apm)
                new_doms = bool(self.qci.aqm - self.qci_old.aqm)
                if new_aps or new_doms:
                    self.bindings_complete = False
                for drv in list(self.drivers):
                    drv.on_config_changed(self.qci, self.qci_old)
            self._select_domain()
            for apid in range(self.max_adapter_id + 1):
                self._scan_adapter(apid)
            if changed:
                for drv in list(self.drivers):
                    drv.on_scan_complete(self.qci, self.qci_old)
            if self.domain_index >= 0 and not any(q.apqi == self.domain_index for q in self.queues.values()):
                self.klog.dbf(f"ap_scan_bus no queue device with default domain {self.domain_index} available")
            self.scan_count += 1
            if self.scan_count == 1:
                self.uevent("/sys/devices/ap", "INITSCAN=done")
            self._check_bindings_complete()
            self._rearm()
        finally:
            self._scanning = False
        for fn in list(self.scan_listeners):
            fn()
        return changed

    def _get_configuration(self) -> bool:
        if not self.qci.flags:
            return False
        new = self._fetch_qci()
        if new is None:
            return False
        self.qci_old = self.qci
        self.qci = new
        return new.raw != self.qci_old.raw

    def _select_domain(self) -> None:
        if self.domain_index >= 0:
            return
        for dom in range(self.max_domain_id + 1):
            if not self.test_config_usage_domain(dom) or dom not in self.aqmask:
                continue
            for card in range(self.max_adapter_id + 1):
                if not self.test_config_card_id(card) or card not in self.apmask:
                    continue
                try:
                    res = self.cpu.tapq(make_apqn(card, dom), t=self.apft)
                except ProgramException:
                    continue
                if res.rc == 0:
                    self.domain_index = dom
                    self.klog.dbf(f"ap_select_domain new default domain is {dom}")
                    return

    def _compatible_type(self, apqn: int, rawtype: int, func: int) -> int:
        """``ap_get_compatible_type``: 0 (unsupported) or a type 10..14."""
        if rawtype < AP_DEVICE_TYPE_CEX4:
            self.klog.dbf(f"ap_get_compatible_type queue={format_apqn(apqn)} unsupported type {rawtype}")
            return 0
        if rawtype <= AP_DEVICE_TYPE_CEX8:
            return rawtype
        comp = 0
        if self.qci.qact:
            try:
                res = self.cpu.qact(apqn, AP_DEVICE_TYPE_CEX8)
            except ProgramException:
                res = None
            if res is not None and res.rc == 0:
                cat = ((res.gr2 or 0) >> 24) & 0xFF
                if AP_DEVICE_TYPE_CEX4 <= cat <= AP_DEVICE_TYPE_CEX8:
                    comp = cat
        if not comp:
            self.klog.dbf(f"ap_get_compatible_type queue={format_apqn(apqn)} unable to map type {rawtype}")
        return comp

    def _scan_adapter(self, apid: int) -> None:
        card = self.cards.get(apid)
        if not self.test_config_card_id(apid):
            if card is not None:
                self.klog.dbf(f"ap_scan_adapter({apid}) ap not in config any more, rm card and queue devs")
                self._remove_card_and_queues(card)
            return
        found = None
        for dom in range(self.max_domain_id + 1):
            if self.test_config_usage_domain(dom):
                r = self.queue_info(make_apqn(apid, dom))
                if r[0] > 0:
                    found = (make_apqn(apid, dom), *r[1:])
                    break
        if found is None:
            if card is not None:
                self.klog.dbf(f"ap_scan_adapter({apid}) no type info (no APQN found), rm card and queue devs")
                self._remove_card_and_queues(card)
            return
        qid, hw, decfg, chkstop = found
        at = hwinfo_at(hw)
        if not at:
            if card is not None:
                self._remove_card_and_queues(card)
            return
        if card is not None:
            if card.raw_type != at or card.functions != hwinfo_fac(hw & 0xFFFF0000FFFF0F0F):
                self.klog.dbf(f"ap_scan_adapter({apid}) hwtype/functions changed, rm card and queue devs")
                self._remove_card_and_queues(card)
                card = None
            else:
                if chkstop != card.chkstop:
                    card.chkstop = chkstop
                    self.klog.dbf(f"ap_scan_adapter({apid}) card dev checkstop {'on' if chkstop else 'off'}")
                if decfg and card.config:
                    card.config = False
                    self.uevent(card.devpath, "CONFIG=0")
                elif not decfg and not card.config:
                    card.config = True
                    self.uevent(card.devpath, "CONFIG=1")
        if card is None:
            comp = self._compatible_type(qid, at, hwinfo_fac(hw))
            if not comp:
                self.klog.dbf(f"ap_scan_adapter({apid}) type {at}, can't get compatibility type")
                return
            card = CardDevice(self, apid, hw, comp)
            card.config = not decfg
            card.chkstop = chkstop
            self._register_card(card)
            state = "(decfg) " if decfg else "(chkstop) " if chkstop else ""
            self.klog.dbf(f"ap_scan_adapter({apid}) new {state}card dev type={at} "
                          f"func=0x{card.functions:08x} created")
        self._scan_domains(card)

    def _scan_domains(self, card: CardDevice) -> None:
        for dom in range(self.max_domain_id + 1):
            qid = make_apqn(card.apid, dom)
            q = self.queues.get(qid)
            if not self.test_config_usage_domain(dom):
                if q is not None:
                    self._unregister(q)
                continue
            rc, hw, decfg, chkstop = self.queue_info(qid)
            if rc < 0:
                if q is not None:
                    self._unregister(q)
                continue
            if rc == 0:
                continue
            if q is None:
                q = QueueDevice(self, card, qid)
                q.config = not decfg
                q.chkstop = chkstop
                q.se_bstate = hwinfo_bs(hw)
                self._register_queue(q)
                if not decfg and not chkstop:
                    queue_sm.init_state(self, q)
                continue
            q.se_bstate = hwinfo_bs(hw)
            if chkstop and not q.chkstop:
                q.chkstop = True
                if q.dev_state > DevState.UNINITIATED:
                    q.dev_state = DevState.ERROR
                    q.last_err_rc = 0x04
                q.flush()
                continue
            if not chkstop and q.chkstop:
                q.chkstop = False
                if q.dev_state > DevState.UNINITIATED:
                    queue_sm.init_state(self, q)
                continue
            if decfg and q.config:
                q.config = False
                if q.dev_state > DevState.UNINITIATED:
                    q.dev_state = DevState.ERROR
                    q.last_err_rc = 0x03
                self.uevent(q.devpath, "CONFIG=0")
                q.flush()
                continue
            if not decfg and not q.config:
                q.config = True
                if q.dev_state > DevState.UNINITIATED:
                    queue_sm.init_state(self, q)
                self.uevent(q.devpath, "CONFIG=1")
                continue
            if not decfg and q.dev_state == DevState.ERROR:
                q.flush()
                queue_sm.init_state(self, q)
                self.klog.dbf(f"ap_scan_domains({card.apid},{dom}) queue dev reinit enforced")

    # --- the periodic timer -----------------------------------------------------------------
    def _rearm(self) -> None:
        if self.config_time_s is None:
            return
        self._next_scan_at = int(self.env.now) + self.config_time_s * S
        if self._timer is not None and self._timer_wake_at is not None \
                and self._next_scan_at < self._timer_wake_at and self._timer.is_alive \
                and self._timer is not self.env.active_process:
            self._timer.interrupt()

    def _timer_loop(self):  # noqa: ANN202 - SimPy process
        while not self.detached:
            assert self._next_scan_at is not None
            delay = self._next_scan_at - int(self.env.now)
            if delay > 0:
                self._timer_wake_at = self._next_scan_at
                try:
                    yield self.env.timeout(delay)
                except simpy.Interrupt:
                    pass
                self._timer_wake_at = None
                continue
            if self._scanning:
                self._next_scan_at = int(self.env.now) + self.config_time_s * S
                continue
            self.scan()

    def stop(self) -> None:
        """Stop the periodic scan and polling (the Linux shuts down)."""
        self.detached = True
        if self._timer is not None and self._timer.is_alive and self._timer is not self.env.active_process:
            self._timer.interrupt()
