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

from apsim.errors import ApsimError, SysfsError
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


# --- the other views: -b, -d, -c, -s --------------------------------------------------------
class LszcryptError(ApsimError):
    """What lszcrypt prints to stderr before it exits with status 1 (``lszcrypt: …``)."""


_NO_DRIVER = "Crypto device driver not available."


def _need_bus(fs: Sysfs) -> None:
    if not fs.exists("/sys/bus/ap"):
        raise LszcryptError(f"lszcrypt: {_NO_DRIVER}")


def render_bus(host: Host) -> str:
    """``lszcrypt -b``: the AP bus attributes."""
    fs = host.sysfs
    _need_bus(fs)
    out = []
    features = _read(fs, "/sys/bus/ap/features")
    if features:
        out.append(f"features: {features}")
    out.append(f"ap_domain=0x{(_read_int(fs, '/sys/bus/ap/ap_domain') or 0) & 0xFFFFFFFFFFFFFFFF:x}")
    out.append(f"ap_max_domain_id=0x{_read_int(fs, '/sys/bus/ap/ap_max_domain_id') or 0:x}")
    if fs.exists("/sys/bus/ap/ap_interrupts"):
        irq = _read_int(fs, "/sys/bus/ap/ap_interrupts") == 1
        out.append(f"ap_interrupts are {'enabled' if irq else 'disabled'}")
    out.append(f"config_time={_read_int(fs, '/sys/bus/ap/config_time') or 0} (seconds)")
    out.append(f"poll_thread is {'enabled' if _read_int(fs, '/sys/bus/ap/poll_thread') == 1 else 'disabled'}")
    if fs.exists("/sys/bus/ap/poll_timeout"):
        out.append(f"poll_timeout={_read_int(fs, '/sys/bus/ap/poll_timeout') or 0} (nanoseconds)")
    return "\n".join(out) + "\n"


def render_domains(host: Host) -> str:
    """``lszcrypt -d``: the 256 domains as C (control), U (usage), B (both) or ``.``."""
    fs = host.sysfs
    _need_bus(fs)
    ctrl = _read(fs, "/sys/bus/ap/ap_control_domain_mask") or ""
    usage = _read(fs, "/sys/bus/ap/ap_usage_domain_mask") or ""
    if "not" in ctrl:
        raise LszcryptError("lszcrypt: Control domain mask not available.")
    if "not" in usage:
        raise LszcryptError("lszcrypt: Usage domain mask not available.")
    cm, um = Mask.from_hex(ctrl), Mask.from_hex(usage)
    cols = [("domain", "DOMAIN", 6, "r")] + [(f"{i:02x}", f"{i:02x}", 2, "r") for i in range(16)]
    rec = _Rec(cols)
    out = [rec.header()]
    for row in range(16):
        values = {"domain": f"{row * 16:02x}"}
        for x in range(16):
            d = row * 16 + x
            values[f"{x:02x}"] = ("B" if d in cm and d in um else "C" if d in cm
                                  else "U" if d in um else ".")
        out.append(rec.row(values))
    out.append("-" * 54 + "\nC: Control domain\nU: Usage domain\nB: Both (Control + Usage domain)\n")
    return "".join(out)


_CAP_RSA2K, _CAP_RSA4K, _CAP_CCA = "RSA 2K Clear Key", "RSA 4K Clear Key", "CCA Secure Key"
_CAP_RNG, _CAP_EP11 = "Long RNG", "EP11 Secure Key"
_CAP_HSL = "Hardware support for stateless filtering"
_MASK_RSA4K, _MASK_HSL, _CLASS_FULL, _CLASS_STATELESS = 0x60000000, 0x01000000, 0x00800000, 0x00400000


def render_capability(host: Host, device: str) -> str:
    """``lszcrypt -c CARD`` (what the card can do) or ``-c CARD.DOM`` (the queue's SE state)."""
    fs = host.sysfs
    _need_bus(fs)
    m = re.fullmatch(r"([0-9a-fA-F]+)\.([0-9a-fA-F]+)", device)
    if m:
        return _queue_capability(fs, int(m.group(1), 16), int(m.group(2), 16))
    try:
        apid = int(device, 0)
    except ValueError:
        apid = -1
    if not 0 <= apid <= 255:
        raise LszcryptError(f"lszcrypt: Error - '{device}' is an invalid cryptographic device id.")
    return _card_capability(fs, apid)


def _card_capability(fs: Sysfs, apid: int) -> str:
    card = f"card{apid:02x}"
    dev = f"{DEVICES}/{card}"
    if not fs.is_dir(dev):
        raise LszcryptError(f"lszcrypt: Error - cryptographic device {card} does not exist.")
    hwtype = _read_int(fs, f"{dev}/hwtype") or 0
    func = _read_int(fs, f"{dev}/ap_functions", 16) or 0
    max_msg = _read_int(fs, f"{dev}/max_msg_size") or 0
    unavailable = f"Detailed capability information for {card} (hardware type {hwtype}) is not available.\n"
    if _read(fs, f"{dev}/type") is None or _read(fs, f"{dev}/online") is None:
        return unavailable
    cls = "full function set" if func & _CLASS_FULL else "restricted function set" \
        if func & _CLASS_STATELESS else ""
    cca = f"{_CAP_CCA} ({cls})" if cls else _CAP_CCA
    lines = [f"{card} provides capability for:"]
    if 10 <= hwtype <= 14:
        if func & MASK_ACCEL:
            lines.append(_CAP_RSA4K if func & _MASK_RSA4K else _CAP_RSA2K)
        elif func & MASK_COPRO:
            lines += [_CAP_RSA4K, cca] + ([_CAP_HSL] if func & _MASK_HSL else []) + [_CAP_RNG]
        elif func & MASK_EP11:
            lines.append(_CAP_EP11)
        else:
            lines.append(unavailable.rstrip("\n"))
        if max_msg > 0:
            lines.append(f"AP bus max message size limit {max_msg // 1024} Kb")
    else:
        return unavailable
    return "\n".join(lines) + "\n"


def _queue_capability(fs: Sysfs, apid: int, apqi: int) -> str:
    q = f"{apid:02x}.{apqi:04x}"
    dev = f"{DEVICES}/card{apid:02x}/{q}"
    if not fs.is_dir(dev):
        raise LszcryptError(f"lszcrypt: Error - cryptographic queue device {q} does not exist.")
    lines = [f"queue {q} capabilities:"]
    for attr, what in (("se_bind", "SE bind state"), ("se_associate", "SE association state")):
        if fs.exists(f"{dev}/{attr}"):
            lines.append(f"{what}: {_read(fs, f'{dev}/{attr}') or 'error'}")
    return "\n".join(lines) + "\n"


def render_serial(host: Host) -> str:
    """``lszcrypt -s``: CCA and EP11 cards with the first 8 characters of their ``serialnr``
    (``-`` when it is missing or empty, as the tool's line reader fails on both)."""
    fs = host.sysfs
    _need_bus(fs)
    try:
        cards = sorted(n for n in fs.listdir(DEVICES) if _CARD_RE.match(n))
    except SysfsError:
        cards = []
    if not cards:
        raise LszcryptError("lszcrypt: No crypto card devices found.")
    rec = _Rec([("card", "CARD.DOM", 8, "l"), ("type", "TYPE", 5, "l"), ("mode", "MODE", 11, "l"),
                ("status", "STATUS", 10, "l"), ("serialnr", "SERIALNR", 8, "l")])
    out = [rec.header()]
    for card in cards:
        cpath = f"{DEVICES}/{card}"
        ctype = _read(fs, f"{cpath}/type")
        if ctype is None or _read(fs, f"{cpath}/online") is None:
            continue
        func = _read_int(fs, f"{cpath}/ap_functions", 16) or 0
        if not func & (MASK_COPRO | MASK_EP11):
            continue
        serial = _read(fs, f"{cpath}/serialnr")
        out.append(rec.row({"card": card[4:], "type": ctype, "mode": _mode(func),
                            "status": _status(fs, cpath, queue=False),
                            "serialnr": serial[:8] if serial else "-"}))  # empty line: util_file_read_line fails
    return "".join(out)
