"""``apsim sysfs import``: a real host's AP sysfs into a scenario.

Input: a directory that stands for ``/sys`` (an ``apsim sysfs export``, or a real
host's tree), a directory holding ``sys/``, or a tarball of it made with::

    tar -C / -czf ap-sysfs.tgz --ignore-failed-read sys/bus/ap sys/devices/ap sys/devices/vfio_ap

(tar keeps the links as links; it pads sysfs files to their reported 4096 bytes with
NULs, which are stripped here; write-only attributes cannot be read and are skipped.)

What a scenario determines is taken back: each card's type and mode (``type``, e.g.
``CEX7C``), queue depth (``depth`` + 1), message limit (``max_msg_size``) and serial
number (``serialnr``, when the card reports one); the
LPAR's adapters (``config`` 0 → standby), usage and control domains (the bus's
``ap_usage_domain_mask`` / ``ap_control_domain_mask``), ``ap_max_adapter_id`` /
``ap_max_domain_id``, AP extended addressing (``APXA`` in ``features``), the
``apmask`` / ``aqmask``, ``config_time``, and each mdev's adapters, domains and
control domains (``ap_config`` when present, else ``matrix`` and
``control_domains``). Guests, workloads and the timeline are not in sysfs and are
not invented.
"""

from __future__ import annotations

import re
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from apsim.ids import UUID_RE
from apsim.errors import ApsimError
from apsim.hw.cards import Mode, check_serialnr
from apsim.masks import Mask

_CARD = re.compile(r"^card([0-9a-fA-F]{2,3})$")
_UUID = UUID_RE
_TYPE = re.compile(r"^(CEX[4-8])([ACP])S?$")
_MODES = {"A": "accelerator", "C": "cca", "P": "ep11"}
DEFAULT_MAX_MSG_SIZE = 12288


def find_root(path: Path) -> Path:
    """The directory that stands for ``/sys`` inside *path* (itself or its ``sys/``)."""
    for cand in (path, path / "sys"):
        if (cand / "bus" / "ap").is_dir() or (cand / "devices" / "ap").is_dir():
            return cand
    raise ApsimError(f"{path}: no bus/ap or devices/ap below it (nor below {path / 'sys'}): "
                     "not a sysfs tree of an AP host")


def _text(path: Path) -> str | None:
    try:
        return path.read_bytes().split(b"\0", 1)[0].decode("ascii", "replace")
    except OSError:
        return None


def _line(path: Path) -> str | None:
    t = _text(path)
    return None if t is None else t.strip()


def _mask_ids(text: str | None) -> list[int]:
    if not text or not text.startswith("0x"):
        return []
    try:
        return Mask.from_hex(text).ids()
    except ValueError:
        return []


def _int(text: str | None) -> int | None:
    try:
        return int(text, 0) if text is not None else None
    except ValueError:
        return None


def _adapters(root: Path) -> tuple[list[dict[str, Any]], list[int], list[int]]:
    adapters, online, standby = [], [], []
    devices = root / "devices" / "ap"
    for d in sorted(devices.iterdir() if devices.is_dir() else [], key=lambda p: p.name):
        m = _CARD.match(d.name)
        if not m or not d.is_dir():
            continue
        apid = int(m.group(1), 16)
        kind = _TYPE.match(_line(d / "type") or "")
        if kind is None:
            raise ApsimError(f"{d / 'type'}: expected a card type such as CEX7C (CEX4..CEX8 with A, C or P)")
        spec: dict[str, Any] = {"id": apid, "type": kind.group(1), "mode": _MODES[kind.group(2)]}
        depth = _int(_line(d / "depth"))
        if depth is not None and depth + 1 != 8:
            spec["queue_depth"] = depth + 1
        msg = _int(_line(d / "max_msg_size"))
        if msg is not None and msg != DEFAULT_MAX_MSG_SIZE:
            spec["ml"] = msg // 4096
        serial = _line(d / "serialnr")
        if serial:  # an empty line: the card reported none
            try:
                spec["serialnr"] = check_serialnr(Mode(spec["mode"]), serial).rstrip(" ")
            except ValueError as e:
                raise ApsimError(f"{d / 'serialnr'}: {e}") from None
        adapters.append(spec)
        (standby if _line(d / "config") == "0" else online).append(apid)
    return adapters, online, standby


def _mdev(d: Path) -> dict[str, Any]:
    ap_config = _line(d / "ap_config")
    if ap_config and ap_config.count(",") == 2:
        apm, aqm, adm = (_mask_ids(x) for x in ap_config.split(","))
    else:
        apm_s, aqm_s = set(), set()
        for line in (_text(d / "matrix") or "").split():
            a, _, q = line.partition(".")
            if a:
                apm_s.add(int(a, 16))
            if q:
                aqm_s.add(int(q, 16))
        apm, aqm = sorted(apm_s), sorted(aqm_s)
        adm = sorted(int(x, 16) for x in (_text(d / "control_domains") or "").split())
    return {"uuid": d.name, "assign_adapter": apm, "assign_domain": aqm, "assign_control_domain": adm}


def scenario_from_tree(root: Path, *, name: str) -> dict[str, Any]:
    """The scenario (as plain data) of the sysfs tree at *root* (standing for ``/sys``)."""
    bus = root / "bus" / "ap"
    adapters, online, standby = _adapters(root)
    machine: dict[str, Any] = {}
    features = (_line(bus / "features") or "").split()
    if features and "APXA" not in features:
        machine["apxa"] = False
    for attr, key in (("ap_max_adapter_id", "max_adapter_id"), ("ap_max_domain_id", "max_domain_id")):
        value = _int(_line(bus / attr))
        if value is not None:
            machine[key] = value
    machine["adapters"] = adapters
    lpar: dict[str, Any] = {"adapters": online}
    if standby:
        lpar["standby"] = standby
    lpar["usage_domains"] = _mask_ids(_line(bus / "ap_usage_domain_mask"))
    lpar["control_domains"] = _mask_ids(_line(bus / "ap_control_domain_mask"))
    host: dict[str, Any] = {}
    for attr in ("apmask", "aqmask"):
        value = _line(bus / attr)
        if value and value.startswith("0x"):
            host[attr] = value
    config_time = _int(_line(bus / "config_time"))
    if config_time is not None and config_time != 30:
        host["config_time"] = f"{config_time}s"
    matrix = root / "devices" / "vfio_ap" / "matrix"
    mdevs = [_mdev(d) for d in sorted(matrix.iterdir(), key=lambda p: p.name)
             if _UUID.match(d.name) and d.is_dir() and not d.is_symlink()] if matrix.is_dir() else []
    out: dict[str, Any] = {"apiVersion": "apsim/v1", "name": name,
                           "description": "imported from a sysfs tree by apsim sysfs import",
                           "seed": 1, "duration": "1s", "machine": machine, "lpar": lpar}
    if host:
        out["host"] = host
    if mdevs:
        out["mdevs"] = mdevs
    return out


def import_sysfs(source: str | Path) -> dict[str, Any]:
    """Read a directory or a tarball (see the module docstring) into scenario data."""
    src = Path(source)
    if not src.exists():
        raise ApsimError(f"{src}: no such file or directory")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", src.name.split(".")[0]) or "imported"
    if src.is_dir():
        return scenario_from_tree(find_root(src), name=name)
    try:
        with tempfile.TemporaryDirectory(prefix="apsim-import-") as tmp, tarfile.open(src) as tar:
            tar.extractall(tmp, filter="data")
            return scenario_from_tree(find_root(Path(tmp)), name=name)
    except tarfile.TarError as e:
        raise ApsimError(f"{src}: not a directory or a readable tarball ({e})") from None


def write_scenario(data: dict[str, Any], dest: str | Path) -> Path:
    """Write scenario *data* as YAML (flow style for the id lists, like the shipped files)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedSeq

    def flow(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: flow(v) for k, v in node.items()}
        if isinstance(node, list):
            items = [flow(v) for v in node]
            seq = CommentedSeq(items)
            if all(not isinstance(v, (dict, list)) for v in items):
                seq.fa.set_flow_style()
            return seq
        return node

    path = Path(dest)
    yaml = YAML()
    yaml.default_flow_style = False
    with path.open("w") as f:
        yaml.dump(flow(data), f)
    return path
