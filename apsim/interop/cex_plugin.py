"""The k8s CEX device plugin's ConfigMap data: ``cex_resources.json``.

``{"cryptoconfigsets": [{"setname", "project", "cexmode", "mincexgen", "overcommit",
"livesysfs", "apqns": [{"adapter", "domain", "machineid"}]}]}``. Checked with the
plugin's own rules (``CryptoConfig.Verify`` in ``cryptoconfigs.go``): a set name is a
Kubernetes qualified name and unique; ``project`` is not empty; ``cexmode`` is
``ep11``, ``cca`` or ``accel``; ``mincexgen`` is ``cex4`` … ``cex9``; adapters and
domains are 0..255; an APQN appears once in all sets (two entries with different
non-empty machine ids are different APQNs). The plugin ignores unknown keys; apsim
refuses them, since a misspelt key would silently change nothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from apsim.interop.jsonfile import ImportFileError, jpath, read_json
from apsim.linux.cexplugin import APQNDef, CryptoConfigSet

__all__ = ["read_configmap", "parse_configmap", "render_configmap", "CONFIGMAP_NAME"]

CONFIGMAP_NAME = "cex_resources.json"

_QUALIFIED = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                        r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_SET_KEYS = ("setname", "project", "cexmode", "mincexgen", "overcommit", "livesysfs", "apqns")
_APQN_KEYS = ("adapter", "domain", "machineid")


def _fail(rule: str, file: str, *where: str | int) -> ImportFileError:
    return ImportFileError(rule, file=file, key=jpath(*where))


def _typed(obj: dict[str, Any], key: str, kind: type, file: str, where: tuple[str | int, ...],
           default: Any) -> Any:
    if key not in obj:
        return default
    v = obj[key]
    if kind is int and (isinstance(v, bool) or not isinstance(v, int)):
        raise _fail(f"{key} is a JSON integer (got {json.dumps(v)})", file, *where, key)
    if kind is str and not isinstance(v, str):
        raise _fail(f"{key} is a JSON string (got {json.dumps(v)})", file, *where, key)
    return v


def parse_configmap(data: Any, *, file: str) -> list[CryptoConfigSet]:
    """The config sets of parsed ``cex_resources.json`` data; errors name file and JSON path."""
    if not isinstance(data, dict) or not isinstance(data.get("cryptoconfigsets"), list):
        raise _fail("cex_resources.json is an object with a cryptoconfigsets array", file)
    for key in data:
        if key != "cryptoconfigsets":
            raise _fail(f"unknown key {key!r} (the plugin reads only cryptoconfigsets)", file, key)
    sets: list[CryptoConfigSet] = []
    for i, s in enumerate(data["cryptoconfigsets"]):
        at = ("cryptoconfigsets", i)
        if not isinstance(s, dict):
            raise _fail("a config set is a JSON object", file, *at)
        for key in s:
            if key not in _SET_KEYS:
                raise _fail(f"unknown key {key!r} (a config set has {', '.join(_SET_KEYS)}; the plugin "
                            f"would ignore it)", file, *at, key)
        name = _typed(s, "setname", str, file, at, "")
        if len(name) > 63 or not _QUALIFIED.match(name):
            raise _fail(f"set name {name!r} is not a valid qualified name (letters, digits, '-', '_', "
                        f"'.'; up to 63; starting and ending with a letter or digit)", file, *at, "setname")
        if any(x.setname == name for x in sets):
            raise _fail(f"more than one set {name!r}: set names must be unique", file, *at, "setname")
        project = _typed(s, "project", str, file, at, "")
        if not project:
            raise _fail("project is empty (the namespace whose pods may use the set)", file, *at, "project")
        mode = _typed(s, "cexmode", str, file, at, "")
        if mode and mode not in ("ep11", "cca", "accel"):
            raise _fail(f"unknown cexmode {mode!r} (ep11, cca or accel)", file, *at, "cexmode")
        gen = _typed(s, "mincexgen", str, file, at, "")
        if gen and not re.fullmatch(r"cex[4-9]", gen):
            raise _fail(f"unknown mincexgen {gen!r} (cex4 … cex9)", file, *at, "mincexgen")
        over = _typed(s, "overcommit", int, file, at, 0)
        live = _typed(s, "livesysfs", int, file, at, 0)
        if live not in (0, 1):
            raise _fail(f"livesysfs is 0 or 1 (got {live})", file, *at, "livesysfs")
        apqns = s.get("apqns", [])
        if not isinstance(apqns, list):
            raise _fail("apqns is an array of {adapter, domain, machineid}", file, *at, "apqns")
        defs: list[APQNDef] = []
        for k, a in enumerate(apqns):
            aat = (*at, "apqns", k)
            if not isinstance(a, dict):
                raise _fail("an APQN is a JSON object with adapter, domain, machineid", file, *aat)
            for key in a:
                if key not in _APQN_KEYS:
                    raise _fail(f"unknown key {key!r} (an APQN has adapter, domain, machineid)", file, *aat, key)
            adapter = _typed(a, "adapter", int, file, aat, 0)
            domain = _typed(a, "domain", int, file, aat, 0)
            for key, v in (("adapter", adapter), ("domain", domain)):
                if not 0 <= v <= 255:
                    raise _fail(f"invalid {key} {v} [0...255]", file, *aat, key)
            d = APQNDef(adapter, domain, _typed(a, "machineid", str, file, aat, ""))
            if any(_same(d, o) for o in defs):
                raise _fail(f"APQN({adapter},{domain}) appears twice in this set", file, *aat)
            other = next((x for x in sets if any(_same(d, o) for o in x.apqns)), None)
            if other is not None:
                raise _fail(f"APQN({adapter},{domain}) appears also in set {other.setname!r}", file, *aat)
            defs.append(d)
        sets.append(CryptoConfigSet(name, project, mode, gen, over, tuple(defs)))
    return sets


def _same(a: APQNDef, b: APQNDef) -> bool:
    """The plugin's test: one APQN unless both machine ids are set and differ."""
    return (a.adapter, a.domain) == (b.adapter, b.domain) and (
        a.machineid == b.machineid or not a.machineid or not b.machineid)


def read_configmap(path: Path) -> list[CryptoConfigSet]:
    """The config sets of a ``cex_resources.json`` file."""
    return parse_configmap(read_json(path, "the CEX plugin's cex_resources.json"), file=str(path))


def render_configmap(sets: list[CryptoConfigSet]) -> str:
    """``cex_resources.json`` for *sets* (keys the plugin reads; empty optional keys left out)."""
    out = []
    for s in sets:
        d: dict[str, Any] = {"setname": s.setname, "project": s.project}
        if s.cexmode:
            d["cexmode"] = s.cexmode
        if s.mincexgen:
            d["mincexgen"] = s.mincexgen
        if s.overcommit:
            d["overcommit"] = s.overcommit
        d["apqns"] = [{"adapter": a.adapter, "domain": a.domain, "machineid": a.machineid} for a in s.apqns]
        out.append(d)
    return json.dumps({"cryptoconfigsets": out}, indent=4) + "\n"
