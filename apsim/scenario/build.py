"""Build a running simulation from a validated scenario.

Turns the scenario's machine, LPARs, host, mdevs and guests into apsim objects on
one SimPy environment, in the order a real system comes up: the machine and its
LPARs, the host's Linux (AP bus initial scan, vfio_ap), the host's apmask/aqmask
writes, the mdevs (create, then assign in file order), then the guests at their
start times (a guest that is itself a KVM host applies its own masks and mdevs once
it has booted, then starts its own guests). Every sysfs write made while building
is recorded as an expectation that must succeed.
"""

from __future__ import annotations

import errno as _errno
from dataclasses import dataclass, field

import simpy

from apsim.engine.core import call_at, new_env
from apsim.errors import ApsimError, SysfsError, ValidityIntercept
from apsim.guest.guest import Guest
from apsim.guest.qemu import parse_qemu_version
from apsim.engine.port import LparPort
from apsim.guest.host_port import HostPort
from apsim.guest.request_timer import RequestTimer
from apsim.engine.workload import Workload
from apsim.engine.workload_spec import WorkloadSpec
from apsim.hw.timing import request_type
from apsim.engine.instructions import Executor
from apsim.hw.machine import LPAR, Machine
from apsim.ids import format_apqn
from apsim.kvm import CpuFeatures
from apsim.linux.host import Host
from apsim.linux.mdevctl import Definition, Mdevctl
from apsim.engine.recorder import RequestRecorder, Timeline, TimelineEntry
from apsim.scenario.fault_actions import arm_at_setup
from apsim.scenario.expect import expect_outcome
from apsim.scenario.hypervisor_specs import zvm_facilities
from apsim.scenario.nested_specs import validity_outcome
from apsim.scenario.schema import GuestSpec, HostSpec, MdevSpec, Scenario
from apsim.units import format_duration

MDEV_TYPE = "/sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create"
MATRIX = "/sys/devices/vfio_ap/matrix"


@dataclass
class Simulation:
    """Everything one run of a scenario is made of."""

    scenario: Scenario
    seed: int
    env: simpy.Environment
    machine: Machine
    lpar: LPAR
    host: Host
    recorder: RequestRecorder
    timeline: Timeline
    guests: dict[str, Guest] = field(default_factory=dict)
    hosts: dict[str, Host] = field(default_factory=dict)  # guest name -> its Linux
    other_workloads: list[Workload] = field(default_factory=list)
    host_workload: Workload | None = None  # processes on the host Linux (host.workload)
    mdevctl: dict[str, Mdevctl] = field(default_factory=dict)  # "host" or "guests.NAME" -> mdevctl
    cex_plugin: object | None = None  # apsim.scenario.containers.CexPluginRun
    ready_ns: dict[str, int] = field(default_factory=dict)  # guest -> first queue ready in its AP bus
    # guest -> one [start, ready or None] (ns) per start: each boot's window for the warm-up
    boots: dict[str, list[list[int | None]]] = field(default_factory=dict)
    last_events: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # guest -> last drops

    def linux_of(self, guest: str | None) -> Host:
        """The Linux a sysfs action addresses: the host's, or a guest's own."""
        if guest is None:
            return self.host
        g = self.guests[guest]
        if g.linux is None:
            what = "has not booted yet (QEMU's queue reset and its boot time)" if g.running else "is not running"
            raise SysfsError(_errno.ENOENT, "/sys", f"guest {guest} {what}")
        return g.linux


def _watch_device_requests(sim: Simulation, linux: Host, owner: str | None) -> None:
    """Put each device request of *linux*'s vfio_ap (an open mdev being removed) in the
    timeline as ``vfio.device_request`` (owner: the guest whose Linux it is, None for the host)."""
    if linux.vfio is None:
        return

    def seen(uuid: str, count: int, how: str, holder: str | None, still_open: bool) -> None:
        args: dict[str, object] = {"mdev": uuid, "count": count, **({"guest": owner} if owner else {})}
        entry = TimelineEntry(at_ns=sim.env.now, do="vfio.device_request", args=args, outcome=how)
        entry.detail = (f"held by guest {holder}: " if holder else "") + (
            "still open, the removal waits for the release" if still_open else "released, the mdev is removed")
        sim.timeline.add(entry)

    linux.vfio.request_listeners.append(seen)


def _write(sim: Simulation, linux: Host, path: str, value: str, *, what: str, line: int | None) -> bool:
    """A build-time sysfs write that must succeed; recorded as an expectation."""
    entry = TimelineEntry(at_ns=sim.env.now, do="sysfs.write",
                          args={"path": path, "value": value, "setup": what}, line=line,
                          expected="ok")
    try:
        linux.write(path, value)
        entry.actual = "ok"
        entry.passed = True
    except SysfsError as e:
        entry.outcome = e.errno_name
        entry.detail = e.rule
        entry.actual = e.errno_name
        entry.passed = False
    sim.timeline.add(entry)
    return bool(entry.passed)


def apply_host_spec(sim: Simulation, linux: Host, spec: HostSpec | None, mdevs: list[MdevSpec],
                    where: str) -> None:
    """Write apmask/aqmask and create + assign the mdevs on one Linux."""
    if spec is not None:
        if spec.apmask is not None:
            _write(sim, linux, "/sys/bus/ap/apmask", spec.apmask + "\n", what=f"{where}.apmask", line=None)
        if spec.aqmask is not None:
            _write(sim, linux, "/sys/bus/ap/aqmask", spec.aqmask + "\n", what=f"{where}.aqmask", line=None)
    tool = Mdevctl(linux)
    sim.mdevctl[where] = tool
    for i, m in enumerate(mdevs):
        w = f"{where}.mdevs[{i}]"
        if m.start is not None:
            tool.define(Definition(uuid=m.uuid, start=m.start, attrs=tuple(m.writes())))
            continue
        if not _write(sim, linux, MDEV_TYPE, m.uuid + "\n", what=w, line=None):
            continue
        for attr, text in m.writes():
            _write(sim, linux, f"{MATRIX}/{m.uuid}/{attr}", text, what=w, line=None)
    for uuid, err in tool.boot():
        entry = TimelineEntry(at_ns=sim.env.now, do="mdevctl.start",
                              args={"uuid": uuid, "setup": f"{where} boot"}, expected="ok")
        entry.actual = "ok" if err is None else "refused"
        entry.passed = err is None
        if err is not None:
            entry.outcome = "refused"
            entry.detail = "; ".join(err.reasons)
        sim.timeline.add(entry)


def _cpu_features(spec: GuestSpec) -> CpuFeatures:
    c = spec.cpu
    return CpuFeatures(ap=c.ap, apft=c.apft, apqci=c.apqci, apqi=c.apqi, msax3=c.msax3)


def build(scenario: Scenario, *, seed: int | None = None) -> Simulation:
    """Create the simulation of *scenario* at time 0 (guests start at their times)."""
    seed = scenario.seed if seed is None else seed
    env = new_env()
    ms = scenario.machine
    profile = scenario.timing_profile()
    machine = Machine(env, model=ms.model, apxa=ms.apxa, max_adapter_id=ms.max_adapter_id,
                      max_domain_id=ms.max_domain_id, seed=seed, profile=profile,
                      arbitration=ms.arbitration)
    for a in ms.adapters:
        machine.install_adapter(a.id, a.card_spec())
    lp = scenario.lpar
    hs = scenario.host
    # A z/VM host sees the LPAR's queues with the facilities z/VM simulates.
    lpar = machine.add_lpar(lp.name, adapters=lp.adapters, standby=lp.standby,
                            usage_domains=lp.usage_domains, control_domains=lp.control_domains or [],
                            facilities=zvm_facilities(hs.zvm) if hs.hypervisor == "zvm" else None)
    recorder = RequestRecorder(warmup_ns=scenario.warmup)
    sim_timeline = Timeline(arm_at_setup(machine, scenario.timeline))
    config_time_s = max(5, min(120, round(hs.config_time / 1e9)))
    host = Host(env, machine, Executor(machine, lpar.config), name="host",
                config_time_s=config_time_s, kernel=scenario.kernel_profile(), cmdline=hs.cmdline,
                zvm=hs.hypervisor == "zvm")
    sim = Simulation(scenario, seed, env, machine, lpar, host, recorder, sim_timeline)
    _watch_device_requests(sim, host, None)
    machine.ledger.drop_listeners.append(lambda req, cause: _dropped(sim, req, cause))
    for other in scenario.other_lpars:
        olp = machine.add_lpar(other.name, adapters=other.adapters, usage_domains=other.usage_domains,
                               control_domains=other.control_domains or [])
        if other.workload is not None:
            port = LparPort(machine, olp.config, name=other.name, poll=hs.poll)
            wl = Workload(port, other.workload.to_runtime(), recorder, recorder.owner_index(other.name),
                          machine.streams.get(f"workload.{other.name}"))
            olp.add_config_listener(lambda what, wl=wl: wl.refresh_targets())
            sim.other_workloads.append(wl)
            wl.start()
    apply_host_spec(sim, host, hs, scenario.mdevs, "host")
    if hs.workload is not None and host.bus is not None:
        _start_host_workload(sim, hs.workload.to_runtime())
    if scenario.cex_plugin is not None:
        from apsim.scenario.containers import CexPluginRun

        sim.cex_plugin = CexPluginRun(sim)
        sim.cex_plugin.start()
    for ref in scenario.walk_guests():
        if ref.depth == 1:
            _plan_guest(sim, ref.spec, parent_host=host, parent_ctx=lpar.config)
    return sim


def _start_host_workload(sim: Simulation, spec: WorkloadSpec) -> None:
    """Processes on the host Linux sending requests through its own zcrypt."""
    host = sim.host
    if spec.reply == "interrupt" and not host.bus.irq_flag:
        spec = WorkloadSpec(**{**spec.__dict__, "reply": "poll"})  # ap_interrupts 0: zcrypt polls
    longest = max(spec.length or request_type(n).msg_len for n in spec.mix)
    port = HostPort(sim.machine, host, length=longest)
    wl = Workload(port, spec, sim.recorder, sim.recorder.owner_index(host.name),
                  sim.machine.streams.get(f"workload.{host.name}"))
    # The bus's scans and finished resets change which queues zcrypt may use.
    host.bus.scan_listeners.append(wl.refresh_targets)
    host.bus.ready_listeners.append(lambda q: wl.refresh_targets())
    if sim.scenario.mode == "full":
        # The bulk mode's computed stretches do not report each send and reply, so the
        # timers would run on stale deadlines there.
        wl.request_timer = RequestTimer(wl, host)
    sim.host_workload = wl
    wl.start()


def _plan_guest(sim: Simulation, spec: GuestSpec, *, parent_host: Host, parent_ctx: object) -> Guest:
    """Create a guest and schedule its start (and stop)."""
    g = Guest(sim.env, sim.machine, parent_host, parent_ctx, name=spec.name, mdev=spec.mdev,
              cpu=_cpu_features(spec), vcpus=spec.vcpus,
              workload=spec.workload.to_runtime() if spec.workload is not None else None,
              recorder=sim.recorder, kernel=sim.scenario.kernel_profile(),
              qemu=parse_qemu_version(sim.scenario.qemu),
              cmdline=spec.host.cmdline if spec.host is not None else "",
              config_time_s=max(5, min(120, round(sim.scenario.host.config_time / 1e9))),
              secure=spec.secure,
              crycb=(spec.crycb.address, spec.crycb.format_bits()) if spec.crycb else (None, None),
              boot_ns=spec.boot)
    g.boot_listeners.append(lambda g: _booted(sim, spec.name))
    sim.guests[spec.name] = g
    now = sim.env.now  # nested guests are planned when their parent starts
    call_at(sim.env, max(0, spec.start - now), lambda ev: start_guest(sim, spec.name, at_setup=True))
    if spec.stop is not None:
        call_at(sim.env, max(0, spec.stop - now), lambda ev: sim.guests[spec.name].stop())
    return g


def _dropped(sim: Simulation, req, cause: str) -> None:  # noqa: ANN001
    """Keep each owner's last three request endings for the stall report."""
    owners = sim.recorder.owners
    if 0 <= req.owner < len(owners) and req.apqn is not None and req.apqn >= 0:
        ev = sim.last_events.setdefault(owners[req.owner], [])
        ev.append({"cause": cause, "apqn": format_apqn(req.apqn), "at": format_duration(sim.env.now)})
        del ev[:-3]


def _ready(sim: Simulation, name: str, boot: list[int | None]) -> None:
    """A boot's first AP queue is ready: the guest's first request is possible from now on."""
    if boot[1] is not None:
        return
    boot[1] = sim.env.now
    sim.ready_ns.setdefault(name, sim.env.now)
    sim.timeline.add(TimelineEntry(at_ns=sim.env.now, do="guest.ready", args={"guest": name}))


def start_guest(sim: Simulation, name: str, *, at_setup: bool = False) -> str:
    """Start a guest (and, once it runs, its own host setup and nested guests); returns the outcome."""
    g = sim.guests[name]
    spec = sim.scenario.guest(name)
    entry = TimelineEntry(at_ns=sim.env.now, do="guest.start", args={"guest": name, "setup": at_setup})
    try:
        g.start()
    except ApsimError as e:
        entry.outcome = (validity_outcome(e.code) if isinstance(e, ValidityIntercept)
                         else getattr(e, "errno_name", type(e).__name__))
        entry.detail = str(e)
        if at_setup:
            expect_outcome(entry, spec.crycb.expected_outcome() if spec.crycb else "ok", entry.outcome)
        sim.timeline.add(entry)
        return entry.outcome
    if at_setup:
        if spec.crycb is not None and spec.crycb.expect_validity is not None:
            expect_outcome(entry, spec.crycb.expected_outcome(), "ok")
        sim.timeline.add(entry)
    return "ok"


def _booted(sim: Simulation, name: str) -> None:
    """A guest's Linux came up (after QEMU's reset and its boot time): its own host setup
    and nested guests, and the watch for its first ready queue."""
    g = sim.guests[name]
    spec = sim.scenario.guest(name)
    sim.hosts[name] = g.linux
    # The boot window runs from the guest's start (QEMU's open and machine reset come
    # first, apsim.guest.boot), not from now, when its Linux came up.
    started = next((t for t, what in reversed(g.events) if what == "start"), sim.env.now)
    boot: list[int | None] = [started, None]
    sim.boots.setdefault(name, []).append(boot)
    if g.linux is not None and g.linux.bus is not None:
        g.linux.bus.ready_listeners.append(lambda q, name=name, boot=boot: _ready(sim, name, boot))
    if g.linux is not None:
        _watch_device_requests(sim, g.linux, name)
    if g.linux is not None and g.linux.vfio is not None and (spec.host or spec.mdevs or spec.guests):
        apply_host_spec(sim, g.linux, spec.host, spec.mdevs, f"guests.{name}")
        for child in spec.guests:
            cg = _plan_guest(sim, child, parent_host=g.linux, parent_ctx=g.kvm)
            g.children.append(cg)
