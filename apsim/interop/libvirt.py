"""libvirt's XML for vfio-ap: node devices (ap_card, ap_queue, ap_matrix, mdev) and domains.

Node devices (``virsh nodedev-dumpxml``; schema ``nodedev.rng``):

* ``ap_cardXX`` (parent ``computer``): ``<capability type='ap_card'>`` with
  ``<ap-adapter>0xXX</ap-adapter>``;
* ``ap_XX_YYYY`` (parent ``ap_cardXX``): ``<capability type='ap_queue'>`` with
  ``ap-adapter`` and ``<ap-domain>0xYYYY</ap-domain>``;
* ``ap_matrix`` (parent ``computer``): ``<capability type='ap_matrix'>`` holding
  ``<capability type='mdev_types'>`` with the ``vfio_ap-passthrough`` type, its name,
  ``deviceAPI`` ``vfio-ap`` and ``availableInstances``;
* ``mdev_<uuid with _>`` (parent ``ap_matrix``): ``<capability type='mdev'>`` with
  ``<type id='vfio_ap-passthrough'/>``, ``<uuid>`` and the attributes in write order
  (``<attr name='assign_adapter' value='5'/>``). libvirt ≥ 10 adds ``<start
  type='auto|manual'/>``, which the 9.x schema (Debian 12) lacks: apsim reads it and
  writes none (libvirt 9 keeps autostart apart: ``virsh nodedev-autostart``); an mdev
  without it is read as ``auto``, as a device libvirt lists exists at boot.

A domain's vfio-ap device is ``<hostdev mode='subsystem' type='mdev' managed='no'
model='vfio-ap'><source><address uuid='…'/></source></hostdev>`` (one per guest); the
CPU model's AP features are ``<feature policy='require|disable' name='ap'/>`` (and
``apqci``, ``apft``, ``apqi``; ``msa3-base`` only when it is disabled). Output uses libvirt's own layout
(two-space indent, single-quoted attributes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from apsim.interop.jsonfile import ImportFileError, read_text
from apsim.interop.xmltree import Element, parse_xml
from apsim.linux.apcheck import MDEV_TYPE
from apsim.linux.mdevctl import ATTRS

__all__ = ["NodeDevices", "DomainInfo", "CPU_FEATURES", "read_nodedevs", "read_domain",
           "render_ap_card", "render_ap_queue", "render_ap_matrix", "render_mdev", "render_domain",
           "mdev_name"]

CPU_FEATURES = {"ap": "ap", "apqci": "apqci", "apft": "apft", "apqi": "apqi", "msax3": "msa3-base"}
"""apsim's CPU feature -> the QEMU/libvirt feature name."""


def _q(value: str) -> str:
    # libvirt quotes attributes with single quotes.
    text = quoteattr(value, {"'": "&apos;"})
    return "'" + text[1:-1] + "'" if text.startswith('"') else text


def mdev_name(uuid: str) -> str:
    """The node device name libvirt gives an mdev."""
    return "mdev_" + uuid.replace("-", "_")


def render_ap_card(apid: int) -> str:
    """The ``ap_card`` node device of adapter *apid*."""
    return (f"<device>\n  <name>ap_card{apid:02x}</name>\n  <path>/sys/devices/ap/card{apid:02x}</path>\n"
            f"  <parent>computer</parent>\n  <capability type='ap_card'>\n"
            f"    <ap-adapter>0x{apid:02x}</ap-adapter>\n  </capability>\n</device>\n")


def render_ap_queue(apid: int, apqi: int) -> str:
    """The ``ap_queue`` node device of APQN (*apid*, *apqi*)."""
    return (f"<device>\n  <name>ap_{apid:02x}_{apqi:04x}</name>\n"
            f"  <path>/sys/devices/ap/card{apid:02x}/{apid:02x}.{apqi:04x}</path>\n"
            f"  <parent>ap_card{apid:02x}</parent>\n  <capability type='ap_queue'>\n"
            f"    <ap-adapter>0x{apid:02x}</ap-adapter>\n    <ap-domain>0x{apqi:04x}</ap-domain>\n"
            f"  </capability>\n</device>\n")


def render_ap_matrix(available: int) -> str:
    """The ``ap_matrix`` node device with its mdev type."""
    return ("<device>\n  <name>ap_matrix</name>\n  <path>/sys/devices/vfio_ap/matrix</path>\n"
            "  <parent>computer</parent>\n  <capability type='ap_matrix'>\n"
            "    <capability type='mdev_types'>\n"
            f"      <type id='{MDEV_TYPE}'>\n        <name>VFIO AP Passthrough Device</name>\n"
            "        <deviceAPI>vfio-ap</deviceAPI>\n"
            f"        <availableInstances>{available}</availableInstances>\n      </type>\n"
            "    </capability>\n  </capability>\n</device>\n")


def render_mdev(uuid: str, attrs: list[tuple[str, str]], *, active: bool) -> str:
    """An mdev node device of the ``matrix`` parent (``active``: it exists in sysfs now)."""
    path = f"  <path>/sys/devices/vfio_ap/matrix/{uuid}</path>\n" if active else ""
    lines = "".join(f"    <attr name={_q(k)} value={_q(v)}/>\n" for k, v in attrs)
    return (f"<device>\n  <name>{mdev_name(uuid)}</name>\n{path}  <parent>ap_matrix</parent>\n"
            f"  <capability type='mdev'>\n    <type id='{MDEV_TYPE}'/>\n    <uuid>{uuid}</uuid>\n"
            f"{lines}  </capability>\n</device>\n")


def render_domain(name: str, *, vcpus: int, mdev: str | None, cpu: dict[str, bool],
                  memory_mib: int = 2048) -> str:
    """A KVM s390x domain with its vfio-ap hostdev and the CPU model's AP features."""
    feats = "".join(f"    <feature policy='{'require' if on else 'disable'}' name='{CPU_FEATURES[k]}'/>\n"
                    for k, on in cpu.items() if k != "msax3" or not on)
    hostdev = ("    <hostdev mode='subsystem' type='mdev' managed='no' model='vfio-ap'>\n"
               f"      <source>\n        <address uuid='{mdev}'/>\n      </source>\n    </hostdev>\n"
               if mdev else "")
    return (f"<domain type='kvm'>\n  <name>{name}</name>\n"
            f"  <memory unit='KiB'>{memory_mib * 1024}</memory>\n"
            f"  <vcpu placement='static'>{vcpus}</vcpu>\n"
            "  <os>\n    <type arch='s390x' machine='s390-ccw-virtio'>hvm</type>\n  </os>\n"
            f"  <cpu mode='host-model' check='partial'>\n{feats}  </cpu>\n"
            f"  <devices>\n    <emulator>/usr/bin/qemu-system-s390x</emulator>\n{hostdev}"
            "  </devices>\n</domain>\n")


# --- reading -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MdevDevice:
    """An mdev node device: UUID, start mode, attributes in order, and where it was read."""

    uuid: str
    start: str
    attrs: tuple[tuple[str, str], ...]
    where: str


@dataclass
class NodeDevices:
    """What a set of node-device files describes."""

    cards: dict[int, str] = field(default_factory=dict)
    """APID -> where it was read."""
    queues: dict[tuple[int, int], str] = field(default_factory=dict)
    matrix: bool = False
    mdevs: list[MdevDevice] = field(default_factory=list)


def _fail(rule: str, file: str, el: Element) -> ImportFileError:
    return ImportFileError(rule, file=file, line=el.line)


def _int(el: Element | None, parent: Element, what: str, limit: int, file: str) -> int:
    if el is None:
        raise _fail(f"<{what}> is missing", file, parent)
    try:
        value = int(el.text, 0)
    except ValueError:
        raise _fail(f"<{what}> {el.text!r} is not a number (0x hex or decimal)", file, el) from None
    if not 0 <= value <= limit:
        raise _fail(f"<{what}> {el.text} is outside 0..{limit:#x}", file, el)
    return value


def _read_device(dev: Element, out: NodeDevices, file: str) -> None:
    caps = dev.findall("capability")
    if len(caps) != 1:
        raise _fail("a node device has one <capability>", file, dev)
    cap = caps[0]
    kind = cap.attrs.get("type")
    where = f"{file}:{cap.line}"
    if kind == "ap_card":
        out.cards[_int(cap.find("ap-adapter"), cap, "ap-adapter", 255, file)] = where
    elif kind == "ap_queue":
        a = _int(cap.find("ap-adapter"), cap, "ap-adapter", 255, file)
        d = _int(cap.find("ap-domain"), cap, "ap-domain", 255, file)
        out.queues[(a, d)] = where
    elif kind == "ap_matrix":
        out.matrix = True
    elif kind == "mdev":
        typ = cap.find("type")
        if typ is None or typ.attrs.get("id") != MDEV_TYPE:
            return  # not a vfio-ap mdev (a vGPU, ...)
        uuid_el = cap.find("uuid")
        uuid = uuid_el.text.lower() if uuid_el is not None else ""
        if not uuid:
            name = dev.find("name")
            uuid = (name.text[5:] if name is not None and name.text.startswith("mdev_") else "").replace("_", "-")
        if len(uuid) != 36:
            raise _fail("an mdev node device needs <uuid> (or a name mdev_<uuid>)", file, cap)
        attrs = []
        for a in cap.findall("attr"):
            key, value = a.attrs.get("name", ""), a.attrs.get("value")
            if key not in ATTRS or value is None:
                raise _fail(f"<attr name={key!r}> is not a vfio_ap mdev attribute with a value "
                            f"({', '.join(ATTRS)})", file, a)
            attrs.append((key, value))
        start_el = cap.find("start")
        start = start_el.attrs.get("type", "") if start_el is not None else "auto"
        if start not in ("auto", "manual"):
            raise _fail(f"<start type={start!r}> must be auto or manual", file, start_el or cap)
        out.mdevs.append(MdevDevice(uuid, start, tuple(attrs), where))
    # other capabilities (PCI, CCW, ...) are not AP devices


def read_nodedevs(paths: list[Path]) -> NodeDevices:
    """Node devices from files (one ``<device>`` each) and folders of ``*.xml`` files."""
    out = NodeDevices()
    files: list[Path] = []
    for p in paths:
        files += sorted(p.glob("*.xml")) if p.is_dir() else [p]
    for f in files:
        root = parse_xml(read_text(f, "a libvirt node device XML file"), file=str(f))
        if root.tag != "device":
            raise _fail(f"a node device file holds <device>, not <{root.tag}>", str(f), root)
        _read_device(root, out, str(f))
    return out


@dataclass(frozen=True)
class DomainInfo:
    """What apsim takes from a domain: its name, vfio-ap mdev and AP CPU features."""

    name: str
    mdev: str | None
    cpu: dict[str, bool]
    vcpus: int | None
    where: str


def read_domain(path: Path) -> DomainInfo:
    """The guest a domain XML file describes."""
    file = str(path)
    root = parse_xml(read_text(path, "a libvirt domain XML file"), file=file)
    if root.tag != "domain":
        raise _fail(f"a domain file holds <domain>, not <{root.tag}>", file, root)
    name = root.find("name")
    if name is None or not name.text:
        raise _fail("<name> is missing", file, root)
    mdevs = []
    for hd in root.iter("hostdev"):
        if hd.attrs.get("type") == "mdev" and hd.attrs.get("model") == "vfio-ap":
            addr = hd.find("source").find("address") if hd.find("source") is not None else None
            if addr is None or "uuid" not in addr.attrs:
                raise _fail("a vfio-ap hostdev needs <source><address uuid='…'/></source>", file, hd)
            mdevs.append((addr.attrs["uuid"].lower(), hd))
    if len(mdevs) > 1:
        raise _fail("QEMU takes one vfio-ap device per guest; this domain has "
                    f"{len(mdevs)}", file, mdevs[1][1])
    names = {v: k for k, v in CPU_FEATURES.items()}
    cpu: dict[str, bool] = {}
    cpu_el = root.find("cpu")
    for f in cpu_el.findall("feature") if cpu_el is not None else []:
        key = names.get(f.attrs.get("name", ""))
        if key is None:
            continue  # not an AP feature
        policy = f.attrs.get("policy", "require")
        if policy not in ("require", "force", "disable", "forbid", "optional"):
            raise _fail(f"feature policy {policy!r} is not a libvirt policy", file, f)
        cpu[key] = policy in ("require", "force", "optional")
    vcpu = root.find("vcpu")
    vcpus = int(vcpu.text) if vcpu is not None and vcpu.text.isdigit() else None
    return DomainInfo(name.text, mdevs[0][0] if mdevs else None, cpu, vcpus, f"{file}:{root.line}")
