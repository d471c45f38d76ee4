"""Scenario keys that import the host configuration from the ecosystem's files.

``mdevctl:`` (folders of persistent definitions or ``mdevctl list --dumpjson``
files) and ``libvirt.nodedevs`` (vfio-ap mdev node devices) add ``mdevs`` entries with
``start`` and ``attrs``; ``libvirt.domains`` give guests their mdev and AP CPU
features; ``chzdev:`` (the ``41-ap.rules`` file) sets ``host.apmask`` / ``host.aqmask``;
``cex_plugin.configmap`` (the k8s CEX plugin's ``cex_resources.json``) fills
``cex_plugin.cryptoconfigsets``. Paths are relative to
the scenario file. The imported definitions are vetted as s390-tools' ap-check
vets ``mdevctl define``: an ``auto`` definition may share no APQN with another
``auto`` definition nor lie in the persistent masks (chzdev's, or the scenario's
host masks when there is no rules file, as ap-check falls back to the active ones).
Every error names the imported file and its line or JSON path, or the scenario key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apsim.errors import ScenarioError, SysfsError
from apsim.interop.cex_plugin import read_configmap, render_configmap
from apsim.interop.chzdev import read_rules
from apsim.interop.libvirt import DomainInfo, read_domain, read_nodedevs
from apsim.interop.mdevctl import read_mdevctl
from apsim.linux.apcheck import check_define, device_from_attrs
from apsim.linux.maskparse import parse_mask
from apsim.linux.mdevctl import Definition
from apsim.masks import Mask
from apsim.scenario.types import parse_id

__all__ = ["expand_imports"]


def _paths(data: dict[str, Any], key: str, file: str, line_of: Any) -> list[str]:
    value = data.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
        data[key] = value
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ScenarioError(f"{key} takes a path or a list of paths (relative to the scenario)",
                            file=file, line=line_of((key,)), key=key)
    return value


def _existing(path: Path, file: str, line_of: Any, loc: tuple[str, ...], *, folder_ok: bool = True) -> Path:
    """*path*, or an error at the scenario key that names it (the import is the scenario's)."""
    if not path.exists():
        raise ScenarioError(f"no such file or folder: {path}", file=file, line=line_of(loc),
                            key=".".join(loc))
    if not folder_ok and not path.is_file():
        raise ScenarioError(f"{path} is not a file", file=file, line=line_of(loc), key=".".join(loc))
    return path


def _resolve(base_dir: Path | None, text: str) -> Path:
    p = Path(text)
    return p if p.is_absolute() or base_dir is None else base_dir / p


def expand_imports(data: dict[str, Any], *, file: str, base_dir: str | Path | None,
                   line_of: Any) -> None:
    """Fill ``mdevs`` and ``host`` of the raw scenario *data* from its import keys (in place).

    *line_of(loc)* gives the scenario line of a key path, for errors about the keys.
    """
    base = Path(base_dir) if base_dir is not None else None
    chz = data.get("chzdev")
    if chz is not None:
        if not isinstance(chz, str) or not chz:
            raise ScenarioError("chzdev takes the path of a 41-ap.rules file (relative to the scenario)",
                                file=file, line=line_of(("chzdev",)), key="chzdev")
        _import_chzdev(data, _existing(_resolve(base, chz), file, line_of, ("chzdev",), folder_ok=False),
                       file, line_of)
    cp = data.get("cex_plugin")
    if isinstance(cp, dict) and cp.get("configmap") is not None:
        _import_configmap(cp, base, file, line_of)
    sources: list[tuple[Definition, str]] = []
    for text in _paths(data, "mdevctl", file, line_of):
        sources += read_mdevctl(_existing(_resolve(base, text), file, line_of, ("mdevctl",)))
    lv = data.get("libvirt")
    if lv is not None:
        if not isinstance(lv, dict):
            raise ScenarioError("libvirt takes nodedevs: [paths] and domains: [paths]", file=file,
                                line=line_of(("libvirt",)), key="libvirt")
        sources += _import_libvirt(data, lv, base, file, line_of)
    mdevs = data.get("mdevs", [])
    if not isinstance(mdevs, list):
        return  # the schema reports the wrong type at its own line
    have = {str(m.get("uuid", "")).lower() for m in mdevs if isinstance(m, dict)}
    for d, src in sources:
        if d.uuid in have:
            raise ScenarioError(f"mdev {d.uuid} is defined in the scenario's mdevs and again in {src}",
                                file=file, line=line_of(("mdevctl",)), key="mdevctl")
        have.add(d.uuid)
    located = [(d, {"file": src}) for d, src in sources]
    located += [(d, {"file": file, "line": line_of(("mdevs", i)), "key": f"mdevs[{i}]"})
                for i, d in _inline_definitions(mdevs)]
    _check_definitions(data, located)
    if sources:
        data["mdevs"] = [*mdevs, *({"uuid": d.uuid, "start": d.start, "attrs": [{k: v} for k, v in d.attrs]}
                                  for d, _ in sources)]


def _libvirt_paths(lv: dict[str, Any], key: str, base: Path | None, file: str, line_of: Any) -> list[Path]:
    value = lv.get(key, [])
    if isinstance(value, str):
        value = [value]
        lv[key] = value
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ScenarioError(f"libvirt.{key} takes a list of paths (relative to the scenario)",
                            file=file, line=line_of(("libvirt", key)), key=f"libvirt.{key}")
    return [_existing(_resolve(base, v), file, line_of, ("libvirt", key)) for v in value]


def _ids(value: Any) -> set[int]:
    try:
        return {parse_id(v) for v in value or []}
    except (TypeError, ValueError):
        return set()  # the schema reports a bad id at its own line


def _import_libvirt(data: dict[str, Any], lv: dict[str, Any], base: Path | None, file: str,
                    line_of: Any) -> list[tuple[Definition, str]]:
    devs = read_nodedevs(_libvirt_paths(lv, "nodedevs", base, file, line_of))
    lpar = data.get("lpar") if isinstance(data.get("lpar"), dict) else {}
    cards = _ids(lpar.get("adapters")) | _ids(lpar.get("standby"))
    domains = _ids(lpar.get("usage_domains"))
    for apid, where in devs.cards.items():
        if apid not in cards:
            raise ScenarioError(f"ap_card {apid:#04x}: the host LPAR has no adapter {apid} "
                                f"(lpar.adapters/standby: {sorted(cards) or 'none'})", file=where)
    for (apid, apqi), where in devs.queues.items():
        if apid not in cards or apqi not in domains:
            raise ScenarioError(f"ap_queue {apid:02x}.{apqi:04x}: the host LPAR has no such queue "
                                f"(adapters {sorted(cards) or 'none'}, usage domains "
                                f"{sorted(domains) or 'none'})", file=where)
    guests = data.setdefault("guests", [])
    for path in _libvirt_paths(lv, "domains", base, file, line_of):
        dom = read_domain(path)
        if isinstance(guests, list):
            _merge_domain(guests, dom)
    return [(Definition(uuid=m.uuid, start=m.start, attrs=m.attrs), m.where) for m in devs.mdevs]


def _merge_domain(guests: list[Any], dom: DomainInfo) -> None:
    g = next((x for x in guests if isinstance(x, dict) and x.get("name") == dom.name), None)
    if g is None:
        g = {"name": dom.name}
        if dom.vcpus is not None:
            g["vcpus"] = dom.vcpus
        guests.append(g)
    if dom.mdev is not None:
        if g.get("mdev") not in (None, dom.mdev):
            raise ScenarioError(f"guest {dom.name} has mdev {g['mdev']} in the scenario but "
                                f"{dom.mdev} in its domain", file=dom.where)
        g["mdev"] = dom.mdev
    cpu = g.setdefault("cpu", {})
    if isinstance(cpu, dict):
        for k, on in dom.cpu.items():
            if k in cpu and bool(cpu[k]) != on:
                raise ScenarioError(f"guest {dom.name}: cpu.{k} is {cpu[k]} in the scenario but "
                                    f"{'required' if on else 'disabled'} in its domain", file=dom.where)
            cpu[k] = on


def _import_configmap(cp: dict[str, Any], base: Path | None, file: str, line_of: Any) -> None:
    text = cp["configmap"]
    if not isinstance(text, str) or not text:
        raise ScenarioError("cex_plugin.configmap takes the path of cex_resources.json", file=file,
                            line=line_of(("cex_plugin", "configmap")), key="cex_plugin.configmap")
    if cp.get("cryptoconfigsets"):
        raise ScenarioError("give cex_plugin.configmap (a file) or cex_plugin.cryptoconfigsets, not both",
                            file=file, line=line_of(("cex_plugin", "cryptoconfigsets")),
                            key="cex_plugin.cryptoconfigsets")
    path = _existing(_resolve(base, text), file, line_of, ("cex_plugin", "configmap"), folder_ok=False)
    sets = read_configmap(path)  # the plugin's rules, errors naming the file and JSON path
    cp["cryptoconfigsets"] = json.loads(render_configmap(sets))["cryptoconfigsets"]


def _import_chzdev(data: dict[str, Any], path: Path, file: str, line_of: Any) -> None:
    masks = read_rules(path)
    host = data.setdefault("host", {})
    if not isinstance(host, dict):
        return
    for key, value in (("apmask", masks.apmask), ("aqmask", masks.aqmask)):
        if value is None:
            continue
        if host.get(key) is not None:
            raise ScenarioError(f"host.{key} is given here and chzdev's {path} sets {key} too; "
                                f"keep one", file=file, line=line_of(("host", key)), key=f"host.{key}")
        host[key] = value


def _persistent_masks(data: dict[str, Any]) -> tuple[Mask, Mask]:
    host = data.get("host") if isinstance(data.get("host"), dict) else {}
    out = []
    for key in ("apmask", "aqmask"):
        text = host.get(key)
        try:
            out.append(parse_mask(str(text), Mask.full()) if text is not None else Mask.full())
        except SysfsError:
            out.append(Mask.full())  # the schema reports the bad mask at its own line
    return out[0], out[1]


def _inline_definitions(mdevs: list[Any]) -> list[tuple[int, Definition]]:
    """The scenario's own mdevs with ``start`` (mdevctl definitions), as ap-check reads them."""
    out = []
    for i, m in enumerate(mdevs):
        if not isinstance(m, dict) or m.get("start") not in ("auto", "manual"):
            continue
        try:
            if m.get("attrs") is not None:
                attrs = [(str(k), str(v)) for item in m["attrs"] for k, v in dict(item).items()]
            else:
                attrs = [(key, str(parse_id(v))) for key in ("assign_adapter", "assign_domain",
                                                            "assign_control_domain")
                         for v in m.get(key) or []]
            out.append((i, Definition(uuid=str(m.get("uuid", "")).lower(), start=m["start"],
                                      attrs=tuple(attrs))))
        except (TypeError, ValueError, AttributeError):
            continue  # the schema reports the malformed entry at its own line
    return out


def _check_definitions(data: dict[str, Any], located: list[tuple[Definition, dict[str, Any]]]) -> None:
    """ap-check's define rules over every definition, imported or the scenario's own."""
    if not located:
        return
    masks = _persistent_masks(data)
    autos = {d.uuid: device_from_attrs(d.attrs) for d, _ in located if d.autostart}
    for d, where in located:
        others = {u: dev for u, dev in autos.items() if u != d.uuid}
        problems = check_define(device_from_attrs(d.attrs), autostart=d.autostart,
                                other_autostart=others, persistent_masks=masks)
        if problems:
            raise ScenarioError(f"ap-check refuses the autostart definition {d.uuid}: "
                                + "; ".join(problems), **where)
