"""A scenario's host configuration in the ecosystem's formats (``apsim export``).

The scenario layer turns its own data into the interop layer's records and lets
that layer render them: mdevctl definitions (every host-level mdev; one created
through sysfs at start becomes an ``auto`` definition, since mdevctl would create
it at boot), chzdev's rule file (the host's masks as the AP bus would hold them
after the scenario's writes), libvirt node-device and domain XML, QEMU arguments.
Each writer returns the files it wrote, under real paths below the output folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from apsim.errors import ScenarioError
from apsim.interop import cex_plugin, chzdev, libvirt, mdevctl, qemu
from apsim.linux.maskparse import parse_mask
from apsim.linux.mdevctl import Definition
from apsim.masks import Mask
from apsim.scenario.schema import GuestSpec, Scenario

__all__ = ["definitions", "host_masks", "EXPORTERS", "export"]


def definitions(sc: Scenario) -> list[Definition]:
    """The host's mdevs as mdevctl definitions, in scenario order."""
    return [Definition(uuid=m.uuid, start=m.start or "auto",
                       attrs=tuple((k, v.strip()) for k, v in m.writes())) for m in sc.mdevs]


def host_masks(sc: Scenario) -> tuple[Mask | None, Mask | None]:
    """The host's apmask and aqmask after the scenario's writes (None: left at the default)."""
    out = []
    for text in (sc.host.apmask, sc.host.aqmask):
        out.append(None if text is None else parse_mask(text, Mask.full()))
    return out[0], out[1]


def _write(out: Path, rel: str, text: str) -> Path:
    p = out / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def export_mdevctl(sc: Scenario, out: Path) -> list[Path]:
    """``etc/mdevctl.d/matrix/<uuid>`` files and ``mdevctl-list-defined.json`` (``list -d --dumpjson``)."""
    defs = definitions(sc)
    files = [_write(out, mdevctl.definition_path(d.uuid), mdevctl.render_definition(d)) for d in defs]
    files.append(_write(out, "mdevctl-list-defined.json", mdevctl.render_dumpjson(defs)))
    return files


def export_chzdev(sc: Scenario, out: Path) -> list[Path]:
    """``etc/udev/rules.d/41-ap.rules`` with the host's masks."""
    text = chzdev.render_rules(*host_masks(sc))
    if not text:
        raise ScenarioError("the scenario sets neither host.apmask nor host.aqmask: chzdev would "
                            "write no rule file", file=sc.source)
    return [_write(out, chzdev.RULES_PATH, text)]


def _cpu(g: GuestSpec) -> dict[str, bool]:
    return {k: getattr(g.cpu, k) for k in libvirt.CPU_FEATURES}


def export_libvirt(sc: Scenario, out: Path) -> list[Path]:
    """Node devices as libvirt lists them at boot (``nodedev/``) and a domain per guest (``domain/``).

    The host is built at time 0 so that the cards, queues and mdevs are the ones its
    AP bus and vfio_ap show; guests are the host's own (nested guests belong to their
    host's libvirt).
    """
    from apsim.scenario.build import build

    sim = build(sc)
    fs = sim.host.sysfs
    files = []
    for card in sorted(fs.listdir("/sys/devices/ap")) if fs.is_dir("/sys/devices/ap") else []:
        if not card.startswith("card"):
            continue
        apid = int(card[4:], 16)
        files.append(_write(out, f"nodedev/ap_card{apid:02x}.xml", libvirt.render_ap_card(apid)))
        for q in sorted(fs.listdir(f"/sys/devices/ap/{card}")):
            if "." in q:
                a, d = (int(x, 16) for x in q.split("."))
                files.append(_write(out, f"nodedev/ap_{a:02x}_{d:04x}.xml", libvirt.render_ap_queue(a, d)))
    types = "/sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough"
    if fs.exists(f"{types}/available_instances"):
        available = int(fs.read(f"{types}/available_instances"))
        files.append(_write(out, "nodedev/ap_matrix.xml", libvirt.render_ap_matrix(available)))
    for d in definitions(sc):
        active = fs.exists(f"/sys/devices/vfio_ap/matrix/{d.uuid}")
        files.append(_write(out, f"nodedev/{libvirt.mdev_name(d.uuid)}.xml",
                            libvirt.render_mdev(d.uuid, list(d.attrs), active=active)))
    for g in sc.guests:
        files.append(_write(out, f"domain/{g.name}.xml",
                            libvirt.render_domain(g.name, vcpus=g.vcpus, mdev=g.mdev, cpu=_cpu(g))))
    return files


def export_qemu(sc: Scenario, out: Path) -> list[Path]:
    """``qemu/<guest>.args``: each host guest's machine, CPU model and vfio-ap arguments."""
    return [_write(out, f"qemu/{g.name}.args",
                   qemu.render_args(qemu.qemu_args(mdev=g.mdev, cpu=_cpu(g)))) for g in sc.guests]


def export_cex_plugin(sc: Scenario, out: Path) -> list[Path]:
    """``cex_resources.json``: the k8s CEX plugin's ConfigMap data."""
    if sc.cex_plugin is None:
        raise ScenarioError("the scenario has no cex_plugin: there is no ConfigMap to write", file=sc.source)
    return [_write(out, cex_plugin.CONFIGMAP_NAME, cex_plugin.render_configmap(sc.cex_plugin.sets()))]


EXPORTERS: dict[str, Callable[[Scenario, Path], list[Path]]] = {
    "mdevctl": export_mdevctl,
    "chzdev": export_chzdev,
    "libvirt": export_libvirt,
    "qemu": export_qemu,
    "cex-plugin": export_cex_plugin,
}
"""Format name -> writer."""


def export(fmt: str, sc: Scenario, out: Path) -> list[Path]:
    """Write *sc* in format *fmt* below the folder *out*; the files written."""
    return EXPORTERS[fmt](sc, out)
