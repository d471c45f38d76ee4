"""The Kubernetes CEX device plugin (ibm-s390-cloud/k8s-cex-dev-plugin) on a Linux host.

The plugin reads the ConfigMap's crypto config sets and the host's AP sysfs and
offers, per set, ``overcommit`` plugin devices ``apqn-<adapter>-<domain>-<i>``
(decimal) for every APQN of the set that the node has, in the node's scan order
(cards and their queues in name order, as Go's ``os.ReadDir`` lists them). An APQN
definition with a ``machineid`` only matches the node of that id; one below the
set's ``mincexgen`` is not announced; ``cexmode`` is not checked by the plugin. A
device is healthy while its queue is online. The scan fails as a whole when a card
has no ``CEX<n><A|C|P>`` type or a queue has no ``online`` attribute (a queue bound
to vfio_ap), and the plugin then announces nothing: a node must not mix the plugin
with vfio-ap pass-through of the same cards' queues.

Allocation: a container asks for one device of its set. The plugin states no
preference (``GetPreferredAllocation`` returns nothing), so the kubelet takes any
free healthy device; apsim draws it uniformly from a seeded stream. A container
that finds none waits (Pending) and gets the next device released, first come
first served. The plugin maps a zcrypt device node restricted to that adapter and
domain into the container: the container is a zcrypt user of exactly one APQN.

Metrics (the plugin's collector, per set): ``plugindevs_available`` (its devices),
``plugindevs_used`` (those allocated) and ``request_counter`` (the sum over the
set's APQNs of ``request_count`` now minus when the APQN was first seen).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["APQNDef", "CryptoConfigSet", "CexPlugin", "PluginDevice", "OVERCOMMIT_RANGE"]

OVERCOMMIT_RANGE = (1, 100)
"""APQN_OVERCOMMIT_LIMIT's range."""

_CARD_TYPE = re.compile(r"CEX([0-9]+)([ACP])")
_MODES = {"A": "accel", "C": "cca", "P": "ep11"}
DEVICES = "/sys/devices/ap"


@dataclass(frozen=True)
class APQNDef:
    """An APQN of a config set; ``machineid`` '' matches every node."""

    adapter: int
    domain: int
    machineid: str = ""


@dataclass(frozen=True)
class CryptoConfigSet:
    """One ``cryptoconfigsets`` entry of ``cex_resources.json``."""

    setname: str
    project: str
    cexmode: str = ""
    mincexgen: str = ""
    overcommit: int = 0
    apqns: tuple[APQNDef, ...] = ()


@dataclass(frozen=True)
class _ScannedAPQN:
    adapter: int
    domain: int
    gen: int
    mode: str
    online: bool


@dataclass
class PluginDevice:
    """A plugin device of a set, and the container using it."""

    id: str
    adapter: int
    domain: int
    healthy: bool
    user: str | None = None


@dataclass
class _SetState:
    spec: CryptoConfigSet
    devices: list[PluginDevice] = field(default_factory=list)
    """The devices announced by the last scan."""
    orphans: dict[str, PluginDevice] = field(default_factory=dict)
    """Devices no longer announced that a running container still holds."""
    start_counts: dict[tuple[int, int], int] = field(default_factory=dict)


class CexPlugin:
    """The plugin and the kubelet's allocation on one host (``host``: an apsim Linux)."""

    def __init__(self, host: Any, sets: list[CryptoConfigSet], *, machineid: str,
                 overcommit_limit: int, rng: Any) -> None:
        self.host = host
        self.machineid = machineid
        self.overcommit_limit = overcommit_limit
        self.rng = rng
        self.sets = {s.setname: _SetState(s) for s in sets}
        self.error: str | None = None
        self.scans = 0
        self.gauges: dict[str, dict[str, int]] | None = None  # of the last poll; None before it
        self.polled_at: int | None = None

    # --- the AP scan ----------------------------------------------------------------------
    def _read(self, path: str) -> str | None:
        fs = self.host.sysfs
        try:
            return fs.read(path).strip() if fs.exists(path) else None
        except OSError:
            return None

    def _scan(self) -> list[_ScannedAPQN]:
        fs = self.host.sysfs
        out: list[_ScannedAPQN] = []
        cards = sorted(n for n in fs.listdir(DEVICES) if re.fullmatch(r"card[0-9a-f]{2}", n)) \
            if fs.is_dir(DEVICES) else []
        for card in cards:
            ctype = self._read(f"{DEVICES}/{card}/type") or ""
            m = _CARD_TYPE.search(ctype)
            if m is None:
                raise LookupError(f"card {card[4:]} has no CEX<n><A|C|P> type ({ctype or 'no type attribute'})")
            for q in sorted(n for n in fs.listdir(f"{DEVICES}/{card}") if re.fullmatch(r"[0-9a-f]{2}\.[0-9a-f]{4}", n)):
                online = self._read(f"{DEVICES}/{card}/{q}/online")
                if online is None:
                    raise LookupError(f"queue {q} has no online attribute (it is not bound to the zcrypt "
                                      f"driver, e.g. it is bound to vfio_ap)")
                out.append(_ScannedAPQN(int(q[:2], 16), int(q[3:], 16), int(m.group(1)),
                                        _MODES[m.group(2)], online.startswith("1")))
        return out

    def request_count(self, adapter: int, domain: int) -> int:
        """The queue's ``request_count`` as the plugin parses it (0 when unreadable)."""
        text = self._read(f"{DEVICES}/card{adapter:02x}/{adapter:02x}.{domain:04x}/request_count") or ""
        m = re.match(r"\d+", text)
        return int(m.group(0)) if m else 0

    def scan(self) -> None:
        """Start or rescan: derive every set's devices from the node's APQNs."""
        self.scans += 1
        try:
            scanned = self._scan()
        except LookupError as e:
            self.error = f"AP scan failed: {e}"
            for st in self.sets.values():
                self._replace(st, [])
            return
        self.error = None
        for st in self.sets.values():
            self._replace(st, self._devices(st.spec, scanned))
            # The collector forgets APQNs that left the set and notes the count of new ones.
            keys = {(d.adapter, d.domain) for d in st.devices}
            st.start_counts = {k: v for k, v in st.start_counts.items() if k in keys}
            for key in sorted(keys - set(st.start_counts)):
                st.start_counts[key] = self.request_count(*key)

    def _devices(self, s: CryptoConfigSet, scanned: list[_ScannedAPQN]) -> list[PluginDevice]:
        n = s.overcommit if s.overcommit > 0 else self.overcommit_limit
        mingen = int(s.mincexgen[3:]) if s.mincexgen else 0
        out = []
        for a in scanned:
            for d in s.apqns:
                if (a.adapter, a.domain) != (d.adapter, d.domain):
                    continue
                if d.machineid and d.machineid != self.machineid:
                    continue
                if a.gen < mingen:
                    continue
                out += [PluginDevice(f"apqn-{a.adapter}-{a.domain}-{i}", a.adapter, a.domain, a.online)
                        for i in range(n)]
        return out

    @staticmethod
    def _replace(st: _SetState, devices: list[PluginDevice]) -> None:
        held = {d.id: d for d in [*st.devices, *st.orphans.values()] if d.user is not None}
        for d in devices:
            old = held.pop(d.id, None)
            d.user = old.user if old is not None else None
        # A running container keeps its zcrypt node even when its device is withdrawn.
        st.devices = devices
        st.orphans = held

    # --- the kubelet ------------------------------------------------------------------------
    def allocate(self, setname: str, container: str) -> PluginDevice | None:
        """Give *container* a free healthy device of *setname* (None: none free)."""
        st = self.sets.get(setname)
        if st is None:
            return None
        free = [d for d in st.devices if d.user is None and d.healthy]
        if not free:
            return None
        d = free[int(self.rng.integers(len(free)))]
        d.user = container
        return d

    def release(self, setname: str, device_id: str) -> None:
        """The container using *device_id* ended."""
        st = self.sets[setname]
        st.orphans.pop(device_id, None)
        for d in st.devices:
            if d.id == device_id:
                d.user = None

    def poll(self, now_ns: int) -> None:
        """The metrics collector's poll: read the counts, publish the per-set gauges.

        As the plugin does, an APQN whose start count is 0 takes the current count as
        its start (so requests made before its first poll are not counted).
        """
        for st in self.sets.values():
            for key in sorted(st.start_counts):
                if st.start_counts[key] == 0:
                    st.start_counts[key] = self.request_count(*key)
        self.gauges = self.metrics()
        self.polled_at = now_ns

    def metrics(self) -> dict[str, dict[str, int]]:
        """Per set: cex_plugin_plugindevs_available, _used and _request_counter, now."""
        out = {}
        for name in sorted(self.sets):
            st = self.sets[name]
            out[name] = {
                "cex_plugin_plugindevs_available": len(st.devices),
                "cex_plugin_plugindevs_used": sum(1 for d in st.devices if d.user is not None),
                "cex_plugin_request_counter": sum(self.request_count(*k) - v
                                                  for k, v in sorted(st.start_counts.items())),
            }
        return out
