"""The machine (CEC): installed adapters, LPARs, the Support Element and SCLP.

An LPAR's activation profile assigns adapters (online or standby), usage domains
and control domains; the LPAR's :class:`~apsim.engine.config.APConfiguration` is what
its QCI returns. A usage domain of an adapter belongs to at most one LPAR, so each
physical AP queue has one owner, while all LPARs share the adapter's engines.

Operations that change the configuration — configure an adapter on/off from the
SE, change an LPAR's cryptographic controls, the SCLP configure/deconfigure AP
commands, checkstop — act on the hardware at once and then tell the LPAR through
the channel-subsystem event (CHSC store-event-information, NT0 content code 3,
reporting source 5) after ``chsc_event_ns``, as firmware does; the host's AP bus
listens for it (:meth:`LPAR.add_config_listener`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import simpy

from apsim.engine.core import Streams, call_at
from apsim.errors import ConfigError
from apsim.engine.adapter import Adapter
from apsim.hw.cards import CardSpec
from apsim.engine.config import APConfiguration, Facilities
from apsim.engine.request import Ledger
from apsim.ids import MAX_ID, format_card
from apsim.masks import Mask

# SCLP (de)configure AP command words; the APID goes in bits 8-15.
SCLP_CMD_CONFIGURE_AP = 0x001F0001
SCLP_CMD_DECONFIGURE_AP = 0x001E0001
# SCCB response codes. The kernel takes 0x0020, 0x0120, 0x0440 and 0x0450 as success.
SCCB_NORMAL_COMPLETION = 0x0020
SCCB_ALREADY_IN_STATE = 0x0120
SCCB_INVALID_RESOURCE = 0x09F0
SCLP_SUCCESS_CODES = frozenset({0x0020, 0x0120, 0x0440, 0x0450})

CHSC_NT0_CC_AP_CHANGE = 3
CHSC_NT0_RS_AP_CHANGE = 5


@dataclass(frozen=True)
class Model:
    """A machine model: its QCI maxima Na/Nd when APXA is installed."""

    name: str
    max_adapter_id: int
    max_domain_id: int


MODELS: dict[str, Model] = {
    # Na/Nd per model are modelling defaults (85 domains on large models is
    # documented by IBM; the adapter maximum is architectural): override per scenario.
    "z13": Model("z13", 255, 84),
    "z14": Model("z14", 255, 84),
    "z15": Model("z15", 255, 84),
    "z16": Model("z16", 255, 84),
    "z17": Model("z17", 255, 84),
}


def get_model(name: str) -> Model:
    """Look up a machine model by name (``z13`` … ``z17``)."""
    try:
        return MODELS[name.lower()]
    except KeyError:
        raise ConfigError(f"unknown machine model {name!r} (one of {', '.join(MODELS)})") from None


class HardwareOpRefused(ConfigError):
    """An SE/SCLP operation the machine refuses (the outcome names the rule)."""


class LPAR:
    """A logical partition with its crypto activation profile and AP configuration."""

    def __init__(self, machine: Machine, name: str, *, facilities: Facilities | None = None) -> None:
        self.machine = machine
        self.name = name
        self.candidates: set[int] = set()  # adapters assigned to the LPAR (online or standby)
        self.online: set[int] = set()
        self.usage_domains: set[int] = set()
        self.control_domains: set[int] = set()
        self.config = APConfiguration(f"lpar:{name}", self, na=machine.max_adapter_id,
                                      nd=machine.max_domain_id, apxa=machine.apxa,
                                      facilities=facilities)
        self._listeners: list[Callable[[str], None]] = []
        self.queues: dict[int, object] = {}  # APQN -> APQueue for this LPAR's configuration

    # --- views -------------------------------------------------------------------------
    def queue(self, apqn: int):  # noqa: ANN201
        """The physical queue for an APQN of this LPAR's configuration, or None."""
        return self.queues.get(apqn)

    def add_config_listener(self, fn: Callable[[str], None]) -> None:
        """Register for the CHSC AP-configuration-change event (argument: what changed)."""
        self._listeners.append(fn)

    def _notify(self, what: str) -> None:
        m = self.machine
        delay = m.chsc_event_ns + (m.faults.event_delay("host") if m.faults is not None else 0)
        for fn in list(self._listeners):
            call_at(m.env, delay, lambda ev, fn=fn: fn(ev.value), what)

    def _rebuild(self) -> None:
        """Recompute QCI masks and the queue map after a profile change."""
        m = self.machine
        self.config.set_masks(Mask.from_ids(self.candidates), Mask.from_ids(self.usage_domains),
                              Mask.from_ids(self.control_domains))
        queues = {}
        for apid in sorted(self.candidates):
            ad = m.adapters[apid]
            for apqi in sorted(self.usage_domains):
                q = ad.queue(apqi, self)
                if q.owner_lpar is None:
                    q.owner_lpar = self
                if q.owner_lpar is not self:
                    raise ConfigError(
                        f"usage domain {apqi} of adapter {apid} already belongs to LPAR "
                        f"{q.owner_lpar.name}: a usage domain of an adapter can serve one LPAR")
                q.set_config_rc(self._rc_for(apid), "configure_off")
                queues[q.apqn] = q
        # Queues that left the configuration lose their requests.
        for apqn, q in self.queues.items():
            if apqn not in queues:
                q.set_config_rc(0, "lpar_crypto_change")
                q.flush("lpar_crypto_change")
                q.owner_lpar = None
        self.queues = queues
        if m.faults is not None:  # queue faults cover the queues a change brings in, too
            m.faults.rehook(queues.values())

    def _rc_for(self, apid: int) -> int:
        if self.machine.adapters[apid].checkstopped:
            return 4
        return 0 if apid in self.online else 3

    def is_online(self, apid: int) -> bool:
        """Whether the adapter is configured on (not standby) for this LPAR."""
        return apid in self.online

    def __repr__(self) -> str:
        return f"LPAR({self.name!r})"


class Machine:
    """The CEC: adapters, LPARs, SE and SCLP operations, and the shared ledger."""

    def __init__(self, env: simpy.Environment, *, model: str = "z15", apxa: bool = True,
                 max_adapter_id: int | None = None, max_domain_id: int | None = None,
                 seed: int = 0, profile=None, arbitration: str = "fifo",  # noqa: ANN001
                 chsc_event_ns: int = 100_000) -> None:
        from apsim.hw.timing import get_profile

        self.env = env
        self.model = get_model(model)
        self.apxa = apxa
        self.max_adapter_id = self.model.max_adapter_id if max_adapter_id is None else max_adapter_id
        self.max_domain_id = self.model.max_domain_id if max_domain_id is None else max_domain_id
        for what, v in (("max_adapter_id", self.max_adapter_id), ("max_domain_id", self.max_domain_id)):
            if not 0 <= v <= MAX_ID:
                raise ConfigError(f"{what} {v} is out of range 0..{MAX_ID}")
        self.streams = Streams(seed)
        self.profile = profile if profile is not None else get_profile("default")
        self.arbitration = arbitration
        self.chsc_event_ns = chsc_event_ns
        self.ledger = Ledger()
        self.adapters: dict[int, Adapter] = {}
        self.lpars: dict[str, LPAR] = {}
        self.events: list[tuple[int, str, str]] = []  # (time, operation, outcome) for reports
        # GISA origin -> interruption target, registered by KVM for each guest, so a
        # host AQIC issued on a guest's behalf can route adapter interruptions to it.
        self.gisas: dict[int, object] = {}
        self.faults = None  # apsim.hw.faults.FaultTable once a fault is injected

    # --- building ------------------------------------------------------------------------
    def install_adapter(self, apid: int, spec: CardSpec) -> Adapter:
        """Install a Crypto Express adapter at *apid*."""
        from apsim.hw.sampler import ServiceSampler

        if not 0 <= apid <= MAX_ID:
            raise ConfigError(f"adapter id {apid} is out of range 0..{MAX_ID}")
        if apid in self.adapters:
            raise ConfigError(f"adapter {apid} is installed twice")
        sampler = ServiceSampler(spec, self.profile, self.streams.get(f"service.{format_card(apid)}"))
        ad = Adapter(self.env, apid, spec, sampler, self.ledger, arbitration=self.arbitration,
                     reset_ns=self.profile.reset_ns)
        self.adapters[apid] = ad
        return ad

    def add_lpar(self, name: str, *, adapters: Iterable[int] = (), standby: Iterable[int] = (),
                 usage_domains: Iterable[int] = (), control_domains: Iterable[int] = (),
                 facilities: Facilities | None = None) -> LPAR:
        """Activate an LPAR with its crypto activation profile."""
        if name in self.lpars:
            raise ConfigError(f"LPAR {name!r} defined twice")
        lp = LPAR(self, name, facilities=facilities)
        online, standby = set(adapters), set(standby)
        both = online & standby
        if both:
            raise ConfigError(f"adapters {sorted(both)} are listed both online and standby")
        for apid in online | standby:
            if apid not in self.adapters:
                raise ConfigError(f"LPAR {name!r}: adapter {apid} is not installed in the machine")
        self._check_ids(usage_domains, "usage domain")
        self._check_ids(control_domains, "control domain")
        lp.candidates = online | standby
        lp.online = online
        lp.usage_domains = set(usage_domains)
        lp.control_domains = set(control_domains)
        self.lpars[name] = lp
        lp._rebuild()
        return lp

    def _check_ids(self, ids: Iterable[int], what: str) -> None:
        for d in ids:
            if not 0 <= d <= self.max_domain_id:
                raise ConfigError(f"{what} {d} is out of range 0..{self.max_domain_id} "
                                  f"(the machine's max_domain_id)")

    def lpar(self, name: str) -> LPAR:
        """An LPAR by name."""
        try:
            return self.lpars[name]
        except KeyError:
            raise ConfigError(f"no LPAR named {name!r}") from None

    def _record(self, op: str, outcome: str) -> None:
        self.events.append((self.env.now, op, outcome))

    # --- Support Element -------------------------------------------------------------------
    def se_configure(self, lpar: LPAR, apids: Iterable[int], on: bool) -> list[int]:
        """SE "configure on/off" of adapters for an LPAR; returns the APIDs that changed.

        Configuring off sets the adapter to standby for that LPAR: its queues answer
        0x03 and every request they held is dropped with cause ``configure_off``.
        """
        apids = list(apids)
        for apid in apids:
            if apid not in lpar.candidates:
                raise HardwareOpRefused(
                    f"adapter {apid} is not assigned to LPAR {lpar.name} "
                    f"(change the LPAR's cryptographic controls first)")
        changed = []
        for apid in apids:
            if (apid in lpar.online) == on:
                continue
            (lpar.online.add if on else lpar.online.discard)(apid)
            rc = lpar._rc_for(apid)
            for q in lpar.queues.values():
                if q.apid == apid:
                    q.set_config_rc(rc, "configure_off")
            changed.append(apid)
        self._record(f"se.configure_{'on' if on else 'off'} {apids}", "ok")
        if changed:
            lpar._notify("configure")
        return changed

    def se_change_lpar_crypto(self, lpar: LPAR, *, add_adapters: Iterable[int] = (),
                              remove_adapters: Iterable[int] = (), add_usage_domains: Iterable[int] = (),
                              remove_usage_domains: Iterable[int] = (),
                              add_control_domains: Iterable[int] = (),
                              remove_control_domains: Iterable[int] = ()) -> None:
        """SE "Change LPAR Cryptographic Controls".

        As on the real SE, the LPAR's online adapters must be configured off first;
        otherwise the change is refused. Added adapters come in standby.
        """
        if lpar.online:
            raise HardwareOpRefused(
                f"LPAR {lpar.name} has online adapters {sorted(lpar.online)}: configure them off "
                f"before changing the LPAR's cryptographic controls")
        add_a, rem_a = set(add_adapters), set(remove_adapters)
        for apid in add_a | rem_a:
            if apid not in self.adapters:
                raise HardwareOpRefused(f"adapter {apid} is not installed in the machine")
        self._check_ids(list(add_usage_domains) + list(remove_usage_domains), "usage domain")
        self._check_ids(list(add_control_domains) + list(remove_control_domains), "control domain")
        saved = (set(lpar.candidates), set(lpar.usage_domains), set(lpar.control_domains))
        lpar.candidates = (lpar.candidates | add_a) - rem_a
        lpar.usage_domains = (lpar.usage_domains | set(add_usage_domains)) - set(remove_usage_domains)
        lpar.control_domains = ((lpar.control_domains | set(add_control_domains))
                                - set(remove_control_domains))
        try:
            lpar._rebuild()
        except ConfigError as e:
            lpar.candidates, lpar.usage_domains, lpar.control_domains = saved
            lpar._rebuild()
            raise HardwareOpRefused(str(e)) from None
        self._record("se.change_lpar_crypto", "ok")
        lpar._notify("lpar_crypto")

    # --- SCLP --------------------------------------------------------------------------------
    def sclp_command(self, lpar: LPAR, command: int) -> int:
        """Execute an SCLP (de)configure-AP command word; returns the SCCB response code."""
        base = command & 0xFFFF00FF
        apid = (command >> 8) & 0xFF
        if base not in (SCLP_CMD_CONFIGURE_AP, SCLP_CMD_DECONFIGURE_AP):
            raise ValueError(f"not an SCLP AP command word: {command:#010x}")
        if apid not in lpar.candidates:
            self._record(f"sclp {command:#010x}", f"sccb {SCCB_INVALID_RESOURCE:#06x}")
            return SCCB_INVALID_RESOURCE
        on = base == SCLP_CMD_CONFIGURE_AP
        injected = self.faults.sclp_response("configure" if on else "deconfigure", apid) \
            if self.faults is not None else None
        if injected is not None:
            self._record(f"sclp {command:#010x}", f"sccb {injected:#06x} (injected)")
            return injected
        if (apid in lpar.online) == on:
            self._record(f"sclp {command:#010x}", f"sccb {SCCB_ALREADY_IN_STATE:#06x}")
            return SCCB_ALREADY_IN_STATE
        self.se_configure(lpar, [apid], on)
        self._record(f"sclp {command:#010x}", f"sccb {SCCB_NORMAL_COMPLETION:#06x}")
        return SCCB_NORMAL_COMPLETION

    # --- faults ------------------------------------------------------------------------------
    def checkstop(self, apid: int, on: bool = True) -> int:
        """Checkstop an adapter (or recover it); returns the number of requests dropped."""
        if apid not in self.adapters:
            raise HardwareOpRefused(f"adapter {apid} is not installed in the machine")
        ad = self.adapters[apid]
        rcs = {lp: (0 if apid in lp.online else 3) for lp in self.lpars.values()}
        dropped = ad.set_checkstop(on, rcs)
        self._record(f"{'checkstop' if on else 'clear'} {apid}", f"{dropped} dropped")
        for lp in self.lpars.values():
            if apid in lp.candidates:
                lp._notify("checkstop")
        return dropped

    def set_busy(self, apid: int, duration_ns: int) -> None:
        """Make every queue of the adapter answer BUSY (0x05) for *duration_ns*."""
        self.adapters[apid].busy_until = self.env.now + duration_ns

    # --- accounting ---------------------------------------------------------------------------
    def live_requests(self) -> int:
        """Requests held by all queues (for the ledger's balance check)."""
        return sum(q.live_count() for ad in self.adapters.values() for q in ad.queues.values())
