"""AP bus devices of one Linux: card devices ``cardXX`` and queue devices ``XX.YYYY``.

Modelled on drivers/s390/crypto/ap_card.c and ap_queue.c: the per-device state the
bus keeps (type information from TAPQ, the ``config``/``chkstop`` flags, the queue's
device state and state-machine state, the driver's request counters) and the sysfs
attributes with the kernel's texts:

card: ``hwtype``, ``raw_hwtype``, ``depth``, ``ap_functions`` (``0x%08X``),
``request_count`` (write resets it), ``requestq_count``, ``pendingq_count``,
``modalias`` (``ap:tXX``), ``config`` (read/write; writing issues the SCLP
(de)configure-AP command), ``chkstop``, ``max_msg_size``;

queue: ``request_count`` (``-`` while no driver runs the queue), ``requestq_count``,
``pendingq_count``, ``reset`` (``Reset in progress.`` / ``Reset Timer armed.`` /
``No Reset Timer set.``; writing starts a reset), ``interrupt`` (``Enable Interrupt
pending.`` / ``Interrupts enabled.`` / ``Interrupts disabled.``, read with TAPQ),
``config``, ``chkstop``, ``ap_functions`` (read with TAPQ; ``EIO`` when TAPQ answers
a response code above 0x05).

The counters are the host driver's own (requests this Linux sent), never read from
the hardware queue objects.
"""

from __future__ import annotations

import errno
from enum import IntEnum
from typing import TYPE_CHECKING

from apsim.errors import ProgramException, SysfsError
from apsim.ids import format_apqn, format_card

if TYPE_CHECKING:
    from apsim.linux.apbus import APBus, APDriver

AP_DEFAULT_MAX_MSG_SIZE = 12 * 1024
AP_TAPQ_ML_FIELD_CHUNK_SIZE = 4096
TAPQ_CARD_HWINFO_MASK = 0xFFFF0000FFFF0F0F
"""Bits of the TAPQ T=1 word that describe the card (the bind state bits are masked out)."""

# ap_functions bits (the top word of the TAPQ T=1 result).
FAC_APSC = 0x80000000
FAC_MEX4K = 0x40000000
FAC_CRT4K = 0x20000000
FAC_CCA = 0x10000000
FAC_ACCEL = 0x08000000
FAC_EP11 = 0x04000000
FAC_APXA = 0x02000000


class DevState(IntEnum):
    """``enum ap_dev_state``."""

    UNINITIATED = 0
    OPERATING = 1
    SHUTDOWN = 2
    ERROR = 3


class SMState(IntEnum):
    """``enum ap_sm_state`` of the AP bus queue state machine."""

    RESET_START = 0
    RESET_WAIT = 1
    SETIRQ_WAIT = 2
    IDLE = 3
    WORKING = 4
    QUEUE_FULL = 5
    ASSOC_WAIT = 6


ASSOC_IDX_INVALID = 0x10000
"""``ASSOC_IDX_INVALID`` (ap_bus.h): no association index given to the queue yet."""


def hwinfo_at(hwinfo: int) -> int:
    """AP type (TAPQ GR2 bits 32-39)."""
    return (hwinfo >> 24) & 0xFF


def hwinfo_fac(hwinfo: int) -> int:
    """Facility word (TAPQ GR2 bits 0-31), the ``ap_functions`` value."""
    return (hwinfo >> 32) & 0xFFFFFFFF


def hwinfo_bs(hwinfo: int) -> int:
    """SE bind state (TAPQ GR2 bits 16-17)."""
    return (hwinfo >> 46) & 0x3


class APDevice:
    """A device on the AP bus (struct ap_device)."""

    kind = "device"

    def __init__(self, bus: APBus, name: str, devpath: str, device_type: int) -> None:
        self.bus = bus
        self.name = name
        self.devpath = devpath
        self.device_type = device_type
        self.driver: APDriver | None = None
        self.drvdata: object = None

    def attr(self, name: str) -> str:
        """The sysfs path of one of this device's attributes."""
        return f"{self.devpath}/{name}"

    def __repr__(self) -> str:
        drv = self.driver.name if self.driver else "-"
        return f"{type(self).__name__}({self.name}, driver={drv})"


class CardDevice(APDevice):
    """A ``cardXX`` device: one adapter as this Linux sees it."""

    kind = "card"

    def __init__(self, bus: APBus, apid: int, hwinfo: int, comp_type: int) -> None:
        name = format_card(apid)
        super().__init__(bus, name, f"/sys/devices/ap/{name}", comp_type)
        self.apid = apid
        self.hwinfo = hwinfo & TAPQ_CARD_HWINFO_MASK
        self.raw_type = hwinfo_at(hwinfo)
        self.functions = hwinfo_fac(self.hwinfo)
        self.qd = self.hwinfo & 0xF
        self.ml = (self.hwinfo >> 8) & 0xF
        self.nd = (self.hwinfo >> 16) & 0xFF
        self.maxmsgsize = self.ml * AP_TAPQ_ML_FIELD_CHUNK_SIZE if self.ml > 0 else AP_DEFAULT_MAX_MSG_SIZE
        self.config = True
        self.chkstop = False
        self.total_request_count = 0

    @property
    def mode_letter(self) -> str:
        """``A``, ``C`` or ``P`` (accelerator, CCA, EP11), as the zcrypt type string ends."""
        if self.functions & FAC_ACCEL:
            return "A"
        if self.functions & FAC_CCA:
            return "C"
        if self.functions & FAC_EP11:
            return "P"
        return "?"

    def queues(self) -> list[QueueDevice]:
        """This card's queue devices, ordered by APQN."""
        return [q for q in self.bus.sorted_queues() if q.card is self]


class QueueDevice(APDevice):
    """An ``XX.YYYY`` device: one APQN as this Linux sees it."""

    kind = "queue"

    def __init__(self, bus: APBus, card: CardDevice, apqn: int) -> None:
        name = format_apqn(apqn)
        super().__init__(bus, name, f"{card.devpath}/{name}", card.device_type)
        self.card = card
        self.apqn = apqn
        self.apid = (apqn >> 8) & 0xFF
        self.apqi = apqn & 0xFF
        self.config = True
        self.chkstop = False
        self.se_bstate = 0
        self.rapq_fbit = False  # the next RAPQ of the state machine unbinds (se_bind 0)
        self.assoc_idx = ASSOC_IDX_INVALID
        self.dev_state = DevState.UNINITIATED
        self.sm_state = SMState.RESET_START
        self.last_err_rc = 0
        self.queue_count = 0
        self.requestq_count = 0
        self.pendingq_count = 0
        self.total_request_count = 0

        # While the zcrypt driver owns the queue, the requests this Linux's crypto users
        # send to it are the physical queue's accepted NQAPs (no other Linux can use an
        # APQN it owns); `_hw_base` is that counter when counting began.
        self._hw_base: int | None = None

    def flush(self) -> None:
        """``__ap_flush_queue``: drop the driver's requests (this model sends none)."""
        self.requestq_count = 0
        self.pendingq_count = 0
        self.queue_count = 0

    def hw_queue(self) -> object | None:
        """The physical AP queue behind this APQN (through the CPU's configuration), if any."""
        lpar = getattr(getattr(self.bus.cpu, "config", None), "lpar", None)
        return lpar.queue(self.apqn) if lpar is not None and hasattr(lpar, "queue") else None

    def start_counting(self) -> None:
        """The zcrypt driver bound the queue: count its users' requests from now on."""
        hw = self.hw_queue()
        self._hw_base = int(getattr(hw, "nqap_count", 0)) if hw is not None else None

    def stop_counting(self) -> None:
        """The zcrypt driver let go: keep what was counted (the kernel keeps the total)."""
        self.total_request_count = self.request_count()
        self._hw_base = None

    def request_count(self) -> int:
        """``total_request_count``: requests this Linux's zcrypt users sent to the queue."""
        hw = self.hw_queue() if self._hw_base is not None else None
        if hw is None:
            return self.total_request_count
        return self.total_request_count + int(getattr(hw, "nqap_count", 0)) - int(self._hw_base or 0)

    def in_flight(self) -> int:
        """Requests sent and not yet received (``pendingq_count``) while the driver owns the queue."""
        hw = self.hw_queue() if self._hw_base is not None else None
        return self.pendingq_count + (int(getattr(hw, "count", 0)) if hw is not None else 0)

    def reset_request_count(self) -> None:
        """A write to ``request_count``: start again from 0."""
        self.total_request_count = 0
        if self._hw_base is not None:
            self.start_counting()


# --- sysfs attributes ------------------------------------------------------------------------
def add_card_attrs(bus: APBus, card: CardDevice) -> None:
    """Create the AP bus attributes of a card device (ap_card.c)."""
    fs = bus.sysfs
    a = card.attr

    def request_count_store(_text: str) -> None:
        card.total_request_count = 0
        for q in card.queues():
            q.reset_request_count()

    fs.add(a("hwtype"), read=lambda: f"{card.device_type}\n")
    fs.add(a("raw_hwtype"), read=lambda: f"{card.raw_type}\n")
    fs.add(a("depth"), read=lambda: f"{card.qd}\n")
    fs.add(a("ap_functions"), read=lambda: f"0x{card.functions:08X}\n")
    # The kernel adds each queue's requests to its card's counters as well.
    fs.add(a("request_count"),
           read=lambda: f"{card.total_request_count + sum(q.request_count() for q in card.queues())}\n",
           write=request_count_store)
    fs.add(a("requestq_count"), read=lambda: f"{sum(q.requestq_count for q in card.queues())}\n")
    fs.add(a("pendingq_count"), read=lambda: f"{sum(q.in_flight() for q in card.queues())}\n")
    fs.add(a("modalias"), read=lambda: f"ap:t{card.device_type:02X}\n")
    fs.add(a("config"), read=lambda: f"{1 if card.config else 0}\n",
           write=lambda text: bus.card_config_store(card, text))
    fs.add(a("chkstop"), read=lambda: f"{1 if card.chkstop else 0}\n")
    fs.add(a("max_msg_size"), read=lambda: f"{card.maxmsgsize}\n")


_RESET_TEXT = {SMState.RESET_START: "Reset in progress.\n", SMState.RESET_WAIT: "Reset in progress.\n",
               SMState.WORKING: "Reset Timer armed.\n", SMState.QUEUE_FULL: "Reset Timer armed.\n"}


def add_queue_attrs(bus: APBus, q: QueueDevice) -> None:
    """Create the AP bus attributes of a queue device (ap_queue.c)."""
    fs = bus.sysfs
    a = q.attr

    def request_count_show() -> str:
        if q.dev_state > DevState.UNINITIATED:
            return f"{q.request_count()}\n"
        return "-\n"

    def request_count_store(_text: str) -> None:
        q.reset_request_count()

    def interrupt_show() -> str:
        if q.sm_state == SMState.SETIRQ_WAIT:
            return "Enable Interrupt pending.\n"
        res = bus.cpu.tapq(q.apqn)
        return "Interrupts enabled.\n" if res.irq_enabled else "Interrupts disabled.\n"

    def ap_functions_show() -> str:
        path = a("ap_functions")
        try:
            res = bus.cpu.tapq(q.apqn, t=bus.apft)
        except ProgramException as e:
            raise SysfsError(errno.EIO, path, f"TAPQ failed: {e}") from None
        if res.rc > 0x05:
            raise SysfsError(errno.EIO, path, f"TAPQ answered response code 0x{res.rc:02x}")
        return f"0x{hwinfo_fac(res.gr2 or 0):08X}\n"

    fs.add(a("request_count"), read=request_count_show, write=request_count_store)
    fs.add(a("requestq_count"),
           read=lambda: f"{q.requestq_count if q.dev_state > DevState.UNINITIATED else 0}\n")
    fs.add(a("pendingq_count"),
           read=lambda: f"{q.in_flight() if q.dev_state > DevState.UNINITIATED else 0}\n")
    fs.add(a("reset"), read=lambda: _RESET_TEXT.get(q.sm_state, "No Reset Timer set.\n"),
           write=lambda _text: bus.queue_reset_store(q))
    fs.add(a("interrupt"), read=interrupt_show)
    fs.add(a("config"), read=lambda: f"{1 if q.config else 0}\n")
    fs.add(a("chkstop"), read=lambda: f"{1 if q.chkstop else 0}\n")
    fs.add(a("ap_functions"), read=ap_functions_show)
