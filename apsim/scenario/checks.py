"""Cross-reference checks of a scenario whose shapes are already valid.

Each check yields ``(loc, rule)`` where ``loc`` is the path of the offending key
in the scenario (``("guests", 0, "mdev")``), so the loader can point at its line.
The rules: names and UUIDs are unique (guest names across all nesting levels),
a guest's ``mdev`` names an mdev of its own level, the timeline names existing
guests and LPARs, ids are installed adapters or within the machine's maxima,
times lie within ``duration``, each usage domain of an adapter belongs to one LPAR,
and every request type of a workload can run on some installed adapter; setup
conflicts vfio_ap would refuse are in :mod:`apsim.scenario.setup_checks`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from apsim.hw.timing import supports
from apsim.scenario.actions import (FaultCheckstop, FaultClear, FaultInject, MdevctlStart, MdevctlStop,
                                    SclpConfigureAp, SclpDeconfigureAp, SeChangeLparCrypto, SeConfigureOff,
                                    SeConfigureOn)
from apsim.scenario.secure_checks import check_secure
from apsim.scenario.setup_checks import check_setup
from apsim.units import format_duration

if TYPE_CHECKING:
    from apsim.scenario.schema import MachineSpec, MdevSpec, Scenario, WorkloadConfig

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]

__all__ = ["check_scenario", "format_loc", "Problem"]


def format_loc(loc: Iterable[str | int]) -> str:
    """``("guests", 0, "mdev")`` → ``guests[0].mdev``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def check_scenario(sc: Scenario) -> list[Problem]:
    """Every cross-reference problem of *sc*, in file order."""
    return list(_check(sc))


def _dups(ids: list[int], loc: Loc, what: str) -> Iterator[Problem]:
    seen: set[int] = set()
    for i, v in enumerate(ids):
        if v in seen:
            yield (*loc, i), f"{what} {v} (0x{v:02x}) is listed twice"
        seen.add(v)


def _max(ids: list[int], loc: Loc, limit: int, what: str, key: str) -> Iterator[Problem]:
    for i, v in enumerate(ids):
        if v > limit:
            yield (*loc, i), (f"{what} {v} (0x{v:02x}) is above the machine's {key} {limit} "
                              f"(0x{limit:02x})")


def _installed(ids: list[int], loc: Loc, m: MachineSpec) -> Iterator[Problem]:
    installed = {a.id for a in m.adapters}
    for i, v in enumerate(ids):
        if v not in installed:
            yield (*loc, i), (f"adapter {v} (0x{v:02x}) is not installed in the machine "
                              f"(machine.adapters has {sorted(installed) or 'none'})")


def _time(t: int | None, loc: Loc, sc: Scenario) -> Iterator[Problem]:
    if t is not None and t > sc.duration:
        yield loc, (f"{format_duration(t)} is after the end of the run "
                    f"(duration {format_duration(sc.duration)})")


def _check(sc: Scenario) -> Iterator[Problem]:
    m = sc.machine
    if sc.duration <= 0:
        yield ("duration",), "duration must be more than 0"
    if sc.warmup >= sc.duration > 0:
        yield ("warmup",), (f"warmup {format_duration(sc.warmup)} must end before the run does "
                            f"(duration {format_duration(sc.duration)})")
    yield from _check_machine(m)
    yield from _check_zvm(sc)
    yield from _check_lpars(sc)
    yield from _check_levels(sc)
    yield from check_setup(sc)
    yield from _check_timeline(sc)
    if sc.cex_plugin is not None:
        yield from _check_cex_plugin(sc)


def _check_machine(m: MachineSpec) -> Iterator[Problem]:
    seen: set[int] = set()
    for i, a in enumerate(m.adapters):
        if a.id in seen:
            yield ("machine", "adapters", i, "id"), f"adapter {a.id} (0x{a.id:02x}) is installed twice"
        seen.add(a.id)
        if a.id > m.na:
            yield ("machine", "adapters", i, "id"), (
                f"adapter id {a.id} (0x{a.id:02x}) is above the machine's max_adapter_id {m.na}")


def _check_zvm(sc: Scenario) -> Iterator[Problem]:
    hs = sc.host
    if hs.zvm is not None and hs.hypervisor != "zvm":
        yield ("host", "zvm"), "host.zvm describes z/VM's facilities: it needs host.hypervisor: zvm"
    if hs.hypervisor == "zvm":
        if "poll" in hs.model_fields_set and hs.poll != "zvm":
            yield ("host", "poll"), ("under z/VM the AP bus polls at z/VM's rate (ap_module_init, "
                                     "MACHINE_IS_VM); write /sys/bus/ap/poll_timeout to change it")
        for i, _ in enumerate(sc.guests):
            yield ("guests", i), ("KVM cannot run in a z/VM guest: z/VM offers it no SIE (kvm_s390_init: "
                                  "\"SIE is not available\"), so vfio_ap's mdevs have no guest to go to")
    if hs.workload is not None:
        yield from _check_workload(hs.workload, ("host", "workload"), sc.machine)
    for ref in sc.walk_guests():
        g = ref.spec
        if g.host is not None and g.host.workload is not None:
            yield (*ref.loc, "host", "workload"), (f"guest {g.name}'s own requests are its workload: "
                                                   f"write guests[].workload, not host.workload")
        if g.host is not None and g.host.hypervisor != "lpar":
            yield (*ref.loc, "host", "hypervisor"), (f"guest {g.name}'s Linux runs under KVM, not z/VM "
                                                     f"(hypervisor: zvm is for the scenario's host)")


def _check_lpars(sc: Scenario) -> Iterator[Problem]:
    m = sc.machine
    lp = sc.lpar
    for key in ("adapters", "standby"):
        ids = getattr(lp, key)
        yield from _installed(ids, ("lpar", key), m)
        yield from _dups(ids, ("lpar", key), "adapter")
    for i, a in enumerate(lp.standby):
        if a in lp.adapters:
            yield ("lpar", "standby", i), f"adapter {a} is listed both in adapters and standby"
    for key in ("usage_domains", "control_domains"):
        ids = getattr(lp, key) or []
        yield from _max(ids, ("lpar", key), m.nd, "domain", "max_domain_id")
        yield from _dups(ids, ("lpar", key), "domain")
    # usage domain index -> owner, per adapter: PR/SM gives each usage domain of an
    # adapter to one LPAR only.
    owner: dict[tuple[int, int], str] = {}
    for a in [*lp.adapters, *lp.standby]:
        for d in lp.usage_domains:
            owner[(a, d)] = lp.name
    names = {lp.name}
    for i, o in enumerate(sc.other_lpars):
        base: Loc = ("other_lpars", i)
        if o.name in names:
            yield (*base, "name"), f"LPAR name {o.name!r} is used twice"
        names.add(o.name)
        yield from _installed(o.adapters, (*base, "adapters"), m)
        yield from _dups(o.adapters, (*base, "adapters"), "adapter")
        for key in ("usage_domains", "control_domains"):
            ids = getattr(o, key) or []
            yield from _max(ids, (*base, key), m.nd, "domain", "max_domain_id")
            yield from _dups(ids, (*base, key), "domain")
        for j, d in enumerate(o.usage_domains):
            for a in o.adapters:
                other = owner.get((a, d))
                if other is not None and other != o.name:
                    yield (*base, "usage_domains", j), (
                        f"usage domain {d} (0x{d:02x}) of adapter {a} already belongs to LPAR "
                        f"{other!r} (a usage domain of an adapter belongs to one LPAR)")
                    break
                owner[(a, d)] = o.name
        if o.workload is not None:
            yield from _check_workload(o.workload, (*base, "workload"), m)


def _check_mdevs(mdevs: list[MdevSpec], loc: Loc, m: MachineSpec,
                 uuids: dict[str, str]) -> Iterator[Problem]:
    for i, md in enumerate(mdevs):
        base = (*loc, "mdevs", i)
        where = format_loc(base)
        if md.uuid in uuids:
            yield (*base, "uuid"), f"mdev {md.uuid} is defined twice (also at {uuids[md.uuid]})"
        uuids.setdefault(md.uuid, where)
        yield from _max(md.assign_adapter, (*base, "assign_adapter"), m.na, "adapter",
                        "max_adapter_id")
        yield from _dups(md.assign_adapter, (*base, "assign_adapter"), "adapter")
        for key in ("assign_domain", "assign_control_domain"):
            ids = getattr(md, key)
            yield from _max(ids, (*base, key), m.nd, "domain", "max_domain_id")
            yield from _dups(ids, (*base, key), "domain")


def _check_workload(w: WorkloadConfig, loc: Loc, m: MachineSpec) -> Iterator[Problem]:
    if w.kind == "none":
        return
    cards = [a.card_spec() for a in m.adapters]
    for name in w.mix:
        if not any(supports(c, name) for c in cards):
            yield (*loc, "mix", name), (
                f"no installed adapter can run {name} requests "
                f"(adapters: {', '.join(a.type_name for a in m.adapters) or 'none'})")


def _check_levels(sc: Scenario) -> Iterator[Problem]:
    m = sc.machine
    uuids: dict[str, str] = {}
    yield from _check_mdevs(sc.mdevs, (), m, uuids)
    names: dict[str, str] = {}
    for ref in sc.walk_guests():
        g, loc = ref.spec, ref.loc
        if g.name in names:
            yield (*loc, "name"), f"guest name {g.name!r} is used twice (also at {names[g.name]}); " \
                                  f"guest names are unique across all levels"
        names.setdefault(g.name, format_loc(loc))
        level_mdevs = sc.mdevs if ref.parent is None else ref.parent.mdevs
        if g.mdev is not None and all(md.uuid != g.mdev for md in level_mdevs):
            where = "the scenario's mdevs" if ref.parent is None else f"guest {ref.parent.name}'s mdevs"
            yield (*loc, "mdev"), f"no mdev {g.mdev} in {where}"
        if g.workload is not None and g.workload.kind != "none" and g.mdev is None:
            yield (*loc, "workload"), (f"guest {g.name} has a workload but no mdev, so it has no "
                                       f"AP queues to send requests to")
        if g.workload is not None:
            yield from _check_workload(g.workload, (*loc, "workload"), m)
        yield from _time(g.start, (*loc, "start"), sc)
        yield from _time(g.stop, (*loc, "stop"), sc)
        if g.stop is not None and g.stop <= g.start:
            yield (*loc, "stop"), (f"stop {format_duration(g.stop)} must come after start "
                                   f"{format_duration(g.start)}")
        if ref.parent is not None and g.start < ref.parent.start:
            yield (*loc, "start"), (f"a nested guest cannot start ({format_duration(g.start)}) "
                                    f"before {ref.parent.name} does ({format_duration(ref.parent.start)})")
        yield from _check_mdevs(g.mdevs, loc, m, uuids)
        yield from check_secure(sc, ref)
        if g.crycb is not None and ref.parent is None:
            yield (*loc, "crycb"), (f"guest {g.name} is a first-level guest: the host's KVM builds its "
                                    f"CRYCB; crycb: describes what a guest-1 hypervisor writes for a "
                                    f"nested guest")


def _check_timeline(sc: Scenario) -> Iterator[Problem]:
    m = sc.machine
    guests = {r.spec.name for r in sc.walk_guests()}
    lpars = {sc.lpar.name} | {o.name for o in sc.other_lpars}
    installed = {a.id for a in m.adapters}
    for i, act in enumerate(sc.timeline):
        base: Loc = ("timeline", i)
        yield from _time(act.at, (*base, "at"), sc)
        guest = getattr(act, "guest", None)
        if guest is not None and guest not in guests:
            yield (*base, "guest"), (f"no guest named {guest!r} "
                                     f"(guests: {', '.join(sorted(guests)) or 'none'})")
        lpar = getattr(act, "lpar", None)
        if lpar is not None and lpar not in lpars:
            yield (*base, "lpar"), f"no LPAR named {lpar!r} (LPARs: {', '.join(sorted(lpars))})"
        if isinstance(act, MdevctlStart | MdevctlStop):
            owner = sc if act.guest is None else next(
                (r.spec for r in sc.walk_guests() if r.spec.name == act.guest), None)
            defined = {md.uuid for md in owner.mdevs if md.start is not None} if owner else set()
            if owner is not None and act.uuid not in defined:
                where = "the host" if act.guest is None else f"guest {act.guest}"
                yield (*base, "uuid"), (f"no mdevctl definition {act.uuid} on {where} (mdevs with "
                                        f"start: auto|manual, or imported with mdevctl:)")
        if isinstance(act, SeConfigureOn | SeConfigureOff):
            yield from _max(act.adapters, (*base, "adapters"), m.na, "adapter", "max_adapter_id")
        elif isinstance(act, SclpConfigureAp | SclpDeconfigureAp):
            if act.adapter > m.na:
                yield (*base, "adapter"), (f"adapter {act.adapter} (0x{act.adapter:02x}) is above "
                                           f"the machine's max_adapter_id {m.na} (0x{m.na:02x})")
        elif isinstance(act, SeChangeLparCrypto):
            for key in ("add_adapters", "remove_adapters"):
                yield from _max(getattr(act, key), (*base, key), m.na, "adapter", "max_adapter_id")
            for key in ("add_usage_domains", "remove_usage_domains", "add_control_domains",
                        "remove_control_domains"):
                yield from _max(getattr(act, key), (*base, key), m.nd, "domain", "max_domain_id")
        elif isinstance(act, FaultInject):
            yield from _installed(act.adapters or [], (*base, "adapters"), m)
            yield from _installed([q >> 8 for q in act.apqns or []], (*base, "apqns"), m)
            yield from _max([q & 0xFF for q in act.apqns or []], (*base, "apqns"), m.nd, "domain",
                            "max_domain_id")
        elif isinstance(act, FaultCheckstop | FaultClear) and act.adapter not in installed:
            yield (*base, "adapter"), (f"adapter {act.adapter} (0x{act.adapter:02x}) is not "
                                       f"installed in the machine")


def _check_cex_plugin(sc: Scenario) -> Iterator[Problem]:
    cp = sc.cex_plugin
    assert cp is not None
    sets = {s.get("setname") for s in cp.cryptoconfigsets}
    taken = {r.spec.name: "a guest" for r in sc.walk_guests()}
    taken.update({o.name: "another LPAR" for o in sc.other_lpars})
    if cp.containers and sc.mode == "bulk":
        yield ("cex_plugin", "containers"), ("containers start and stop while the run goes on, which the "
                                             "bulk mode does not follow: use mode: full")
    for i, c in enumerate(cp.containers):
        base: Loc = ("cex_plugin", "containers", i)
        if c.setname not in sets:
            yield (*base, "setname"), (f"no config set {c.setname!r} in the ConfigMap "
                                       f"(sets: {', '.join(sorted(map(str, sets))) or 'none'})")
        for name in c.container_names():
            if name in taken:
                yield (*base, "name"), f"container {name!r} has the name of {taken[name]}"
            taken[name] = "another container"
        yield from _time(c.start, (*base, "start"), sc)
        yield from _time(c.stop, (*base, "stop"), sc)
        if c.stop is not None and c.stop <= c.start:
            yield (*base, "stop"), (f"stop {format_duration(c.stop)} must come after start "
                                    f"{format_duration(c.start)}")
        yield from _check_workload(c.workload, (*base, "workload"), sc.machine)
