"""``lszcrypt`` of s390-tools (current layout), rendered from a Linux's virtual sysfs.

Follows s390-tools' zconf/zcrypt/lszcrypt.c as restated in
shared/reference/ecosystem-formats.md. Like the tool, it only reads sysfs:

* columns CARD.DOM (left, 8), TYPE (left, 5), MODE (left, 11), STATUS (left, 10),
  REQUESTS (right, 8); with ``-V`` also PENDING (right, 8), HWTYPE (right, 6),
  QDEPTH (right, 6, ``depth + 1`` as ``%02d``), FUNCTIONS (left, 10), DRIVER (left,
  11), and SESTAT (left, 11) when the bus features include APSB; fields are
  separated by one space, the header is underlined with ``-`` over its full width;
* cards in name order, each followed by its queues; without ``-V`` cards and
  queues lacking a readable ``type`` (on the card) or ``online`` are skipped, so
  queues bound to vfio_ap appear only with ``-V``;
* STATUS: ``deconfig`` (config 0), ``chkstop``, ``online``, ``offline``; without an
  ``online`` attribute a queue shows its driver's ``status`` (vfio_ap: ``in use``,
  ``assigned``, ``unassigned``) and a card ``-``;
* after the list the warning ``Warning: Default domain 0x%02lx is not available.``
  when ``ap_domain`` is negative (printed as an unsigned long) or not in
  ``ap_usage_domain_mask``.

With no card device the tool fails with ``No crypto card devices found.``; that
line (prefixed ``lszcrypt: ``) is what :func:`render` returns then.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from apsim.errors import SysfsError
from apsim.masks import Mask

if TYPE_CHECKING:
    from apsim.linux.host import Host
    from apsim.linux.sysfs import Sysfs

DEVICES = "/sys/devices/ap"
_CARD_RE = re.compile(r"^card[0-9a-fA-F]+$")
_QUEUE_RE = re.compile(r"^..\.....$")

DEFAULT_COLS = (("card", "CARD.DOM", 8, "l"), ("type", "TYPE", 5, "l"), ("mode", "MODE", 11, "l"),
                ("status", "STATUS", 10, "l"), ("requests", "REQUESTS", 8, "r"))
VERBOSE_COLS = (("pending", "PENDING", 8, "r"), ("hwtype", "HWTYPE", 6, "r"), ("depth", "QDEPTH", 6, "r"),
                ("facility", "FUNCTIONS", 10, "l"), ("driver", "DRIVER", 11, "l"))
SESTAT_COL = ("sestat", "SESTAT", 11, "l")

FAC_BITS = ((0x80000000, "S"), (0x40000000, "M"), (0x20000000, "C"), (0x10000000, "D"),
            (0x08000000, "A"), (0x04000000, "X"), (0x02000000, "N"), (0x01000000, "H"),
            (0x00800000, "F"), (0x00400000, "R"))
MASK_COPRO, MASK_ACCEL, MASK_EP11 = 0x10000000, 0x08000000, 0x04000000


def _read(fs: Sysfs, path: str) -> str | None:
    try:
        return fs.read(path).rstrip("\n")
    except SysfsError:
        return None


def _read_int(fs: Sysfs, path: str, base: int = 10) -> int | None:
    text = _read(fs, path)
    if text is None:
        return None
    try:
        return int(text, base)
    except ValueError:
        return None


def _driver(fs: Sysfs, devpath: str) -> tuple[int, str]:
    """(1 cex driver, 2 vfio_ap, 0 none) and the driver's name."""
    target = fs.readlink(f"{devpath}/driver")
    if not target:
        return 0, ""
    name = target.rsplit("/", 1)[-1]
    if re.search(r"cex[0-9](card|queue)", name):
        return 1, name
    if re.search(r"vfio.ap", name):
        return 2, name
    return 0, name


def _mode(functions: int) -> str:
    if functions & MASK_COPRO:
        return "CCA-Coproc"
    if functions & MASK_ACCEL:
        return "Accelerator"
    if functions & MASK_EP11:
        return "EP11-Coproc"
    return "Unknown"


def _facility(functions: int) -> str:
    return "".join(c if functions & m else "-" for m, c in FAC_BITS)


class _Rec:
    """s390-tools' util_rec in "wide" mode."""

    def __init__(self, cols: list[tuple[str, str, int, str]]) -> None:
        self.cols = cols

    def _fmt(self, values: dict[str, str]) -> str:
        out = []
        for key, _hdr, width, align in self.cols:
            v = values.get(key, "")
            out.append(v.ljust(width) if align == "l" else v.rjust(width))
        return " ".join(out)

    def header(self) -> str:
        line = self._fmt({k: h for k, h, _w, _a in self.cols})
        return line + "\n" + "-" * len(line) + "\n"

    def row(self, values: dict[str, str]) -> str:
        return self._fmt(values) + "\n"


def _status(fs: Sysfs, devpath: str, *, queue: bool) -> str:
    config = _read_int(fs, f"{devpath}/config")
    chkstop = _read_int(fs, f"{devpath}/chkstop")
    online = _read_int(fs, f"{devpath}/online")
    if config == 0:
        return "deconfig"
    if chkstop is not None and chkstop > 0:
        return "chkstop"
    if online is not None:
        return "online" if online > 0 else "offline"
    if queue:
        return _read(fs, f"{devpath}/status") or "-"
    return "-"


def _sestat(fs: Sysfs, qpath: str) -> str:
    text = _read(fs, f"{qpath}/ap_functions")
    if text is None:
        return "error"
    try:
        fac = int(text, 16)
    except ValueError:
        return "error"
    if fac == 0:
        return "invalid"
    return ("usable", "bound", "unbound", "illicit")[(fac >> 14) & 0x3]


def render(host: Host, verbose: bool = False) -> str:
    """The output of ``lszcrypt`` (or ``lszcrypt -V``) on *host*."""
    fs = host.sysfs
    if not fs.exists("/sys/bus/ap"):
        return "lszcrypt: Crypto device driver not available.\n"
    try:
        cards = sorted(n for n in fs.listdir(DEVICES) if _CARD_RE.match(n))
    except SysfsError:
        cards = []
    if not cards:
        return "lszcrypt: No crypto card devices found.\n"
    cols = list(DEFAULT_COLS)
    sestat = False
    if verbose:
        cols += VERBOSE_COLS
        features = (_read(fs, "/sys/bus/ap/features") or "").split()
        if "APSB" in features:
            cols.append(SESTAT_COL)
            sestat = True
    rec = _Rec(cols)
    out = [rec.header()]
    for card in cards:
        cpath = f"{DEVICES}/{card}"
        has_type = _read(fs, f"{cpath}/type") is not None
        if not verbose and (not has_type or _read(fs, f"{cpath}/online") is None):
            continue
        out.append(rec.row(_card_values(fs, cpath, card[4:], verbose, sestat)))
        queues = sorted(n for n in fs.listdir(cpath) if _QUEUE_RE.match(n) and fs.is_dir(f"{cpath}/{n}"))
        for qname in queues:
            qpath = f"{cpath}/{qname}"
            if not verbose and (not has_type or _read(fs, f"{qpath}/online") is None):
                continue
            out.append(rec.row(_queue_values(fs, cpath, qpath, qname, verbose, sestat)))
    out.append(_default_domain_warning(fs))
    return "".join(out)


def _pending(fs: Sysfs, path: str) -> int:
    return (_read_int(fs, f"{path}/pendingq_count") or 0) + (_read_int(fs, f"{path}/requestq_count") or 0)


def _common(fs: Sysfs, cpath: str) -> dict[str, str]:
    functions = _read_int(fs, f"{cpath}/ap_functions", 16) or 0
    return {"type": _read(fs, f"{cpath}/type") or "-", "mode": _mode(functions)}


def _verbose_common(fs: Sysfs, cpath: str) -> dict[str, str]:
    functions = _read_int(fs, f"{cpath}/ap_functions", 16) or 0
    depth = _read_int(fs, f"{cpath}/depth") or 0
    return {"hwtype": _read(fs, f"{cpath}/hwtype") or "", "depth": f"{depth + 1:02d}",
            "facility": _facility(functions)}


def _card_values(fs: Sysfs, cpath: str, cid: str, verbose: bool, sestat: bool) -> dict[str, str]:
    v = {"card": cid, **_common(fs, cpath)}
    v["status"] = _status(fs, cpath, queue=False)
    config = _read_int(fs, f"{cpath}/config")
    v["requests"] = "-" if config == 0 else (_read(fs, f"{cpath}/request_count") or "")
    if verbose:
        if config == 0:
            v["pending"] = "-"
        else:
            v["pending"] = str(_pending(fs, cpath))
        v.update(_verbose_common(fs, cpath))
        kind, name = _driver(fs, cpath)
        v["driver"] = name if kind > 0 else "-no-driver-"
        if sestat:
            v["sestat"] = "-"
    return v


def _queue_values(fs: Sysfs, cpath: str, qpath: str, qname: str, verbose: bool,
                  sestat: bool) -> dict[str, str]:
    v = {"card": qname, **_common(fs, cpath)}
    v["status"] = _status(fs, qpath, queue=True)
    qconfig = _read_int(fs, f"{qpath}/config")
    v["requests"] = "-" if qconfig == 0 else (_read(fs, f"{qpath}/request_count") or "")
    if verbose:
        kind, name = _driver(fs, qpath)
        v["driver"] = name if kind > 0 else "-no-driver-"
        cconfig = _read_int(fs, f"{cpath}/config")
        if cconfig == 0 or kind != 1:
            v["pending"] = "-"
        else:
            v["pending"] = str(_pending(fs, qpath))
        v.update(_verbose_common(fs, cpath))
        if sestat:
            v["sestat"] = _sestat(fs, qpath)
    return v


def _default_domain_warning(fs: Sysfs) -> str:
    dom = _read_int(fs, "/sys/bus/ap/ap_domain")
    if dom is None:
        return ""
    usage = _read(fs, "/sys/bus/ap/ap_usage_domain_mask")
    available = dom >= 0
    if available and usage is not None and usage.startswith("0x"):
        available = dom < 256 and dom in Mask.from_hex(usage)
    if available:
        return ""
    return f"Warning: Default domain 0x{dom & 0xFFFFFFFFFFFFFFFF:02x} is not available.\n"
