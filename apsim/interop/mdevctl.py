"""mdevctl's persistent definitions and ``mdevctl list --dumpjson`` output.

A definition file ``/etc/mdevctl.d/matrix/<uuid>`` is a JSON object with
``mdev_type``, ``start`` (``auto`` | ``manual``) and ``attrs``: an ordered array of
single-key objects whose string values mdevctl writes, in order, to the mdev's
sysfs attributes (so ``"0x2b"``, ``"43"`` and ``"053"`` all name domain 43, as the
kernel's ``kstrtoul`` reads them). ``mdevctl list [-d] --dumpjson`` prints
``[{"<parent>": [{"<uuid>": {…the same object…}}, …], …}]``.

Only the ``matrix`` parent is AP; other parents' mdevs (vGPUs, …) in a dump are
left out. A vfio_ap mdev's attributes are checked with the kernel's parsers, so an
import that would fail at ``mdevctl start`` is refused with the JSON path instead.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from apsim.ids import UUID_RE
from apsim.errors import SysfsError
from apsim.interop.jsonfile import ImportFileError, jpath, read_json
from apsim.linux.apcheck import MDEV_TYPE
from apsim.linux.maskparse import kstrtoul, parse_hex_mask
from apsim.linux.mdevctl import ATTRS, Definition

__all__ = ["read_mdevctl", "read_definition_file", "read_dumpjson", "parse_definition",
           "render_definition", "render_dumpjson", "definition_path"]


_UUID = UUID_RE


def definition_path(uuid: str) -> str:
    """Where mdevctl keeps a vfio_ap definition, relative to the root."""
    return f"etc/mdevctl.d/matrix/{uuid}"


def _fail(rule: str, file: Path, *where: str | int) -> ImportFileError:
    return ImportFileError(rule, file=str(file), key=jpath(*where))


def _check_value(attr: str, value: str, file: Path, where: tuple[str | int, ...]) -> None:
    try:
        if attr == "ap_config":
            parts = value.strip().split(",")
            if len(parts) != 3:
                raise SysfsError(22, attr, f"{value!r} is not three masks APM,AQM,ADM")
            for p in parts:
                parse_hex_mask(p, path=attr)
        else:
            kstrtoul(value, path=attr, what="id")
    except SysfsError as e:
        raise _fail(f"the kernel refuses this value (mdevctl start would fail with "
                    f"{e.errno_name}): {e.rule}", file, *where) from None


def parse_definition(obj: Any, uuid: str, file: Path, *where: str | int) -> Definition:
    """One definition object at JSON path *where* of *file*."""
    if not isinstance(obj, dict):
        raise _fail("a definition is a JSON object with mdev_type, start and attrs", file, *where)
    for key in obj:
        if key not in ("mdev_type", "start", "attrs"):
            raise _fail(f"unknown key {key!r} (a definition has mdev_type, start, attrs)",
                        file, *where, key)
    mdev_type = obj.get("mdev_type")
    if mdev_type != MDEV_TYPE:
        raise _fail(f"mdev_type must be {MDEV_TYPE!r} for the matrix parent (got {mdev_type!r})",
                    file, *where, "mdev_type")
    if "start" not in obj:
        raise _fail("start is missing (mdevctl writes \"auto\" or \"manual\")", file, *where)
    start = obj["start"]
    if start not in ("auto", "manual"):
        raise _fail(f"start must be \"auto\" or \"manual\" (got {start!r})", file, *where, "start")
    attrs_obj = obj.get("attrs", [])
    if not isinstance(attrs_obj, list):
        raise _fail("attrs is an array of single-key objects, in write order", file, *where, "attrs")
    attrs: list[tuple[str, str]] = []
    for i, item in enumerate(attrs_obj):
        at = (*where, "attrs", i)
        if not isinstance(item, dict) or len(item) != 1:
            raise _fail("each attrs entry is an object with exactly one attribute", file, *at)
        (attr, value), = item.items()
        if attr not in ATTRS:
            raise _fail(f"{attr!r} is not a vfio_ap mdev attribute ({', '.join(ATTRS)})", file, *at)
        if not isinstance(value, str):
            raise _fail(f"attribute values are JSON strings (got {json.dumps(value)})", file, *at, attr)
        _check_value(attr, value, file, (*at, attr))
        attrs.append((attr, value))
    return Definition(uuid=uuid.lower(), start=start, attrs=tuple(attrs))


def read_definition_file(path: Path) -> Definition:
    """A definition file named by its UUID."""
    if not _UUID.match(path.name):
        raise ImportFileError("a definition file is named by the mdev's UUID", file=str(path))
    return parse_definition(read_json(path, "an mdevctl definition"), path.name, path)


def read_dumpjson(path: Path) -> list[Definition]:
    """The vfio_ap definitions of an ``mdevctl list --dumpjson`` output, in its order."""
    return [d for d, _ in _dumpjson(path)]


def _dumpjson(path: Path) -> list[tuple[Definition, str]]:
    data = read_json(path, "mdevctl list --dumpjson output")
    if not isinstance(data, list):
        raise _fail("mdevctl's --dumpjson output is an array of {parent: [devices]} objects", path)
    out: list[tuple[Definition, str]] = []
    for i, group in enumerate(data):
        if not isinstance(group, dict):
            raise _fail("each element maps parent device names to arrays of devices", path, i)
        for parent, devices in group.items():
            if parent != "matrix":
                continue  # not an AP parent
            if not isinstance(devices, list):
                raise _fail("a parent's devices are an array of {uuid: definition} objects",
                            path, i, parent)
            for j, dev in enumerate(devices):
                if not isinstance(dev, dict) or len(dev) != 1:
                    raise _fail("each device is an object with one key, its UUID", path, i, parent, j)
                (uuid, obj), = dev.items()
                if not _UUID.match(uuid):
                    raise _fail(f"{uuid!r} is not a UUID", path, i, parent, j)
                out.append((parse_definition(obj, uuid, path, i, parent, j, uuid),
                            f"{path}: {jpath(i, parent, j)}"))
    return out


def read_mdevctl(path: Path) -> list[tuple[Definition, str]]:
    """Definitions, each with where it came from (a file, or a file and JSON path).

    *path* is a ``--dumpjson`` file or a folder: ``/etc/mdevctl.d`` or its ``matrix``.
    Files in a folder are taken in file-name order; names that are not UUIDs are
    skipped, as mdevctl skips them.
    """
    if path.is_dir():
        folder = path / "matrix" if (path / "matrix").is_dir() else path
        files = sorted(p for p in folder.iterdir() if p.is_file() and _UUID.match(p.name))
        return [(read_definition_file(p), str(p)) for p in files]
    return _dumpjson(path)


def _object(d: Definition) -> dict[str, Any]:
    return {"mdev_type": d.mdev_type, "start": d.start, "attrs": [{k: v} for k, v in d.attrs]}


def render_definition(d: Definition) -> str:
    """The definition file's text, as mdevctl writes it (pretty JSON, two-space indent)."""
    return json.dumps(_object(d), indent=2) + "\n"


def render_dumpjson(defs: list[Definition]) -> str:
    """``mdevctl list -d --dumpjson`` of *defs* (all under the ``matrix`` parent)."""
    if not defs:
        return "[]\n"
    return json.dumps([{"matrix": [{d.uuid: _object(d)} for d in defs]}], indent=2) + "\n"
