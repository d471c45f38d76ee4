"""Output paths checked before a run starts, so a bad one fails in milliseconds, not after the run.

Each check is the operation the writer will do, tried without leaving anything
behind: an existing file is opened for writing without truncation, a new one is
created and removed, a folder is created (as the writers do) and a probe file is
created in it and removed. ``/proc/version``, a read-only folder, a path under a
regular file, or a folder given where a file is meant all fail here with the path
and the reason.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from apsim.errors import ApsimError

__all__ = ["OutputPathError", "check_output_file", "check_output_dir"]


class OutputPathError(ApsimError):
    """An output path the report writers could not write; the message names option and path."""


def check_output_file(option: str, path: str | Path) -> None:
    """Refuse *path* unless a report file can be written there (creating its folders)."""
    p = Path(path)
    try:
        if p.is_dir():
            raise OutputPathError(f"{option} {p}: is a directory (give a file name)")
        if p.exists():
            if not p.is_file():
                raise OutputPathError(f"{option} {p}: not a regular file")
            _not_pseudo(option, p)
            fd = os.open(p, os.O_WRONLY | os.O_APPEND)  # no truncation: the run may still fail
            os.close(fd)
            return
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.close(fd)
        os.unlink(p)
    except OSError as e:
        raise OutputPathError(f"{option} {p}: cannot write: {e.strerror or e}") from None


def _not_pseudo(option: str, p: Path) -> None:
    # procfs and sysfs files may open for writing (as root) and refuse only the write
    # itself, so they are refused by where they live.
    if os.path.realpath(p).startswith(_PSEUDO):
        raise OutputPathError(f"{option} {p}: a kernel pseudo-file, not a place for a report")


_PSEUDO = ("/proc/", "/sys/", "/dev/")


def check_output_dir(option: str, path: str | Path) -> None:
    """Refuse *path* unless it is (or can be made) a folder the writers can fill."""
    p = Path(path)
    try:
        if p.exists() and not p.is_dir():
            raise OutputPathError(f"{option} {p}: not a directory")
        _not_pseudo(option, p)
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=p, prefix=".apsim-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputPathError(f"{option} {p}: cannot write: {e.strerror or e}") from None
