"""Run a scenario: build it, drive its timeline, check its expectations, collect results.

Each timeline action runs at its time (ties in file order) against the real
components — the machine's SE and SCLP operations, a Linux's virtual sysfs, a
guest's SIE executor — and its outcome (``ok``, an errno name, a response code, a
program exception) goes into the report's timeline. Actions with an ``expect`` /
``expect_errno`` (and every sysfs write that must succeed) become expectations with
``passed: true|false``. At the end the request ledger must balance against the
requests still held by the queues; if it does not, the run fails loudly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apsim.engine.core import call_at
from apsim.errors import AccountingError, ApsimError, ProgramException, SysfsError
from apsim.engine.codes import rc_name
from apsim.hw.machine import (SCLP_CMD_CONFIGURE_AP, SCLP_CMD_DECONFIGURE_AP, SCLP_SUCCESS_CODES,
                              HardwareOpRefused)
from apsim.engine.request import Ledger
from apsim.ids import format_apqn
from apsim.linux.mdevctl import MdevctlError
from apsim.linux.queue_sm import AIRQ_LSI_ADDR
from apsim.engine.recorder import RequestRecorder, Timeline, TimelineEntry
from apsim.scenario.build import Simulation, build, start_guest
from apsim.scenario.expect import expect_lines
from apsim.scenario.expect import expect_outcome as _expect
from apsim.scenario.fault_actions import do_fault_inject, is_setup_fault
from apsim.scenario.instruction_regs import execute as execute_instruction
from apsim.scenario.instruction_regs import observed as instruction_observed
from apsim.scenario.kvm_actions import do_kvm_masks
from apsim.scenario.qemu_actions import do_qemu
from apsim.scenario.vfio_actions import do_qemu_log, do_vfio
from apsim.scenario.schema import Scenario
from apsim.scenario.warmup import boot_windows, default_warmup
from apsim.units import format_duration


@dataclass
class RunResult:
    """What a run produced, for the report layer."""

    scenario: Scenario
    seed: int
    mode: str
    sim_time_ns: int
    recorder: RequestRecorder
    ledger: Ledger
    timeline: Timeline
    adapters: dict[int, dict[str, Any]]
    apqn_occupancy: dict[int, float]
    kernel_log: list[str]
    expectations_passed: bool
    guests: dict[str, dict[str, Any]] = field(default_factory=dict)
    sim: Simulation | None = None
    replications: dict[str, Any] | None = None
    bulk: dict[str, Any] | None = None  # what the bulk mode did (mode: bulk only)
    cex_plugin: dict[str, Any] | None = None  # the k8s CEX plugin's summary (cex_plugin: only)
    warmup_excluded: str | None = None  # what the warm-up left out of the statistics, in words


# --- actions ------------------------------------------------------------------------------------
def _lpar(sim: Simulation, name: str | None):  # noqa: ANN202
    return sim.lpar if name is None else sim.machine.lpar(name)


def _do_se(sim: Simulation, a, entry: TimelineEntry) -> None:  # noqa: ANN001
    lpar = _lpar(sim, getattr(a, "lpar", None))
    try:
        if a.do == "se.change_lpar_crypto":
            sim.machine.se_change_lpar_crypto(
                lpar, add_adapters=a.add_adapters, remove_adapters=a.remove_adapters,
                add_usage_domains=a.add_usage_domains, remove_usage_domains=a.remove_usage_domains,
                add_control_domains=a.add_control_domains, remove_control_domains=a.remove_control_domains)
        else:
            sim.machine.se_configure(lpar, a.adapters, a.do == "se.configure_on")
    except HardwareOpRefused as e:
        entry.outcome = "refused"
        entry.detail = str(e)
    if getattr(a, "expect", None) is not None:
        _expect(entry, a.expect, entry.outcome)


def _do_sclp(sim: Simulation, a, entry: TimelineEntry) -> None:  # noqa: ANN001
    lpar = _lpar(sim, getattr(a, "lpar", None))
    base = SCLP_CMD_CONFIGURE_AP if a.do == "sclp.configure_ap" else SCLP_CMD_DECONFIGURE_AP
    code = sim.machine.sclp_command(lpar, base | ((a.adapter & 0xFF) << 8))
    entry.outcome = "ok" if code in SCLP_SUCCESS_CODES else "EIO"
    entry.detail = f"SCCB response {code:#06x}"


def _do_sysfs(sim: Simulation, a, entry: TimelineEntry) -> None:  # noqa: ANN001
    try:
        linux = sim.linux_of(a.guest)
        if a.do == "sysfs.write":
            linux.write(a.path, a.value)
            actual: Any = "ok"
        else:
            actual = linux.read(a.path)
            entry.detail = actual
    except SysfsError as e:
        entry.outcome = e.errno_name
        entry.detail = e.rule
        actual = e.errno_name
    if a.expect_errno is not None:
        _expect(entry, a.expect_errno, entry.outcome)
    elif a.do == "sysfs.write":
        _expect(entry, "ok", entry.outcome)
    elif a.expect is not None:
        _expect(entry, a.expect, actual)


def _do_instruction(sim: Simulation, a, entry: TimelineEntry) -> None:  # noqa: ANN001
    g = sim.guests[a.guest]
    if not g.running or g.cpu is None:
        entry.outcome = "guest not running"
        if a.expect is not None:
            _expect(entry, a.expect.model_dump(exclude_none=True), {"error": "guest not running"})
        return
    if a.op == "NQAP":
        sim._psmid = getattr(sim, "_psmid", 0) + 1  # type: ignore[attr-defined]
    try:
        r = execute_instruction(g.cpu, a, psmid=(0xFFFF << 48) | getattr(sim, "_psmid", 0),
                                # Only a request makes the guest an owner in the report's per-guest table.
                                owner=sim.recorder.owner_index(g.name) if a.op == "NQAP" else -1,
                                nib_default=AIRQ_LSI_ADDR)
        entry.outcome = "ok" if r.rc == 0 else rc_name(r.rc, dqap=a.op == "DQAP")
        entry.detail = f"cc={r.cc} rc={r.rc:#04x}"
        if a.expect is not None:
            _expect(entry, *instruction_observed(r, a.expect.model_dump(exclude_none=True)))
    except ProgramException as e:
        entry.outcome = f"{e.kind} exception"
        entry.detail = e.reason
        if a.expect is not None:
            want = a.expect.model_dump(exclude_none=True)
            _expect(entry, want, {k: {"exception": e.kind}.get(k) for k in want})


def _lszcrypt_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("CARD.DOM") or set(line.strip()) == {"-"}:
            continue
        if line.startswith(("Warning:", "lszcrypt:")):
            continue  # the trailing default-domain warning, or "no devices" messages
        rows.append(line.split())
    return rows


def _do_lszcrypt(sim: Simulation, a, entry: TimelineEntry) -> None:  # noqa: ANN001
    if a.do == "guest.lszcrypt":
        g = sim.guests[a.guest]
        text = g.lszcrypt(verbose=a.verbose)
    else:
        text = sim.host.lszcrypt(verbose=a.verbose)
    entry.detail = text
    if a.expect is None:
        return
    got_rows = _lszcrypt_rows(text)
    want_rows = [r.split() for r in a.expect]
    ok = len(got_rows) == len(want_rows) and all(
        g[: len(w)] == w for g, w in zip(got_rows, want_rows))
    entry.expected = list(a.expect)
    entry.actual = [" ".join(r[: max(len(w) for w in want_rows) if want_rows else 0]) for r in got_rows]
    entry.passed = ok


def _do_guest(sim: Simulation, a, entry: TimelineEntry) -> None:  # noqa: ANN001
    if a.do == "guest.start":
        entry.outcome = start_guest(sim, a.guest)
    elif a.do == "guest.stop":
        sim.guests[a.guest].stop()
    else:
        sim.guests[a.guest].reset()


def _do_fault(sim: Simulation, a, entry: TimelineEntry) -> None:  # noqa: ANN001
    try:
        n = sim.machine.checkstop(a.adapter, on=a.do == "fault.checkstop")
        entry.detail = f"{n} requests dropped"
    except HardwareOpRefused as e:
        entry.outcome = "refused"
        entry.detail = str(e)


def _do_mdevctl(sim: Simulation, a, entry: TimelineEntry) -> None:  # noqa: ANN001
    tool = sim.mdevctl["host" if a.guest is None else f"guests.{a.guest}"]
    try:
        (tool.start if a.do == "mdevctl.start" else tool.stop)(a.uuid)
        got = "ok"
    except MdevctlError as e:
        got = "refused"
        entry.outcome = e.errno_name or "refused"
        entry.detail = "; ".join(e.reasons)
    _expect(entry, a.expect or "ok", got)


def _do_log(sim: Simulation, a, entry: TimelineEntry) -> None:  # noqa: ANN001
    """host.dmesg / guest.dmesg / uevents: regular expressions against the lines, in order."""
    linux = sim.linux_of(getattr(a, "guest", None))
    if a.do == "uevents":
        lines = [f"{path} {env}" for _, path, env in (linux.bus.uevents if linux.bus is not None else [])]
    else:
        lines = linux.klog.lines(include_dbf=a.dbf)
    entry.detail = f"{len(lines)} lines"
    expect_lines(entry, lines, a.expect, a.absent)


_HANDLERS = {
    "se.configure_on": _do_se, "se.configure_off": _do_se, "se.change_lpar_crypto": _do_se,
    "sclp.configure_ap": _do_sclp, "sclp.deconfigure_ap": _do_sclp,
    "sysfs.write": _do_sysfs, "sysfs.read": _do_sysfs,
    "guest.start": _do_guest, "guest.stop": _do_guest, "guest.reset": _do_guest,
    "guest.instruction": _do_instruction, "guest.lszcrypt": _do_lszcrypt, "host.lszcrypt": _do_lszcrypt,
    "fault.checkstop": _do_fault, "fault.clear": _do_fault,
    "mdevctl.start": _do_mdevctl, "mdevctl.stop": _do_mdevctl,
    "qemu.device_add": do_qemu, "qemu.device_del": do_qemu, "qemu.migrate": do_qemu,
    "kvm.masks": do_kvm_masks, "qemu.log": do_qemu_log,
    "vfio.open": do_vfio, "vfio.get_info": do_vfio, "vfio.get_irq_info": do_vfio, "vfio.set_irqs": do_vfio,
    "vfio.reset": do_vfio, "vfio.ioctl": do_vfio,
    "host.dmesg": _do_log, "guest.dmesg": _do_log, "uevents": _do_log,
    "fault.inject": do_fault_inject,
}


def run_action(sim: Simulation, a) -> TimelineEntry:  # noqa: ANN001
    """Run one timeline action now; its outcome goes into the timeline and is returned
    (also used by apsim mount's .apsim/action and by apsim check-isolation)."""
    entry = TimelineEntry(at_ns=sim.env.now, do=a.do, args=a.operands(), line=a.line)
    try:
        guest = getattr(a, "guest", None)
        if guest is not None and guest not in sim.guests:
            # A nested guest exists once its parent's Linux has booted.
            raise GuestNotStarted(f"guest {guest} does not exist yet: its parent's Linux has not booted")
        _HANDLERS[a.do](sim, a, entry)
    except ApsimError as e:  # a refused operation is an outcome, not a crash
        entry.outcome = type(e).__name__
        entry.detail = str(e)
        if entry.expected is not None or getattr(a, "expect", None) is not None:
            entry.passed = False
    sim.timeline.add(entry)
    return entry


class GuestNotStarted(ApsimError):
    """An action names a nested guest before its parent's Linux booted (so it has no QEMU yet)."""


def schedule_timeline(sim: Simulation) -> None:
    """Schedule every action at its time; same-time actions keep file order."""
    for a in sim.scenario.ordered_timeline():
        if is_setup_fault(a):
            continue  # armed by build() before the host booted
        call_at(sim.env, a.at, lambda ev, a=a: run_action(sim, a))


# --- the run ----------------------------------------------------------------------------------------
def _progress_ticks(sim: Simulation, until: int, progress) -> None:  # noqa: ANN001
    step = max(1, until // 200)

    def tick(ev) -> None:  # noqa: ANN001
        progress.update(sim.env.now, until)
        if sim.env.now + step <= until:
            call_at(sim.env, step, tick)

    call_at(sim.env, 0, tick)


def run_scenario(scenario: Scenario, *, seed: int | None = None, until_ns: int | None = None,
                 mode: str | None = None, progress=None) -> RunResult:  # noqa: ANN001
    """Run one replication of *scenario* and return its results."""
    sim = build(scenario, seed=seed)
    schedule_timeline(sim)
    until = scenario.duration if until_ns is None else until_ns
    if progress is not None:
        _progress_ticks(sim, until, progress)
    mode = mode or scenario.mode
    bulk = None
    if mode == "bulk":
        bulk = _run_bulk(sim, until)
    else:
        sim.env.run(until=until)
    result = collect(sim, "bulk" if bulk and bulk["bulk_requests"] else "full")
    if bulk is not None:
        result.bulk = bulk
    return result


def _run_bulk(sim: Simulation, until: int) -> dict[str, Any]:
    """Bulk mode: vectorized stretches where the semantics allow, the event engine elsewhere.

    Guests boot with the event engine; then :func:`apsim.bulk.window.run_window`
    advances the rest, computing stationary open-loop stretches with recursions
    and handing back to events for admin actions, congestion and anything it
    cannot reproduce exactly (its reasons are reported). The sample path is the
    one the full mode produces.
    """
    from apsim.bulk.window import applicable, run_window

    starts = [ref.spec.start for ref in sim.scenario.walk_guests()]
    boot = min(until, (max(starts) if starts else 0) + 1)
    sim.env.run(until=max(1, boot))
    wls = [g.workload for g in sim.guests.values() if g.workload is not None] + sim.other_workloads
    if sim.host_workload is not None:
        wls.append(sim.host_workload)
    reason = applicable(wls) if wls else "no workloads"
    if not wls:
        sim.env.run(until=until)
        return {"bulk_requests": 0, "bulk_us": 0.0, "event_us": until / 1000, "stretches": 0,
                "fallbacks": {"no workloads": 1}}
    stats = run_window(sim.env, wls, until)
    fallbacks = dict(sorted(stats.fallbacks.items()))
    if reason and not fallbacks:
        fallbacks[reason] = 1
    return {"bulk_requests": int(stats.bulk_requests), "bulk_us": stats.bulk_ns / 1000,
            "event_us": stats.event_ns / 1000, "stretches": int(stats.stretches), "fallbacks": fallbacks}


def collect(sim: Simulation, mode: str) -> RunResult:
    """Gather the results of a finished run (and check the books)."""
    m = sim.machine
    live = m.live_requests()
    m.ledger.check(live)
    excluded = default_warmup(sim)
    if m.ledger.in_flight != live:
        raise AccountingError(f"ledger in flight {m.ledger.in_flight} != {live} requests held")
    now = sim.env.now
    adapters = {
        apid: {"type": ad.spec.type_name, "engines": ad.spec.engines,
               "utilization": ad.utilization(now), "completed": ad.completed}
        for apid, ad in sorted(m.adapters.items())
    }
    occupancy = {q.apqn: q.mean_occupancy(now) for ad in m.adapters.values() for q in ad.queues.values()
                 if q.nqap_count}
    klog = [f"[{t / 1e9:12.6f}] {line}" for t, line in _klog_lines(sim)]
    passed = all(e.passed is not False for e in sim.timeline.entries)
    guests = {}
    for name, g in sim.guests.items():
        wl = g.workload
        guests[name] = {
            "running": g.running,
            "apqns": [format_apqn(q) for q in (wl.targets if wl else [])],
            "foreign_replies": len(wl.foreign_replies) if wl else 0,
            "ready_ns": sim.ready_ns.get(name),
            "boot_excluded": boot_windows(sim, name),
            "books": _books(wl) if wl is not None else None,
            "last_events": sim.last_events.get(name, []),
            "last_rejections": [{"rc": f"0x{rc:02x} {rc_name(rc)}", "apqn": format_apqn(q),
                                 "at": format_duration(t)} for t, q, rc in wl.last_rejections] if wl else [],
            # APQNs the guest's driver used and has stopped using (retired until a rescan)
            "retired": sorted(format_apqn(q) for q in set(wl.ever_targeted) - set(wl.targets)) if wl else [],
        }
    plugin = sim.cex_plugin.summary() if sim.cex_plugin is not None else None  # type: ignore[attr-defined]
    result = RunResult(sim.scenario, sim.seed, mode, now, sim.recorder, m.ledger, sim.timeline, adapters,
                       occupancy, klog, passed, guests, sim, cex_plugin=plugin)
    result.warmup_excluded = excluded
    return result


def _books(wl) -> dict[str, int]:  # noqa: ANN001
    """A workload's own books: created = completed + rejected + dropped + in_flight + backlog."""
    backlog = wl.in_software_queues()
    books = {"created": wl.seq, "completed": wl.completed, "rejected": wl.rejected, "dropped": wl.dropped,
             "in_flight": wl.live - backlog, "backlog": backlog}
    if books["in_flight"] < 0:
        raise AccountingError(f"workload books do not balance: {books}")
    return books


def _klog_lines(sim: Simulation) -> list[tuple[int, str]]:
    """Kernel log lines of the host and of every guest's Linux (dmesg form), by time."""
    out = []
    for who, linux in [("host", sim.host), *sim.hosts.items()]:
        if linux is None:
            continue
        for e in linux.klog.entries:
            if e.level == "dbf":
                continue
            out.append((e.time_ns, e.text if who == "host" else f"{who}: {e.text}"))
    out.sort(key=lambda x: x[0])
    return out


def lszcrypt_at(scenario: Scenario, at_ns: int, guest: str | None = None, verbose: bool = False,
                view: str | None = None, device: str | None = None) -> str:
    """Run *scenario* up to *at_ns* and return lszcrypt of the host or of a guest.

    *view* picks another listing: ``bus`` (``-b``), ``domains`` (``-d``),
    ``capability`` (``-c DEVICE``) or ``serial`` (``-s``).
    """
    from apsim.linux import lszcrypt

    sim = build(scenario)
    schedule_timeline(sim)
    sim.env.run(until=max(1, at_ns))
    if guest is not None and guest not in sim.guests:
        raise ApsimError(f"no guest named {guest!r}")
    if view is None:
        return sim.host.lszcrypt(verbose=verbose) if guest is None else sim.guests[guest].lszcrypt(verbose=verbose)
    linux = sim.host if guest is None else sim.guests[guest].linux
    if linux is None:
        raise ApsimError(f"guest {guest} is not running at {at_ns / 1e6:g} ms")
    if view == "capability":
        return lszcrypt.render_capability(linux, device or "")
    return {"bus": lszcrypt.render_bus, "domains": lszcrypt.render_domains,
            "serial": lszcrypt.render_serial}[view](linux)


# --- replications ----------------------------------------------------------------------------------
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042, 60: 2.000, 120: 1.980}


def t95(df: int) -> float:
    """Two-sided 95% Student-t quantile (table lookup; 1.96 beyond 120 degrees of freedom)."""
    if df <= 0:
        return float("nan")
    keys = [k for k in _T95 if k <= df]
    return _T95[max(keys)] if df <= 120 else 1.96


def replication_seeds(seed: int, n: int) -> list[int]:
    """The seeds of *n* replications: the scenario's seed, then seed+1, seed+2, ..."""
    return [seed + i for i in range(n)]


def summarize_replications(results: list[RunResult]) -> dict[str, Any]:
    """Per-replication key figures and their mean with a 95% confidence half-width."""
    import numpy as np

    rows = []
    for r in results:
        cols = r.recorder.arrays()
        lat = (cols["t_deq"] - cols["t_submit"]) / 1000.0
        span = max(1, r.sim_time_ns - r.recorder.warmup_ns) / 1e9
        rows.append({
            "seed": int(r.seed), "completed": int(lat.size),
            "throughput_rps": float(lat.size / span),
            "mean_us": float(lat.mean()) if lat.size else None,
            "p50_us": float(np.percentile(lat, 50)) if lat.size else None,
            "p99_us": float(np.percentile(lat, 99)) if lat.size else None,
            "dropped": int(sum(r.ledger.dropped.values())),
            "expectations_passed": bool(r.expectations_passed),
        })
    agg: dict[str, Any] = {}
    n = len(rows)
    for key in ("throughput_rps", "mean_us", "p50_us", "p99_us"):
        vals = np.array([row[key] for row in rows if row[key] is not None], dtype=float)
        if vals.size:
            half = t95(vals.size - 1) * vals.std(ddof=1) / np.sqrt(vals.size) if vals.size > 1 else None
            agg[key] = {"mean": float(vals.mean()), "ci95_half_width": None if half is None else float(half)}
    return {"count": n, "runs": rows, "aggregate": agg}
