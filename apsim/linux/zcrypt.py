"""The default (zcrypt) AP drivers: ``cex4card`` and ``cex4queue``.

Modelled on drivers/s390/crypto/zcrypt_cex4.c, zcrypt_card.c and zcrypt_queue.c.
Both carry ``AP_DRIVER_FLAG_DEFAULT``, so the bus lets ``cex4queue`` bind only
host-owned queues (APID in apmask and APQI in aqmask); ``cex4card`` binds every
card device. They support the types CEX4..CEX8 (10..14); older adapters get no
card device at all (the bus does not create one).

On binding they add the zcrypt attributes: a card's ``type`` (``CEX5C``,
``CEX7A``, ``CEX8P``: generation and mode letter), ``online`` and ``load``; a
queue's ``online`` and ``load``; a CCA or EP11 card also ``serialnr`` (accelerators
have none). The queue probe starts the bus state machine
(reset with RAPQ, then AQIC to enable interruptions), as
``zcrypt_cex4_queue_probe`` does with ``ap_queue_init_state``.

``online`` writes: ``sscanf("%d")`` must give 0 or 1 (else ``EINVAL``); a card
cannot go online while deconfigured (``ENODEV``) and takes its queues with it; a
queue cannot go online while it or its card is deconfigured (``ENODEV``) or while
its card is offline (``EINVAL``).

``serialnr`` is asked of the card's firmware at every read (a CCA STATICSA or EP11
module query, sent to any usable queue of the card, as ``cca_get_info`` /
``ep11_get_card_info`` with ``AUTOSEL_DOM`` do): CCA prints the 8 characters, EP11
``%16.16s``. When the query cannot be sent (the card is offline, none of its queues is
online under ``cex4queue``) or the card has no known serial, the kernel prints the
zeroed buffer: an empty line. The query's own request is not modelled (it does not
show in ``request_count``).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from apsim.errors import SysfsError
from apsim.linux import queue_sm, se_attrs
from apsim.linux.apbus import SUPPORTED_TYPES, APDriver
from apsim.linux.devices import FAC_CCA, FAC_EP11, APDevice, CardDevice, DevState, QueueDevice, SMState
from apsim.linux.maskparse import scanf_int

if TYPE_CHECKING:
    from apsim.linux.apbus import APBus


class ZcryptCard:
    """``struct zcrypt_card``: the card as the crypto layer sees it."""

    def __init__(self, card: CardDevice) -> None:
        self.card = card
        self.online = True
        self.type_string = f"CEX{card.device_type - 6}{card.mode_letter}"
        self.load = 0


class ZcryptQueue:
    """``struct zcrypt_queue``."""

    def __init__(self, queue: QueueDevice) -> None:
        self.queue = queue
        self.online = True
        self.load = 0


class Cex4CardDriver(APDriver):
    """``cex4card``: binds CEX4..CEX8 card devices."""

    name = "cex4card"
    default = True
    card_types = SUPPORTED_TYPES

    def __init__(self, bus: APBus) -> None:
        self.bus = bus

    def probe(self, dev: APDevice) -> int:
        assert isinstance(dev, CardDevice)
        zc = ZcryptCard(dev)
        dev.drvdata = zc
        fs = self.bus.sysfs
        fs.add(dev.attr("type"), read=lambda: f"{zc.type_string}\n")
        fs.add(dev.attr("online"), read=lambda: f"{1 if dev.config and not dev.chkstop and zc.online else 0}\n",
               write=lambda text: self._online_store(dev, zc, text))
        fs.add(dev.attr("load"), read=lambda: f"{zc.load}\n")
        if dev.functions & (FAC_CCA | FAC_EP11):
            fs.add(dev.attr("serialnr"), read=lambda: serialnr_show(dev, zc))
        return 0

    def remove(self, dev: APDevice) -> None:
        for name in ("type", "online", "load", "serialnr"):
            if self.bus.sysfs.exists(dev.attr(name)):
                self.bus.sysfs.remove_tree(dev.attr(name))

    def _online_store(self, card: CardDevice, zc: ZcryptCard, text: str) -> None:
        path = card.attr("online")
        online = scanf_int(text)
        if online is None or online < 0 or online > 1:
            raise SysfsError(errno.EINVAL, path, f"{text.strip()!r}: write 0 or 1")
        # zcrypt_card.c online_store: a deconfigured or checkstopped card cannot go online.
        if online and (not card.config or card.chkstop):
            raise SysfsError(errno.ENODEV, path, f"{card.name} is deconfigured or checkstopped")
        zc.online = bool(online)
        self.bus.uevent(card.devpath, f"ONLINE={online}")
        for q in card.queues():
            zq = q.drvdata
            if isinstance(zq, ZcryptQueue):
                # zcrypt_card_online_store → zcrypt_queue_force_online(…, online): an
                # ONLINE uevent for each queue whose state changed.
                changed = zq.online != bool(online)
                zq.online = bool(online)
                if changed:
                    self.bus.uevent(q.devpath, f"ONLINE={online}")
                if not online:
                    q.flush()


def _usable(q: QueueDevice) -> bool:
    """A queue the zcrypt layer may send a request to (``zq->online`` and ``ap_queue_usable``)."""
    zq = q.drvdata
    return (isinstance(zq, ZcryptQueue) and zq.online and q.config and not q.chkstop
            and q.dev_state == DevState.OPERATING)


def serialnr_show(card: CardDevice, zc: ZcryptCard) -> str:
    """The card's ``serialnr`` text: the firmware's serial, or an empty line when the query fails."""
    if not (card.config and zc.online):
        return "\n"
    hw = next((q.hw_queue() for q in card.queues() if _usable(q)), None)
    serial = getattr(getattr(getattr(hw, "adapter", None), "spec", None), "serialnr", None)
    # CCA prints "%s" of 8 characters, EP11 "%16.16s" of 16: the validated length either way.
    return "\n" if serial is None else f"{serial}\n"


class Cex4QueueDriver(APDriver):
    """``cex4queue``: binds host-owned CEX4..CEX8 queue devices."""

    name = "cex4queue"
    default = True
    queue_types = SUPPORTED_TYPES

    def __init__(self, bus: APBus) -> None:
        self.bus = bus

    def probe(self, dev: APDevice) -> int:
        assert isinstance(dev, QueueDevice)
        zq = ZcryptQueue(dev)
        dev.drvdata = zq
        fs = self.bus.sysfs
        fs.add(dev.attr("online"), read=lambda: f"{1 if dev.config and not dev.chkstop and zq.online else 0}\n",
               write=lambda text: self._online_store(dev, zq, text))
        fs.add(dev.attr("load"), read=lambda: f"{zq.load}\n")
        dev.start_counting()
        queue_sm.init_state(self.bus, dev)
        return 0

    def remove(self, dev: APDevice) -> None:
        assert isinstance(dev, QueueDevice)
        dev.stop_counting()
        for name in ("online", "load"):
            self.bus.sysfs.remove_tree(dev.attr(name))

    def _online_store(self, q: QueueDevice, zq: ZcryptQueue, text: str) -> None:
        path = q.attr("online")
        online = scanf_int(text)
        if online is None or online < 0 or online > 1:
            raise SysfsError(errno.EINVAL, path, f"{text.strip()!r}: write 0 or 1")
        if online and (not q.config or not q.card.config or q.chkstop or q.card.chkstop):
            raise SysfsError(errno.ENODEV, path, f"{q.name} or its card is deconfigured or checkstopped")
        zc = q.card.drvdata
        if online and isinstance(zc, ZcryptCard) and not zc.online:
            raise SysfsError(errno.EINVAL, path, f"card {q.card.name} is offline")
        zq.online = bool(online)
        self.bus.uevent(q.devpath, f"ONLINE={online}")
        if not online:
            q.flush()


_SENDING = (SMState.IDLE, SMState.WORKING, SMState.QUEUE_FULL)


def zcrypt_targets(linux: object, length: int = 0) -> list[int]:
    """The APQNs a Linux's zcrypt may send a request of *length* bytes to, in bus order.

    A queue bound to ``cex4queue``, online with its card, configured, not checkstopped
    and with its state machine past the reset and, in a Secure Execution guest, bound
    (``ap_queue_usable``); with *length*, on
    a card whose ``maxmsgsize`` holds the message (zcrypt_api.c skips the others, so a
    request no card can take ends in ENODEV rather than an NQAP answered 0x15).
    """
    bus = getattr(linux, "bus", None)
    if bus is None:
        return []
    out = []
    for q in bus.sorted_queues():
        zq = q.drvdata
        if (q.driver is linux.cex4queue and q.config and q.card.config and not q.chkstop  # type: ignore[attr-defined]
                and getattr(zq, "online", False) and q.dev_state == DevState.OPERATING
                and q.sm_state in _SENDING and length <= q.card.maxmsgsize and se_attrs.usable(bus, q)):
            out.append(q.apqn)
    return out
