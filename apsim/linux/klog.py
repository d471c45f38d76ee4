"""The kernel log of one virtual Linux (what ``dmesg`` prints).

Each entry has the simulated time, a printk level and the text the kernel would
print, already prefixed the way the kernel prefixes it (``ap: `` for the AP bus's
``pr_*`` calls, ``vfio_ap_mdev <uuid>: `` for ``dev_warn`` on an mdev, ...).
:meth:`KernelLog.lines` renders them like ``dmesg``: ``[    1.234567] text``.

Messages the kernel writes only to the s390 debug feature (``AP_DBF_*``,
``VFIO_AP_DBF_*``) are kept with level ``dbf``; they are not part of ``dmesg``
and :meth:`lines` leaves them out unless asked.
"""

from __future__ import annotations

from dataclasses import dataclass

import simpy

LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", "dbf")


@dataclass(frozen=True)
class LogEntry:
    """One kernel log record."""

    time_ns: int
    level: str
    text: str

    def render(self) -> str:
        """As dmesg prints it: ``[sssss.uuuuuu] text`` (seconds, microseconds)."""
        us = self.time_ns // 1000
        return f"[{us // 1_000_000:5d}.{us % 1_000_000:06d}] {self.text}"


class KernelLog:
    """A time-stamped kernel message buffer with rate limiting like printk's."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.entries: list[LogEntry] = []
        self._ratelimit: dict[str, list[int]] = {}

    def log(self, level: str, text: str) -> None:
        """Append a message at *level* (one of :data:`LEVELS`)."""
        if level not in LEVELS:
            raise ValueError(f"unknown printk level {level!r}")
        self.entries.append(LogEntry(int(self.env.now), level, text.rstrip("\n")))

    def err(self, text: str) -> None:
        """``pr_err``."""
        self.log("err", text)

    def warn(self, text: str) -> None:
        """``pr_warn`` / ``dev_warn`` / ``WARN``."""
        self.log("warning", text)

    def notice(self, text: str) -> None:
        """``pr_notice`` / ``dev_notice``."""
        self.log("notice", text)

    def info(self, text: str) -> None:
        """``pr_info``."""
        self.log("info", text)

    def dbf(self, text: str) -> None:
        """A debug-feature record (not shown by dmesg)."""
        self.log("dbf", text)

    def ratelimited(self, key: str, level: str, text: str, *, burst: int = 10,
                    interval_ns: int = 5_000_000_000) -> bool:
        """``printk_ratelimited``: at most *burst* messages per *interval_ns* per call site."""
        now = int(self.env.now)
        stamps = [t for t in self._ratelimit.get(key, []) if now - t < interval_ns]
        if len(stamps) >= burst:
            self._ratelimit[key] = stamps
            return False
        stamps.append(now)
        self._ratelimit[key] = stamps
        self.log(level, text)
        return True

    # --- reading -------------------------------------------------------------------------
    def lines(self, *, include_dbf: bool = False) -> list[str]:
        """The log as ``dmesg`` prints it, oldest first."""
        return [e.render() for e in self.entries if include_dbf or e.level != "dbf"]

    def messages(self, *, include_dbf: bool = False) -> list[str]:
        """The message texts without time stamps."""
        return [e.text for e in self.entries if include_dbf or e.level != "dbf"]

    def grep(self, needle: str, *, include_dbf: bool = False) -> list[str]:
        """Message texts containing *needle*."""
        return [m for m in self.messages(include_dbf=include_dbf) if needle in m]

    def clear(self) -> None:
        """``dmesg -C``."""
        self.entries.clear()

    def __len__(self) -> int:
        return sum(1 for e in self.entries if e.level != "dbf")
