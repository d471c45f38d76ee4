"""Exceptions a user of apsim can meet.

Errors a user can cause carry a message that names the file, line or path and the
rule that was broken; the command line turns them into exit code 2 (bad input) and
never shows a traceback for them.
"""

from __future__ import annotations

import errno as _errno


class ApsimError(Exception):
    """Base class of every error apsim raises on purpose."""


class ConfigError(ApsimError):
    """A machine, host or guest configuration that cannot be built."""


class ScenarioError(ApsimError):
    """A scenario file that cannot be loaded; the message is ``file:line: key: rule``."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        self.file = file
        self.line = line
        self.key = key
        self.rule = message
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        if key:
            where += f"{key}: "
        super().__init__(where + message)


class SysfsError(ApsimError, OSError):
    """A rejected read or write of the virtual sysfs.

    ``.errno`` is the kernel's errno (``errno.EBUSY``, ...); the message names the
    path and the rule.
    """

    def __init__(self, err: int, path: str, rule: str) -> None:
        OSError.__init__(self, err, f"{path}: {_errno.errorcode.get(err, err)}: {rule}")
        self.path = path
        self.rule = rule

    def __str__(self) -> str:  # OSError's default adds "[Errno n]"; keep the name instead
        return f"{self.path}: {_errno.errorcode.get(self.errno, self.errno)}: {self.rule}"

    @property
    def errno_name(self) -> str:
        """Symbolic errno name such as ``EBUSY``."""
        return _errno.errorcode.get(self.errno or 0, str(self.errno))


class ProgramException(ApsimError):
    """A program interruption raised by an instruction (operation, specification, ...).

    ``kind`` is one of ``operation`` (0x0001), ``privileged-operation`` (0x0002),
    ``addressing`` (0x0005) or ``specification`` (0x0006); ``code`` is the
    program-interruption code.
    """

    CODES = {"operation": 0x0001, "privileged-operation": 0x0002, "addressing": 0x0005,
             "specification": 0x0006}

    def __init__(self, kind: str, reason: str) -> None:
        if kind not in self.CODES:
            raise ValueError(f"unknown program exception {kind!r}")
        self.kind = kind
        self.code = self.CODES[kind]
        self.reason = reason
        super().__init__(f"{kind} exception (0x{self.code:04x}): {reason}")


class AccountingError(ApsimError):
    """Request accounting did not balance: a request was lost without a cause."""


class ValidityIntercept(ApsimError):
    """A vSIE validity intercept (0x0022, 0x0035, 0x0039, 0x003C) refusing a guest-3 entry."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"validity intercept 0x{code:04x}: {reason}")
