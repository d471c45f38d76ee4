"""The k8s CEX device plugin and its containers in a running simulation.

Once the host's zcrypt queues are out of their boot-time reset, the plugin
registers: it scans the host's sysfs and derives its devices (a container that starts
earlier waits, Pending, as a pod asking for a resource nobody offers yet); it rescans every ``check_interval`` and its metrics collector polls
every ``metrics_poll``. Each container asks the kubelet for a device of its set when
it starts; with one it runs its workload as a zcrypt user of that APQN on the host
LPAR (:class:`apsim.guest.container.ContainerPort`), without one it waits (Pending)
for the next device a stopping container releases. Every allocation, wait and
release is a timeline entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apsim.engine.core import call_at
from apsim.guest.container import ContainerPort, ZcryptMux
from apsim.engine.workload import Workload
from apsim.linux.cexplugin import CexPlugin
from apsim.linux.devices import SMState
from apsim.engine.recorder import TimelineEntry
from apsim.scenario.schema import CexContainerSpec

if TYPE_CHECKING:
    from apsim.scenario.build import Simulation

__all__ = ["CexPluginRun", "ContainerState"]

_READY = (SMState.IDLE, SMState.WORKING, SMState.QUEUE_FULL)


@dataclass
class ContainerState:
    """One container: its set, the device it got, its state and its workload."""

    name: str
    spec: CexContainerSpec
    status: str = "created"
    """created, pending, running or stopped."""
    device: str | None = None
    apqn: int | None = None
    workload: Workload | None = None
    waited_ns: int = 0
    _pending_since: int | None = field(default=None, repr=False)


class CexPluginRun:
    """The plugin, the kubelet's allocations and the containers of one simulation."""

    def __init__(self, sim: Simulation) -> None:
        cp = sim.scenario.cex_plugin
        assert cp is not None
        self.sim = sim
        self.spec = cp
        self.plugin = CexPlugin(sim.host, cp.sets(), machineid=cp.machineid,
                                overcommit_limit=cp.overcommit_limit,
                                rng=sim.machine.streams.get("cex_plugin.kubelet"))
        self.mux = ZcryptMux(sim.machine, sim.lpar.config)
        self.containers: dict[str, ContainerState] = {}
        self.pending: dict[str, list[str]] = {}
        self.early: list[str] = []  # containers started before the plugin registered
        self.started = False
        self._waiting = False
        for c in cp.containers:
            for name in c.container_names():
                self.containers[name] = ContainerState(name, c)
                sim.recorder.owner_index(name)  # every container gets a report row

    def start(self) -> None:
        """Schedule the plugin's start, rescans, polls and the containers."""
        env = self.sim.env
        call_at(env, 0, lambda ev: self._when_node_ready())
        for st in self.containers.values():
            call_at(env, st.spec.start, lambda ev, n=st.name: self._container_start(n))
            if st.spec.stop is not None:
                call_at(env, st.spec.stop, lambda ev, n=st.name: self._container_stop(n))

    # --- the plugin -------------------------------------------------------------------------
    def _entry(self, do: str, args: dict[str, Any], outcome: str = "ok", detail: str = "") -> None:
        e = TimelineEntry(at_ns=self.sim.env.now, do=do, args=args, outcome=outcome, detail=detail)
        self.sim.timeline.add(e)

    def _when_node_ready(self) -> None:
        """The plugin registers once the host's zcrypt queues are out of their reset."""
        bus = self.sim.host.bus
        if bus is None or all(q.sm_state in _READY for q in bus.sorted_queues()
                              if q.driver is not None and q.driver.name == "cex4queue"):
            self._plugin_start()
            return
        if not self._waiting:
            self._waiting = True
            bus.ready_listeners.append(lambda q: self._when_node_ready() if not self.started else None)

    def _plugin_start(self) -> None:
        self.started = True
        self.plugin.scan()
        devs = {n: len(s.devices) for n, s in sorted(self.plugin.sets.items())}
        self._entry("cex_plugin.start", {"devices": devs}, "failed" if self.plugin.error else "ok",
                    self.plugin.error or "")
        call_at(self.sim.env, self.spec.check_interval, lambda ev: self._rescan())
        call_at(self.sim.env, self.spec.metrics_poll, lambda ev: self._poll())
        early, self.early = self.early, []
        for name in early:  # pods that asked before the plugin registered
            self._container_start(name)

    def _rescan(self) -> None:
        self.plugin.scan()
        self._serve_pending()
        call_at(self.sim.env, self.spec.check_interval, lambda ev: self._rescan())

    def _poll(self) -> None:
        self.plugin.poll(self.sim.env.now)
        call_at(self.sim.env, self.spec.metrics_poll, lambda ev: self._poll())

    # --- the containers ---------------------------------------------------------------------
    def _container_start(self, name: str) -> None:
        st = self.containers[name]
        if not self.started:
            # The resource does not exist yet: the pod waits for the plugin to register.
            if st._pending_since is None:
                st.status, st._pending_since = "pending", self.sim.env.now
            self.early.append(name)
            self._entry("cex_plugin.allocate", {"container": name, "setname": st.spec.setname},
                        "pending", "the plugin has not registered its resources yet")
            return
        if not self._allocate(st):
            st.status = "pending"
            if st._pending_since is None:
                st._pending_since = self.sim.env.now
            self.pending.setdefault(st.spec.setname, []).append(name)
            self._entry("cex_plugin.allocate", {"container": name, "setname": st.spec.setname},
                        "pending", "no free healthy plugin device in the set")

    def _allocate(self, st: ContainerState) -> bool:
        dev = self.plugin.allocate(st.spec.setname, st.name)
        if dev is None:
            return False
        sim = self.sim
        st.device, st.apqn, st.status = dev.id, dev.adapter << 8 | dev.domain, "running"
        if st._pending_since is not None:
            st.waited_ns = sim.env.now - st._pending_since
            st._pending_since = None
        port = ContainerPort(self.mux, st.apqn, name=st.name, poll=sim.scenario.host.poll)
        wl = Workload(port, st.spec.workload.to_runtime(), sim.recorder, sim.recorder.owner_index(st.name),
                      sim.machine.streams.get(f"workload.{st.name}"))
        self.mux.bind(port, wl)
        sim.lpar.add_config_listener(lambda what, wl=wl: wl.refresh_targets())
        bus = sim.host.bus
        if bus is not None:
            # As zcrypt holds requests while a queue resets, the load resumes once the
            # host's queue is ready again (and after every AP bus scan).
            bus.ready_listeners.append(lambda q, wl=wl: wl.refresh_targets() if wl.running else None)
            bus.scan_listeners.append(lambda wl=wl: wl.refresh_targets() if wl.running else None)
        st.workload = wl
        wl.start()
        self._entry("cex_plugin.allocate", {"container": st.name, "setname": st.spec.setname,
                                            "device": dev.id, "apqn": f"{dev.adapter:02x}.{dev.domain:04x}"})
        return True

    def _container_stop(self, name: str) -> None:
        st = self.containers[name]
        if st.status == "pending":
            if name in self.early:
                self.early.remove(name)
            else:
                self.pending[st.spec.setname].remove(name)
            st.waited_ns = self.sim.env.now - (st._pending_since or 0)
            st._pending_since = None
        if st.workload is not None:
            st.workload.stop()
        if st.device is not None:
            self.plugin.release(st.spec.setname, st.device)
            self._entry("cex_plugin.release", {"container": name, "device": st.device})
        st.status = "stopped"
        self._serve_pending()

    def _serve_pending(self) -> None:
        for setname, names in self.pending.items():
            while names and self._allocate(self.containers[names[0]]):
                names.pop(0)

    # --- results ----------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """What the report shows: the plugin, its gauges, the containers (JSON-ready)."""
        p = self.plugin
        now = self.sim.env.now
        return {
            "error": p.error,
            "scans": p.scans,
            "polled_at_ns": p.polled_at,
            "gauges": p.gauges,
            "now": p.metrics(),
            "containers": {
                n: {"setname": st.spec.setname, "status": st.status, "device": st.device,
                    "apqn": None if st.apqn is None else f"{st.apqn >> 8:02x}.{st.apqn & 0xFF:04x}",
                    "waited_us": (st.waited_ns if st._pending_since is None else now - st._pending_since) / 1000}
                for n, st in self.containers.items()},
        }
